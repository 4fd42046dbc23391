# cairn: the two newcomer commands are `make demo` and `make test` (README).
GO      ?= go
BIN     ?= bin/cairn
TOOLS   ?= $(or $(CAIRN_TOOLS),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/cairn-tools)
export CAIRN_TOOLS := $(TOOLS)

.PHONY: build install test unit e2e demo bench bench-scale tools vet fmt fuzz

PREFIX ?= $(HOME)/.local

build:
	$(GO) build -trimpath -buildvcs=auto -o $(BIN) ./cmd/cairn

# install puts cairn on the PATH (~/.local/bin is on it in most distributions).
install: build
	install -d $(PREFIX)/bin
	install -m 0755 $(BIN) $(PREFIX)/bin/cairn
	@case ":$$PATH:" in *":$(PREFIX)/bin:"*) ;; *) echo "note: $(PREFIX)/bin is not on your PATH; add it, e.g. export PATH=\"$(PREFIX)/bin:\$$PATH\"";; esac

# tools installs MinIO, mc and versitygw (pinned) into $(TOOLS)/bin once; later runs reuse them.
tools:
	scripts/install-tools.sh minio mc versitygw

vet:
	$(GO) vet ./...
	@$(GO) mod tidy -diff >/dev/null || (echo "go.mod/go.sum are not tidy: run go mod tidy"; $(GO) mod tidy -diff; exit 1)
	@test -z "$$(gofmt -l cmd pkg e2e)" || (gofmt -l cmd pkg e2e; exit 1)

# test runs everything: vet, unit tests with the race detector, then the
# end-to-end suite against a real MinIO that `tools` installs.
test: tools build vet
	$(GO) test -race -timeout 20m ./cmd/... ./pkg/...
	CAIRN_BIN=$(CURDIR)/$(BIN) $(GO) test -timeout 30m -count=1 ./e2e/...

unit:
	$(GO) test -race ./cmd/... ./pkg/...

e2e: tools build
	CAIRN_BIN=$(CURDIR)/$(BIN) $(GO) test -timeout 30m -count=1 -v ./e2e/...

# fuzz runs every fuzz target for FUZZTIME (default 1m) each.
fuzz:
	scripts/fuzz.sh $(or $(FUZZTIME),1m)

demo: build
	scripts/demo.sh $(BIN)

# bench compares cairn with restic on a local directory, MinIO and MinIO
# behind a latency proxy; BENCH_SETS, BENCH_BACKENDS, BENCH_JSON, BENCH_TSV
# and the rest are described in scripts/bench.sh and README (Performance).
bench: build
	scripts/bench.sh $(BIN)

bench-scale: build
	scripts/bench-scale.sh $(BIN) $(or $(N),300000)
