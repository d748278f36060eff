# svx: `make up` runs the local stack, `make test` the whole suite. See README.md.
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)

PROBE_DIR := .build/svx-probe
PROBE := $(PROBE_DIR)/svx-probe
TEST_PG_DIR := $(CURDIR)/.svx/test-postgres
BENCH_OUT := $(CURDIR)/.svx/bench

.PHONY: deps build build-debug dist dist-check probe up down status test proto bench bench-audit bench-transport clean \
	container-images compose-env compose-test

deps:
	@scripts/install-deps.sh

# The C health probe: protobuf-c code generated from proto/ at build time, linked with libzmq.
$(PROBE): Tools/svx-probe/svx-probe.c proto/svx/rpc/v1/rpc.proto proto/svx/rpc/v1/health.proto
	@mkdir -p $(PROBE_DIR)/gen
	protoc-c -I proto --c_out=$(PROBE_DIR)/gen svx/rpc/v1/rpc.proto svx/rpc/v1/health.proto
	$(CC) -O2 -Wall -Wextra -I$(PROBE_DIR)/gen -o $@ Tools/svx-probe/svx-probe.c $(PROBE_DIR)/gen/svx/rpc/v1/*.c -lprotobuf-c -lzmq

probe: deps $(PROBE)

build: deps probe
	swift build -c release

build-debug: deps probe
	swift build --build-tests

# Every executable and resource svx ships, in DESTDIR (release by default): what the compose image installs.
# `make dist-check` checks the debug build's the same way (CI: fast, after `make test` built it).
DESTDIR ?= $(CURDIR)/.build/dist
DIST_CONFIG ?= release
dist: deps
	@[ -n "$(DESTDIR)" ] || { echo "make dist: DESTDIR is empty" >&2; exit 2; }
	scripts/dist.sh $(DIST_CONFIG) "$(DESTDIR)" $(DIST_SWIFT_FLAGS)

dist-check: deps
	scripts/dist.sh debug $(CURDIR)/.build/dist-debug

up: build
	@scripts/stack.sh up

down:
	@scripts/stack.sh down

status:
	@scripts/stack.sh status

# One throwaway PostgreSQL for the whole run (in a new directory under the system temp folder, recorded in
# .svx/test-postgres), stopped by its recorded pid and deleted whatever the outcome.
test: build-debug
	@set -euo pipefail; \
	env_lines=$$(scripts/test-postgres.sh start $(TEST_PG_DIR)); \
	trap 'scripts/test-postgres.sh stop $(TEST_PG_DIR)' EXIT; \
	export $$env_lines SVX_PROBE=$(CURDIR)/$(PROBE); \
	swift test --skip-build --disable-xctest

proto:
	scripts/gen-proto.sh

# Numbers for BENCHMARKS.md: the RPC runtime against raw libzmq, the crypto core against raw EVP, and the
# release services of the local stack (started if needed; `make down` stops it).
bench: up
	@mkdir -p $(BENCH_OUT)
	scripts/bench.sh $(BENCH_OUT)

# What CURVE costs (issue #20): fresh stacks over CURVE and over plain TCP, alternately; leaves the stack down.
bench-transport: build
	@mkdir -p $(BENCH_OUT)
	scripts/bench-transport.sh $(BENCH_OUT)

# The audit trail's cost (issue #19): fresh stacks with the trail on and off, alternately; leaves the stack down.
bench-audit: build
	@mkdir -p $(BENCH_OUT)
	scripts/bench-audit.sh $(BENCH_OUT)

# The compose stack (compose/): local stand-ins for the official base images where they cannot be pulled, the
# first-run env file with random passwords, and the end-to-end check with podman-compose (minutes; not in CI).
container-images:
	@scripts/container-images.sh
compose-env:
	@scripts/compose-env.sh
compose-test: build
	@scripts/compose-test.sh

clean:
	scripts/test-postgres.sh stop $(TEST_PG_DIR)
	rm -rf .build
