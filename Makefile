# Chatgate. Set-up is two commands: `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

export CHATGATE_DATA_DIR ?= $(CURDIR)/.data
GO_SOURCES := $(shell find . -name '*.go' -not -path './frontend/*' -not -name '*_test.go') go.mod go.sum

.PHONY: run test test-go test-scripts build lint bench frontend clean

## run: start Postgres (and Redis if CHATGATE_REDIS is set) when none answers,
## build, and serve on $CHATGATE_ADDR (default :8080). Ctrl-C stops it all.
run: caddy frontend
	@env=$$(scripts/services.sh up) && eval "$$env"; \
	trap 'scripts/services.sh down' EXIT; \
	echo "Chatgate on http://localhost$${CHATGATE_ADDR:-:8080}" >&2; \
	./caddy run --config Caddyfile

## test: the same services, then every check.
test: lint test-go test-scripts

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...

test-go:
	@env=$$(scripts/services.sh up) && eval "$$env"; \
	go test -race -count=1 -timeout 15m ./...

test-scripts:
	scripts/services_test.sh

## build: the custom Caddy binary.
build: caddy

caddy: $(GO_SOURCES) xcaddy.sh
	./xcaddy.sh

frontend:
	@if [ -f frontend/package.json ]; then \
		cd frontend && npm ci --no-audit --no-fund && npm run build; \
	else \
		mkdir -p frontend/dist && [ -f frontend/dist/index.html ] || echo '<!doctype html><title>Chatgate</title><p>Chatgate API is running.' > frontend/dist/index.html; \
	fi

## bench: Go benchmarks (figures in BENCHMARKS.md).
bench:
	@env=$$(scripts/services.sh up) && eval "$$env"; \
	go test -run '^$$' -bench . -benchmem ./chatcore/...

clean:
	rm -rf caddy .bin frontend/dist
