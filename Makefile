# Chatgate. Set-up is two commands: `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

export CHATGATE_DATA_DIR ?= $(CURDIR)/.data
GO_SOURCES := $(shell find . -name '*.go' -not -path './frontend/*' -not -name '*_test.go') go.mod go.sum

.PHONY: run test test-go test-fuzz test-scripts test-web build lint fuzz bench bench-load bench-peers bench-artillery bench-soak bench-web frontend clean

## run: start Postgres (and Redis if CHATGATE_REDIS is set) when none answers,
## build, and serve on $CHATGATE_ADDR (default :8080). Ctrl-C stops it all.
run: caddy frontend
	@env=$$(scripts/services.sh up) && eval "$$env"; \
	trap 'scripts/services.sh down' EXIT; \
	echo "Chatgate on http://localhost$${CHATGATE_ADDR:-:8080}" >&2; \
	./caddy run --config Caddyfile

## test: the same services, then every check.
test: lint test-go test-fuzz test-scripts test-web

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...

test-go:
	@env=$$(scripts/services.sh up) && eval "$$env"; \
	go test -race -count=1 -timeout 15m ./...

# Every fuzz target for a few seconds (their seed corpora also run in
# test-go); `make fuzz` runs them longer (FUZZTIME=2m).
test-fuzz:
	scripts/fuzz.sh 5s

FUZZTIME ?= 2m
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

test-scripts:
	scripts/services_test.sh

# The client: vitest, then the browser tests (Debian's chromium) against a
# private gateway built from ./caddy. Timings are printed, not asserted:
# `make bench-web` asserts them, alone on a quiet machine.
test-web: caddy frontend
	scripts/frontend.sh test
	@env=$$(scripts/services.sh up) && eval "$$env"; \
	scripts/frontend.sh e2e chat ux restart bigroom lighthouse security

## build: the custom Caddy binary.
build: caddy

caddy: $(GO_SOURCES) xcaddy.sh
	./xcaddy.sh

frontend:
	scripts/frontend.sh build

## bench: Go benchmarks (figures in BENCHMARKS.md); bench-web: the client's
## frame times, room switches and Lighthouse scores, asserted.
bench:
	@env=$$(scripts/services.sh up) && eval "$$env"; \
	go test -run '^$$' -bench . -benchtime 1x ./caddymodule/ && \
	go test -run '^$$' -bench . -benchtime 2000x ./chatcore/gateway/ && \
	go test -run '^$$' -bench . -benchtime 40000x ./chatcore/store/ && \
	go test -run '^$$' -bench . -benchtime 20000x ./chatcore/limits/

## bench-load: the load generator's matrix against a private gateway;
## rewrites the table in BENCHMARKS.md.
bench-load: caddy frontend
	@env=$$(scripts/services.sh up) && eval "$$env"; \
	scripts/bench-load.sh

## bench-peers: Chatgate against a plain Socket.IO 4.8 server (loadtest/peers/
## socketio, benchmarks only), scenarios a-c of issue 14; prints the table and
## rewrites BENCHMARKS.md's Peers section (PEERS_DURATION, PEERS_CASES).
bench-peers: caddy
	@env=$$(scripts/services.sh up) && eval "$$env"; \
	scripts/bench-peers.sh

## bench-artillery: the Artillery scenario (loadtest/artillery, 1,000 virtual
## users) and then the load generator on the same scenario, against a
## private gateway; reports in .bench/ (issue 14).
bench-artillery: caddy
	@env=$$(scripts/services.sh up) && eval "$$env"; \
	scripts/bench-artillery.sh

## bench-soak: issue 14's soak (cycles of connect, chat, disconnect; the heap
## must plateau) against a private gateway and an LB over two gateways;
## BENCH_SOAK=3m per soak, SOAK="gateway cluster" (or signup).
SOAK ?= gateway cluster
bench-soak: caddy frontend
	@env=$$(scripts/services.sh up) && eval "$$env"; \
	scripts/bench-soak.sh $(SOAK)

bench-web: caddy frontend
	@env=$$(scripts/services.sh up) && eval "$$env"; \
	CHATGATE_E2E_TIMING=enforce scripts/frontend.sh e2e bigroom lighthouse

clean:
	rm -rf caddy .bin frontend/dist
