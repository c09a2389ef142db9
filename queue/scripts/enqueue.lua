-- enqueue.lua — makes a batch of submitted jobs visible, each all at once,
-- and records each one's Idempotency-Key in the same step.
--
-- No KEYS: every key name is built from the prefix (the ids and queues are
-- only known per job), as claim.lua does; jobq needs one Redis, not Cluster.
-- ARGV[1] the prefix {p}
-- ARGV[2] most ids a queue may hold before a new one: "0" for no limit
-- ARGV[3] most bytes of one piece of input: Redis's proto-max-bulk-len,
--         past which APPEND fails (the API reads it at start)
-- ARGV[4] most bytes of an input kept in the job hash (JOB_CLAIM_INLINE)
-- ARGV[5] bytes of one piece of input (JOB_INPUT_PIECE)
-- ARGV[6..] one group of 18 arguments per job, in submission order:
--   +0  the job id
--   +1  the queue name
--   +2  the bytes of the input staged in the pieces {p}:staging:{id}:{n}
--       (ARGV[5] bytes each, the last shorter), "0" when +3 is all of it
--   +3  the tail of the input (bytes not staged yet)
--   +4  the Idempotency-Key's record {p}:idem:{tenant}:{key}, "" for none
--   +5  the submission's fingerprint (SHA-256 hex), "" without +4
--   +6  seconds the record +4 is kept
--   +7  task, +8 request_id, +9 tenant ("": no field, auth is off),
--   +10 delimiter, +11 header, +12 rows, +13 columns, +14 bytes,
--   +15 created_at, +16 max_attempts, +17 timeout: the job hash's fields
--
-- Returns an array with one answer per job, in the same order: 1 when the
-- job is queued; 0 when its staging pieces hold fewer bytes than +2 says
-- (one expired: the upload took longer than the staging TTL); 2 when its
-- queue is full (it holds ARGV[2] > 0 ids, counting the jobs of this batch
-- queued before it);
-- {3, id} when its record +4 names job id, which still exists (or is an
-- earlier job of this batch that was queued), with the same fingerprint
-- (a replay), and {4, id} when with another one (a mismatch); 5 when its
-- id is taken (its hash or an input piece exists); 6 when a piece of its
-- input (staged bytes plus tail) would be longer than ARGV[3], or Redis
-- refused to make it that long; {7, why} when its queue's list or wake
-- list is a key of another type (put there by hand), why saying which
-- ("<key> is a string, not a list"). On anything but 1 nothing of that job
-- was written, and its staging pieces are left as they were: the API
-- deletes them one command at a time (job_store_discard_staging), because
-- one script freeing a whole large upload would hold Redis as long as one
-- command freeing one large string did (README, Performance).
--
-- Each job is answered exactly as if it were its own call, in order: a
-- later job sees the record and the queue depth of an earlier one that was
-- queued, and only of one that was. So a queue key of the wrong type fails
-- the jobs of that queue only: the batch holds other tenants' submissions
-- to other queues, which it must not take down with it.
--
-- An error reply writes nothing. The script runs in two passes. The first
-- only reads: each job's record (and whether the job it names exists), its
-- staging pieces' lengths, the depth of its queue, and the type of every key
-- the second pass may write ({p}:queues, each queue and its wake list; a
-- record or staging piece of another type fails its read). A queue's key
-- of the wrong type answers that queue's jobs 7; {p}:queues of the wrong
-- type, or a record or staging piece of another type, answers the whole
-- batch with an error reply naming it, "WRONGTYPE ... enqueue: <key> ...",
-- before any write.
-- The second pass takes the jobs in order, and answers each from what the
-- first pass read and what the jobs before it queued, then writes it (its
-- hash and input) when it is to be queued; only then does it count in its
-- queue's depth and as its key's job. What a write alone can tell (a taken
-- id; an APPEND that a lowered proto-max-bulk-len refuses) thus answers
-- that job and no other. The queue entries follow, then the records: so
-- even a write failing against all odds leaves no record naming a job that
-- was not queued.
--
-- Transition, per job: (nothing) -> queued. Its input, hash, queue entry
-- and Idempotency-Key record appear together (the script is atomic) or not
-- at all. A record whose job has expired or been deleted counts as absent
-- and is replaced.
--
-- Where the input goes. An input that came whole (not staged) of at most
-- ARGV[4] bytes is the field "input" of the job hash: no key of its own, so
-- no SET here, no GET at the claim and no EXPIRE when the job ends. A
-- staged or longer input is the pieces {p}:job:{id}:input:{n} of ARGV[5]
-- bytes (the staging pieces renamed, the tail appended to the last one or
-- set as new ones), and the hash says input_key = 1 and input_pieces =
-- their count (lib/input.lua). No command here copies or frees more than
-- one piece.
--
-- Cost. The per-job work is each staging piece's STRLEN (when staged), the
-- hash (HSETNX of its status, then one HSET of the rest: 11 fields, the
-- input or input_key and input_pieces, and the delimiter and tenant when
-- they are not the readers' default; see write_hash) and a large input
-- (SET, or per staging piece RENAMENX and PERSIST, and the tail's APPEND
-- or SET), plus the record (HMGET, HSET, EXPIRE) for keyed jobs. The
-- queue-wide work is done once per queue per batch: LLEN (with a limit,
-- else TYPE) and TYPE of its wake list, one LPUSH of all the ids (LPUSH a
-- b pushes a then b, so the order is that of single pushes), SADD of the
-- name, and the wake-up tokens; and one TYPE of {p}:queues per batch.
--
-- The id guard. Ids are 128 random bits, so a taken id is a bug, not bad
-- luck; but it must never overwrite the job that has it. The job's first
-- write is HSETNX of the hash's status field: every job hash has one, so
-- it fails on any taken id, whatever its input's layout, before anything
-- of the job is written. A large input is then written with SET NX
-- (RENAMENX when staged); if that fails (an input piece without a hash: a
-- bug too) the pieces moved are moved back, the one field just written is
-- deleted again and the answer is 5.

--@include wake.lua

local STRIDE = 18
local FIRST = 6
local prefix = ARGV[1]
local max_depth = tonumber(ARGV[2])
local max_bytes = tonumber(ARGV[3])
local max_inline = tonumber(ARGV[4])
local piece = tonumber(ARGV[5])
if (#ARGV - FIRST + 1) % STRIDE ~= 0 or max_bytes == nil or max_inline == nil or
   piece == nil or piece < 1 then
  return redis.error_reply('ERR enqueue: arguments are not groups of ' .. STRIDE)
end

-- What the first pass read, kept for the second.
local known = {}    -- record key -> {id, fingerprint} when it names a live job, else false
local staged = {}   -- job index -> its staged bytes, false when a piece is gone
local depth = {}    -- queue name -> ids it holds, this batch's queued ones included
local wrong = nil   -- {p}:queues when it is of the wrong type: why
local bad = {}      -- queue name -> why its list or wake list cannot be written
-- What the second pass queued.
local pushed = {}   -- queue name -> ids queued, in order
local order = {}    -- queue names in order of first push
local records = {}  -- record key -> {id, fingerprint} of this batch's queued job

-- read runs a reading command on key, and fails the call naming key when
-- Redis refuses it (a key of the wrong type). Nothing is written yet.
local function read(key, ...)
  local r = redis.pcall(...)
  if type(r) == 'table' and r.err then
    error({err = r.err .. ' (enqueue: ' .. key .. '; nothing was written)'})
  end
  return r
end

-- type_problem answers why key cannot be written as a want, or nil when
-- it is absent or of that type.
local function type_problem(key, want)
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= want then
    return key .. ' is a ' .. t .. ', not a ' .. want
  end
  return nil
end

-- look_record reads record key once: known[key] is {id, fingerprint} when
-- it names a job that still exists, else false.
local function look_record(key)
  if known[key] == nil then
    local rec = read(key, 'HMGET', key, 'job', 'hash')
    known[key] = false
    if rec[1] and redis.call('EXISTS', prefix .. ':job:' .. rec[1]) == 1 then
      known[key] = {rec[1], rec[2]}
    end
  end
  return known[key]
end

-- pieces_of answers how many pieces hold n bytes.
local function pieces_of(n)
  return math.floor((n + piece - 1) / piece)
end

-- staged_of answers the bytes the job at o staged (0: none).
local function staged_of(o)
  return tonumber(ARGV[o + 2]) or 0
end

-- staging_piece answers the name of staging piece n of the job at o.
local function staging_piece(o, n)
  return prefix .. ':staging:' .. ARGV[o] .. ':' .. n
end

-- look_staging answers the bytes staged by the job at o, false when its
-- pieces hold fewer than the API staged (one expired: the first does
-- first, having been written first).
local function look_staging(o)
  local want, have = staged_of(o), 0
  for n = 0, pieces_of(want) - 1 do
    local key = staging_piece(o, n)
    have = have + read(key, 'STRLEN', key)
  end
  return have == want and have
end

-- look_queue reads queue q's depth and checks the types of q's keys, once:
-- bad[q] says why when one of them is of another type.
local function look_queue(q)
  if depth[q] ~= nil then
    return
  end
  local key = prefix .. ':queue:' .. q
  depth[q] = 0
  if max_depth > 0 then
    local n = redis.pcall('LLEN', key)
    if type(n) == 'number' then
      depth[q] = n
    else
      bad[q] = type_problem(key, 'list')
      if not bad[q] then
        error(n) -- not a type: raised as it came
      end
    end
  else
    bad[q] = type_problem(key, 'list')
  end
  bad[q] = bad[q] or type_problem(prefix .. ':wake:' .. q, 'list')
end

-- input_answer answers 1 when the input of job i at o can be written, 0
-- when a staging piece is gone, 6 when a piece would be longer than
-- max_bytes (pieces fill in order: the longest is the first).
local function input_answer(i, o)
  local len = 0
  if staged_of(o) > 0 then
    len = staged[i]
    if not len then
      return 0
    end
  end
  return math.min(piece, len + #ARGV[o + 3]) > max_bytes and 6 or 1
end

-- look reads what job i at o needs (pass 1), and answers whether it may
-- be queued: not when its record names a live job, its input cannot be
-- written or its queue's keys are of the wrong type, which nothing the
-- batch writes can change.
local function look(i, o)
  if ARGV[o + 4] ~= '' and look_record(ARGV[o + 4]) then
    return false
  end
  if staged_of(o) > 0 then
    staged[i] = look_staging(o)
  end
  if input_answer(i, o) ~= 1 then
    return false
  end
  look_queue(ARGV[o + 1])
  return not bad[ARGV[o + 1]]
end

-- unstage moves the first k input pieces (input .. ':' .. n) of the job
-- at o back to its staging pieces, which still have their TTL.
local function unstage(o, input, k)
  for n = 0, k - 1 do
    redis.call('RENAME', input .. ':' .. n, staging_piece(o, n))
  end
end

-- write_tail writes the tail of the job at o into the pieces of input from
-- byte pos of the input on: APPEND to a piece begun, SET NX of a new one
-- (its name added to made). A tail of one piece (every tail the API sends:
-- at most its 256 KiB buffer, which divides a piece) is written as it
-- came, not copied. Returns true; false when a SET NX found the piece
-- taken; or the error reply Redis gave.
local function write_tail(o, input, pos, made)
  local tail, from = ARGV[o + 3], 1
  while from <= #tail do
    local at = pos % piece
    local n = (pos - at) / piece
    local len = math.min(piece - at, #tail - from + 1)
    local chunk = tail
    if len < #tail then
      chunk = string.sub(tail, from, from + len - 1)
    end
    local key, r = input .. ':' .. n, nil
    if at == 0 then
      r = redis.pcall('SET', key, chunk, 'NX')
      if r and not r.err then made[#made + 1] = key end
    else
      r = redis.pcall('APPEND', key, chunk)
    end
    if type(r) == 'table' and r.err then return r end
    if not r then return false end
    from, pos = from + len, pos + len
  end
  return true
end

-- write_input creates the input pieces of a job whose input is not
-- inlined: the staging pieces renamed, then the tail. Returns 1 and the
-- count of pieces; or 5 (id taken) or 6 (too large) with nothing of the
-- input written (the staging pieces back where they were). The first pass
-- already refused a staged input over max_bytes, but that is the limit
-- jobq-api read at its start: a Redis whose proto-max-bulk-len was lowered
-- since refuses the tail's APPEND here, mid-batch, after earlier jobs were
-- written. Caught, that refusal costs only this job, never the batch. Any
-- other error is raised again as it came (write_job takes the job's guard
-- field back first).
local function write_input(o, input)
  local bytes, made = staged_of(o), {}
  local k = pieces_of(bytes)
  for n = 0, k - 1 do
    if redis.call('RENAMENX', staging_piece(o, n), input .. ':' .. n) == 0 then
      unstage(o, input, n)
      return 5
    end
  end
  local r = write_tail(o, input, bytes, made)
  if r ~= true then
    if #made > 0 then redis.call('DEL', unpack(made)) end
    unstage(o, input, k)
    if r == false then return 5 end
    if not string.find(r.err, 'maximum allowed size', 1, true) then error(r) end
    return 6
  end
  for n = 0, k - 1 do
    redis.call('PERSIST', input .. ':' .. n)
  end
  return 1, pieces_of(bytes + #ARGV[o + 3])
end

-- NONE is an empty list of optional fields: unpack(NONE) is nothing.
local NONE = {}

-- optional_fields answers the job at o's fields that are not always
-- written: its delimiter unless it is ',' (the readers' default when the
-- field is absent), its tenant when it has one (auth is on), and the count
-- of its input's pieces when it has any.
local function optional_fields(o, pieces)
  local delimiter, tenant = ARGV[o + 10], ARGV[o + 9]
  if delimiter == ',' and tenant == '' and not pieces then
    return NONE
  end
  local f = {}
  if pieces then
    f[1], f[2] = 'input_pieces', pieces
  end
  if delimiter ~= ',' then
    f[#f + 1], f[#f + 2] = 'delimiter', delimiter
  end
  if tenant ~= '' then
    f[#f + 1], f[#f + 2] = 'tenant', tenant
  end
  return f
end

-- write_hash writes the job hash of the job at o, its status aside (the
-- guard wrote it): with the field input when the input is inlined, else
-- with input_key = 1 and input_pieces. Fields that would hold the
-- readers' default are left out: attempts and token (0 until the first
-- claim, which sets both) and a delimiter ','. The fields are the call's
-- own arguments, not a table unpacked: building that table cost Lua more
-- than the HSET.
local function write_hash(o, job, inlined, pieces)
  -- input_key tells finish_one.lua, without reading the input, that there
  -- is a key to give the job's TTL.
  local name, value = 'input_key', '1'
  if inlined then
    name, value = 'input', ARGV[o + 3]
  end
  redis.call('HSET', job, 'id', ARGV[o], 'task', ARGV[o + 7], 'queue', ARGV[o + 1],
             'request_id', ARGV[o + 8], 'header', ARGV[o + 11], 'rows', ARGV[o + 12],
             'columns', ARGV[o + 13], 'bytes', ARGV[o + 14], 'created_at', ARGV[o + 15],
             'max_attempts', ARGV[o + 16], 'timeout', ARGV[o + 17], name, value,
             unpack(optional_fields(o, pieces)))
end

-- write_job writes the input and hash of the job at o. Returns 1, or 5
-- (id taken) or 6 (Redis refused the staged APPEND) with nothing of the
-- job written.
local function write_job(o)
  local job = prefix .. ':job:' .. ARGV[o]
  -- A key of another type under the job's name is a taken id too.
  local taken = redis.pcall('HSETNX', job, 'status', 'queued')
  if type(taken) == 'table' and not string.find(taken.err, 'WRONGTYPE', 1, true) then
    error(taken) -- not a taken id: OOM, say
  end
  if taken ~= 1 then
    return 5
  end
  local inlined = staged_of(o) == 0 and #ARGV[o + 3] <= max_inline
  local pieces = nil
  if not inlined then
    -- Whatever stops the input (an answer, or an error raised again) takes
    -- the guard's field back: no hash is left without its input.
    local ok, code
    ok, code, pieces = pcall(write_input, o, job .. ':input')
    if not ok or code ~= 1 then
      redis.call('DEL', job)
    end
    if not ok then
      error(code)
    end
    if code ~= 1 then
      return code
    end
  end
  write_hash(o, job, inlined, pieces)
  return 1
end

-- answer answers job i at o before any write of its own (pass 2), from
-- what pass 1 read and what the jobs before it queued: {3|4, id} when its
-- record names a live job or one of this batch, then 0 or 6 for its
-- input, {7, why} when its queue's keys are of the wrong type, 2 when its
-- queue is full, else 1 (to be written).
local function answer(i, o)
  local key = ARGV[o + 4]
  local rec = key ~= '' and (records[key] or known[key])
  if rec then
    return {rec[2] == ARGV[o + 5] and 3 or 4, rec[1]}
  end
  local code = input_answer(i, o)
  if code == 1 and bad[ARGV[o + 1]] then
    return {7, bad[ARGV[o + 1]]}
  end
  if code == 1 and max_depth > 0 and depth[ARGV[o + 1]] >= max_depth then
    return 2
  end
  return code
end

-- enqueue answers and writes job i at o (pass 2); once it is written, the
-- jobs after it see it in its queue's depth and as its key's job.
local function enqueue(i, o)
  local code = answer(i, o)
  if code ~= 1 then
    return code
  end
  code = write_job(o)
  if code ~= 1 then
    return code
  end
  local q = ARGV[o + 1]
  depth[q] = depth[q] + 1
  if pushed[q] == nil then
    pushed[q] = {}
    order[#order + 1] = q
  end
  pushed[q][#pushed[q] + 1] = ARGV[o]
  if ARGV[o + 4] ~= '' then
    records[ARGV[o + 4]] = {ARGV[o], ARGV[o + 5]}
  end
  return 1
end

-- push_queue pushes the ids queued on q and wakes q's workers.
local function push_queue(q)
  local ids = pushed[q]
  redis.call('LPUSH', prefix .. ':queue:' .. q, unpack(ids))
  redis.call('SADD', prefix .. ':queues', q)
  wake(prefix .. ':wake:' .. q, #ids)
end

-- Pass 1: reads only.
local writes = false
for o = FIRST, #ARGV, STRIDE do
  if look((o - FIRST) / STRIDE + 1, o) then
    writes = true
  end
end
if writes then
  wrong = type_problem(prefix .. ':queues', 'set')
end
if wrong then
  return redis.error_reply('WRONGTYPE (enqueue: ' .. wrong .. '; nothing was written)')
end

-- Pass 2: each job answered and written in turn, then the queue entries,
-- then the records.
local answers = {}
for o = FIRST, #ARGV, STRIDE do
  answers[#answers + 1] = enqueue(#answers + 1, o)
end
for _, q in ipairs(order) do
  push_queue(q)
end
for i = 1, #answers do
  local o = FIRST + (i - 1) * STRIDE
  if answers[i] == 1 and ARGV[o + 4] ~= '' then
    redis.call('HSET', ARGV[o + 4], 'job', ARGV[o], 'hash', ARGV[o + 5])
    redis.call('EXPIRE', ARGV[o + 4], ARGV[o + 6])
  end
end
return answers
