# jobq — build, test and run.
#
#   make            bin/jobq-api and bin/jobq-worker
#   make deps       install the Debian packages for build, tests and run
#   make deps-build only those needed to build (the Dockerfile's build stage)
#   make run        local Redis + API on 127.0.0.1:8080 + one worker
#   make test       unit and integration tests
#   make sanitize   the same tests built with ASan + UBSan
#   make tsan       the same tests built with ThreadSanitizer
#   make chaos      workers and Redis killed under load (tests/chaos.sh)
#   make bench      benchmarks (tests/bench/)
#   make fuzz       libFuzzer targets, FUZZ_SECONDS (30) each (tests/fuzz/)
#   make install    PREFIX=/usr/local DESTDIR= (binaries, systemd units)
#
# One switch per build flavour: SAN=asan or SAN=tsan puts everything under
# build/$(SAN)/ so flavours never mix objects.

SHELL   := /bin/bash
CC      ?= cc
CFLAGS  ?= -O2 -g
PREFIX  ?= /usr/local
SAN     ?=

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wpointer-arith -Wformat=2
CPPFLAGS += -D_GNU_SOURCE -Iqueue -Iworker -Iapi
ALL_CFLAGS = -std=c11 $(WARNINGS) $(CFLAGS) -pthread -MMD -MP

ifeq ($(SAN),asan)
  ALL_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS    += -fsanitize=address,undefined
else ifeq ($(SAN),tsan)
  ALL_CFLAGS += -fsanitize=thread -fno-omit-frame-pointer
  LDFLAGS    += -fsanitize=thread
else ifneq ($(SAN),)
  $(error SAN must be empty, asan or tsan)
endif

ifeq ($(SAN),)
  BUILD := build
  BIN   := bin
else
  BUILD := build/$(SAN)
  BIN   := build/$(SAN)/bin
endif

PKGS     := libmicrohttpd hiredis jansson libsystemd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
TEST_LIBS  := $(shell pkg-config --libs criterion libcurl 2>/dev/null) -lcsv -lm
# jobq-api alone needs libcrypto (SHA-256 of Idempotency-Key submissions).
API_LIBS   := $(shell pkg-config --libs libcrypto 2>/dev/null)

VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)

# ---- Sources ---------------------------------------------------------------

QUEUE_SRCS := queue/csv_reader.c queue/utf8.c queue/csv_check.c queue/job.c \
              queue/ids.c queue/keys.c queue/config.c queue/log.c \
              queue/flatjson.c queue/resp.c \
              queue/redis_url.c queue/job_store.c queue/backoff.c \
              queue/task_catalog.c queue/service.c
LUA_SCRIPTS := queue/scripts/enqueue.lua queue/scripts/claim.lua \
               queue/scripts/progress.lua queue/scripts/renew.lua \
               queue/scripts/finish.lua queue/scripts/requeue.lua \
               queue/scripts/cancel.lua \
               queue/scripts/fail.lua queue/scripts/retry.lua \
               queue/scripts/heartbeat.lua queue/scripts/overview.lua \
               queue/scripts/finish_next.lua queue/scripts/schema.lua \
               queue/scripts/dead_page.lua

API_SRCS := api/main.c api/server.c api/header_deadline.c api/router.c api/reply.c api/upload.c api/submit.c \
            api/handlers.c api/breaker.c api/idem.c api/metrics.c api/exposition.c api/scrape.c \
            api/auth.c api/ratelimit.c api/gate.c api/committer.c \
            api/edge.c api/options.c api/form.c

TASK_SRCS := worker/task.c worker/task_profile.c worker/column_stats.c worker/stats_pipe.c \
             worker/hll.c worker/task_ndjson.c
WORKER_SRCS := worker/main.c worker/job_buffer.c worker/producer.c \
               worker/consumer.c worker/result_sink.c worker/running.c \
               worker/cancel_listener.c worker/task_exec.c $(TASK_SRCS)

