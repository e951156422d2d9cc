# The README's commands. `make test` is what CI runs (.ci/run calls it).
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: up demo test lint fmt clippy nextest doctest infra-up infra-down bench build

# Every service in one process on the embedded bus and store, data in ./data.
up:
	$(CARGO) run --release --locked -p tracechain -- up

# The story, step by step, against `make up` running in another terminal.
demo:
	$(CARGO) run --release --locked -p tracechain -- demo

test: lint infra-up doctest nextest

lint: fmt clippy

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# Every test of every crate, against the real broker and Redis that infra-up started.
nextest:
	$(CARGO) nextest run --workspace --locked --no-fail-fast

doctest:
	$(CARGO) test --workspace --doc --locked

infra-up:
	scripts/infra.sh up

infra-down:
	scripts/infra.sh down

build:
	$(CARGO) build --workspace --locked

# Criterion benchmarks; each prints its figures beside a baseline measured in the same run.
bench: infra-up
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(CARGO) bench -p tracechain-core --bench core
	$(CARGO) bench -p tracechain-store --bench store
	$(CARGO) bench -p tracechain-registry --bench load
	$(CARGO) bench -p tracechain-bus --bench bus
	$(CARGO) bench -p tracechain-ledger --bench ledger
	$(CARGO) bench -p tracechain-shipments --bench scans
