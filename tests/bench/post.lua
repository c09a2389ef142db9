-- post.lua — wrk script for the ingest benchmark.
--
-- usage: wrk ... -s post.lua URL -- BODY_FILE
--
-- Every request is a POST of BODY_FILE's bytes as text/csv to URL's path,
-- over wrk's keep-alive connections. done() prints one line starting with
-- "BENCH_JSON " and holding the run's figures as JSON: requests, duration,
-- errors, and latency (microseconds) at the mean, p50, p90, p99, p99.9 and
-- max. wrk 4.1 records latency in 1 µs steps and, before done() runs,
-- corrects the histogram for coordinated omission (it adds the samples a
-- stalled connection did not send); the figures include that correction.

function init(args)
  local f = assert(io.open(args[1], "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "text/csv"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes_read":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max))
end