UNIT_SRCS := tests/unit/test_csv_reader.c tests/unit/test_utf8.c \
             tests/unit/test_csv_check.c tests/unit/test_ids.c \
             tests/unit/test_job.c tests/unit/test_config.c \
             tests/unit/test_keys.c tests/unit/test_redis_url.c \
             tests/unit/test_backoff.c tests/unit/test_job_buffer.c \
             tests/unit/test_profile.c tests/unit/test_hll.c \
             tests/unit/test_ndjson.c tests/unit/test_breaker.c \
             tests/unit/test_task_catalog.c tests/unit/test_task_exec.c tests/unit/test_idem.c tests/unit/test_exposition.c \
             tests/unit/test_auth.c tests/unit/test_ratelimit.c \
             tests/unit/test_service.c \
             tests/unit/test_edge.c tests/unit/test_options.c \
             tests/unit/test_task.c tests/unit/test_flatjson.c tests/unit/test_log.c \
             tests/unit/test_resp.c \
             tests/unit/test_routes.c tests/unit/test_idle_wait.c \
             tests/unit/test_profile_threads.c tests/unit/profile_run.c
INTEGRATION_SRCS := tests/integration/main.c tests/integration/harness.c tests/integration/test_submit.c \
                    tests/integration/test_lifecycle.c tests/integration/test_errors.c \
                    tests/integration/test_workers.c tests/integration/test_store.c \
                    tests/integration/test_cancel.c \
                    tests/integration/test_retries.c tests/integration/test_breaker.c \
                    tests/integration/test_backpressure.c tests/integration/test_registry.c tests/integration/test_schema.c tests/integration/test_exit_status.c \
                    tests/integration/test_failures.c tests/integration/test_exec.c \
                    tests/integration/test_idempotency.c tests/integration/test_metrics.c \
                    tests/integration/test_auth.c \
                    tests/integration/test_systemd.c tests/integration/test_group_commit.c \
                    tests/integration/test_hostile.c tests/integration/test_redis_limit.c \
                    tests/integration/test_batches.c tests/integration/test_profile_cap.c \
                    tests/integration/test_mhd_errors.c tests/integration/test_pieces.c

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

QUEUE_OBJS  := $(call obj,$(QUEUE_SRCS)) $(BUILD)/gen/scripts.o
API_OBJS    := $(call obj,$(API_SRCS))
API_LIB_OBJS := $(filter-out $(BUILD)/api/main.o,$(API_OBJS))
TASK_OBJS   := $(call obj,$(TASK_SRCS))
WORKER_OBJS := $(call obj,$(WORKER_SRCS))
UNIT_OBJS   := $(call obj,$(UNIT_SRCS))
INTEGRATION_OBJS := $(call obj,$(INTEGRATION_SRCS))

# ---- Build -----------------------------------------------------------------

.PHONY: all deps deps-build run test test-run test-shipping sanitize tsan chaos bench fuzz install clean help
all: $(BIN)/jobq-api $(BIN)/jobq-worker

Q := @
ifeq ($(V),1)
  Q :=
