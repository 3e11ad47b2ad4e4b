# drc: see README.md. Every target installs what it needs by itself.
GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# Integration tests start real MariaDB and Kafka; -p 1 keeps two test
# binaries from running servers side by side on a 2-core machine.
TESTFLAGS ?= -count=1 -timeout 30m -p 1

.PHONY: build test unit deps bench demo chaos fmt vet clean sandbox-up sandbox-down

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/drc ./cmd/drc

# deps installs MariaDB, sysbench, kcat, percona-toolkit, Java and the Kafka
# jars when they are missing (see deploy/local/install).
deps:
	deploy/local/install

test: deps build
	$(GO) vet ./...
	$(GO) test $(TESTFLAGS) ./...

# unit runs only the hermetic tests (no servers): everything but integration/.
unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /integration)

bench: deps build
	$(GO) run ./bench/cmd/drcbench

# demo runs the main job end to end on the local sandbox (see README).
demo: deps build
	deploy/local/demo

# chaos runs the crash tests longer: more SIGKILLs under load, and the
# combined fault soak for CHAOS_DURATION (make test runs short versions).
# CHAOS_SEED replays a soak's fault sequence.
CHAOS_KILLS ?= 100
CHAOS_DURATION ?= 5m
CHAOS_SEED ?=
chaos: deps build
	DRC_CHAOS_KILLS=$(CHAOS_KILLS) DRC_CHAOS_DURATION=$(CHAOS_DURATION) DRC_CHAOS_SEED=$(CHAOS_SEED) \
		$(GO) test -count=1 -timeout 60m -v -run 'SIGKILL|Crashes|ChaosSoak' ./integration

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

sandbox-up: deps
	deploy/local/sandbox up

sandbox-down:
	deploy/local/sandbox down

clean:
	rm -rf bin