endif

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/gen/scripts.c: $(LUA_SCRIPTS) $(wildcard queue/scripts/lib/*.lua) queue/scripts/embed.sh
	@mkdir -p $(dir $@)
	@echo "  EMBED   $@"
	$(Q)sh queue/scripts/embed.sh $@ $(LUA_SCRIPTS)

$(BUILD)/gen/scripts.o: $(BUILD)/gen/scripts.c
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

# The version is baked into config.o; the stamp changes only when it does.
$(BUILD)/version.stamp: FORCE
	@mkdir -p $(dir $@)
	@echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' > $@
$(BUILD)/queue/config.o: $(BUILD)/version.stamp
$(BUILD)/queue/config.o: CPPFLAGS += -DJOBQ_VERSION='"$(VERSION)"'
FORCE:

$(BUILD)/libjobq.a: $(QUEUE_OBJS)
	@echo "  AR      $@"
	$(Q)$(AR) rcs $@ $^

$(BIN)/jobq-api: $(API_OBJS) $(BUILD)/libjobq.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(API_LIBS)

$(BIN)/jobq-worker: $(WORKER_OBJS) $(BUILD)/libjobq.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Unit tests link the library, the worker's tasks and the API's modules
# but main (the route table's flags are checked against handlers.c).
$(BUILD)/tests/unit-tests: $(UNIT_OBJS) $(TASK_OBJS) $(call obj,worker/job_buffer.c) $(call obj,worker/task_exec.c) $(API_LIB_OBJS) $(BUILD)/libjobq.a
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(API_LIBS) $(TEST_LIBS)

$(BUILD)/tests/integration-tests: $(INTEGRATION_OBJS) $(BUILD)/libjobq.a
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS)

# Each fuzz target's LLVMFuzzerTestOneInput, built with the project's
# compiler against a plain main that replays its committed corpus once
# (tests/fuzz/fuzz.h): `make test` checks the corpus without libFuzzer.
FUZZ_TARGETS := csv_check options router multipart
REPLAY_BINS  := $(addprefix $(BUILD)/tests/replay-,$(FUZZ_TARGETS))

$(BUILD)/tests/replay-%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay.o $(API_LIB_OBJS) $(BUILD)/libjobq.a
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(API_LIBS)

TEST_BINS := $(BUILD)/tests/unit-tests $(BUILD)/tests/integration-tests $(REPLAY_BINS)

# The targets' objects are intermediate for make (pattern rules); keep
# them. (Not a bare .SECONDARY:, which would stop FORCE from forcing.)
FUZZ_TARGET_SRCS := $(patsubst %,tests/fuzz/fuzz_%.c,$(FUZZ_TARGETS)) tests/fuzz/replay.c
.SECONDARY: $(call obj,$(FUZZ_TARGET_SRCS)) $(patsubst %.c,build/fuzz/%.o,$(FUZZ_TARGET_SRCS))

# ---- Setup and running -----------------------------------------------------

DEP_LISTS := docker/deps-build.txt docker/deps-test.txt
deps:
	$(Q)sh docker/install-deps.sh $(DEP_LISTS)

deps-build:
	$(Q)sh docker/install-deps.sh docker/deps-build.txt

run:
	$(Q)sh docker/install-deps.sh $(DEP_LISTS)
	$(Q)$(MAKE) --no-print-directory all
	$(Q)sh docker/run-local.sh

# ---- Tests -----------------------------------------------------------------

# CRITERION_JOBS bounds how many test processes run at once: each
# integration test starts its own redis-server, API and worker.
CRITERION_JOBS ?= 2

test:
	$(Q)sh docker/install-deps.sh $(DEP_LISTS)
	$(Q)$(MAKE) --no-print-directory test-run

test-run: all $(TEST_BINS)
	@echo "== unit tests ($(or $(SAN),plain))"
	$(Q)$(BUILD)/tests/unit-tests --jobs=$(CRITERION_JOBS)
	@echo "== integration tests ($(or $(SAN),plain))"
	$(Q)JOBQ_TEST_BIN_DIR=$(BIN) $(BUILD)/tests/integration-tests --jobs=$(CRITERION_JOBS)
	@echo "== fuzz corpus replay ($(or $(SAN),plain))"
	$(Q)for t in $(FUZZ_TARGETS); do $(BUILD)/tests/replay-$$t tests/fuzz/corpus/$$t || exit 1; done
	@echo "== smoke test ($(or $(SAN),plain))"
	$(Q)JOBQ_TEST_BIN_DIR=$(BIN) sh tests/smoke.sh
	@echo "== shipping test: Docker files, OpenAPI spec, versions ($(or $(SAN),plain))"
	$(Q)$(SHIPPING_TEST)

# The shipping test alone: docker/ and api/openapi.yaml against the sources
# and the binaries (no Docker engine needed).
SHIPPING_TEST = JOBQ_TEST_BIN_DIR=$(BIN) python3 tests/test_shipping.py
test-shipping: all
	$(Q)$(SHIPPING_TEST)

# Criterion reports a sanitizer finding in a test process as a warning, not
# a failure, so the run's output is searched for one as well.
sanitize:
	$(Q)sh docker/install-deps.sh $(DEP_LISTS)
	$(Q)mkdir -p build/asan
	$(Q)set -o pipefail; \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(MAKE) --no-print-directory SAN=asan CFLAGS='-O1 -g' test-run 2>&1 | tee build/asan/test.log; \
	  status=$$?; \
	  if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' build/asan/test.log; then \
	    echo "sanitize: a sanitizer reported a problem (see build/asan/test.log)"; exit 1; fi; \
	  exit $$status

# ThreadSanitizer: Criterion's runner cannot start under TSan here, so the
# test programs are the plain ones and only jobq-api and jobq-worker are
# built with TSan. A race makes a binary exit 66 at shutdown, which the
# harness's teardown check turns into a failed run.
tsan:
	$(Q)sh docker/install-deps.sh $(DEP_LISTS)
	$(Q)$(MAKE) --no-print-directory SAN=tsan CFLAGS='-O1 -g' all
	$(Q)$(MAKE) --no-print-directory build/tests/integration-tests
	$(Q)TSAN_OPTIONS=exitcode=66:second_deadlock_stack=1 JOBQ_TEST_BIN_DIR=build/tsan/bin \
	  build/tests/integration-tests --jobs=1

# Chaos: 2,400 submissions while a random worker is SIGKILLed every second
# and Redis (AOF, appendfsync always) once; fails if an accepted job is lost
# or completed twice. Under 3 minutes.
chaos: all
	$(Q)JOBQ_TEST_BIN_DIR=$(BIN) bash tests/chaos.sh

# About two minutes; prints a table and writes tests/bench/results/<date>.json.
bench:
	$(Q)sh docker/install-deps.sh $(DEP_LISTS)
	$(Q)$(MAKE) --no-print-directory all
	$(Q)sh tests/bench/run.sh

# ---- Fuzzing ---------------------------------------------------------------

# libFuzzer needs clang. Everything the targets link is rebuilt under
# build/fuzz/ with coverage and ASan + UBSan; each target runs FUZZ_SECONDS,
# growing build/fuzz/corpus/<target> from the committed seeds in
# tests/fuzz/corpus/<target>. A crash stops the run and leaves the input in
# build/fuzz/crash-<target>-*: commit it to the seed corpus as a regression.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_BUILD   := build/fuzz
FUZZ_CFLAGS  := -std=c11 $(WARNINGS) -g -O1 -fno-omit-frame-pointer -pthread \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined -MMD -MP
FUZZ_LIB_OBJS := $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(QUEUE_SRCS) $(filter-out api/main.c,$(API_SRCS))) \
                 $(FUZZ_BUILD)/gen/scripts.o

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(PKG_CFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/gen/scripts.o: $(BUILD)/gen/scripts.c
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/libfuzzjobq.a: $(FUZZ_LIB_OBJS)
	@echo "  AR      $@"
	$(Q)$(AR) rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_BUILD)/libfuzzjobq.a
	@echo "  LD      $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) $(API_LIBS)

fuzz: $(addprefix $(FUZZ_BUILD)/fuzz_,$(FUZZ_TARGETS))
	$(Q)for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	  $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/crash-$$t- $(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t \
	    2>&1 | grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+==|SUMMARY|artifact_prefix|Test unit written)' ; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

# The systemd units (docker/systemd/*) go to $(UNITDIR), their
# /usr/local paths rewritten to $(PREFIX); README.md is what they link to.
UNIT_FILES := docker/systemd/jobq-api.socket docker/systemd/jobq-api.service \
              docker/systemd/jobq-worker@.service
UNITDIR ?= $(PREFIX)/lib/systemd/system
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNITDIR) $(DESTDIR)$(PREFIX)/share/doc/jobq
	install -m 0755 bin/jobq-api bin/jobq-worker $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/jobq/
	for u in $(UNIT_FILES); do \
	  sed 's|/usr/local/|$(PREFIX)/|g' $$u > $(DESTDIR)$(UNITDIR)/$${u##*/} && \
	  chmod 0644 $(DESTDIR)$(UNITDIR)/$${u##*/} || exit 1; done

clean:
	rm -rf build bin

help:
	@sed -n '2,16p' Makefile | sed 's/^# \{0,1\}//'

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
