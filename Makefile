# drc: see README.md. Every target installs what it needs by itself.
GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# Integration tests start real MariaDB and Kafka; -p 1 keeps two test
# binaries from running servers side by side on a 2-core machine.
TESTFLAGS ?= -count=1 -timeout 30m -p 1

.PHONY: build test unit deps bench demo chaos fmt vet clean sandbox-up sandbox-down check-deploy image check-packaging

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/drc ./cmd/drc

# deps installs MariaDB, sysbench, kcat, percona-toolkit, Java and the Kafka
# jars when they are missing (see deploy/local/install).
deps:
	deploy/local/install

# The packaging tests run in check-packaging, on the archive make image
# wrote, so the last line leaves them out.
PACKAGING_PKGS = ./deploy/image ./deploy/helm
test: deps build check-deploy check-packaging
	$(GO) vet ./...
	$(GO) test $(TESTFLAGS) $$($(GO) list ./... | grep -v -e /deploy/image -e /deploy/helm)

# check-deploy checks deploy/ in seconds, with no server: the Prometheus
# alert rules (promtool check rules) and their unit tests (promtool test
# rules), the example scrape config, the Grafana dashboard (valid JSON,
# every query parses), that every drc_ metric they name is exported by the
# code, and the systemd units (systemd-analyze verify, where it exists).
# promtool comes from Debian's prometheus package, unpacked into the cache
# by deploy/local/install.
PROMTOOL ?= $(or $(DRC_CACHE),$(HOME)/.cache/drc)/prometheus/usr/bin/promtool
check-deploy:
	deploy/local/install promtool >/dev/null
	$(PROMTOOL) check rules deploy/prometheus/drc-alerts.yaml
	$(PROMTOOL) test rules deploy/prometheus/drc-alerts_test.yaml
	$(PROMTOOL) check config deploy/prometheus/prometheus.example.yml
	PROMTOOL=$(PROMTOOL) deploy/grafana/check-dashboard
	deploy/check-metric-names
	deploy/systemd/verify

# image writes drc's container image to bin/drc-image.tar without Docker
# (deploy/image): an OCI image archive, also loadable by docker load, holding
# the static binary, the CA certificates, the tz database and the user drc
# (uid 65532). File times are the last commit's, so a clean tree gives the
# same digest every time.
IMAGE ?= drc:$(VERSION)
CA_CERTS ?= /etc/ssl/certs/ca-certificates.crt
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
image:
	mkdir -p bin/image
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o bin/image/drc ./cmd/drc
	$(GO) run ./deploy/image -drc bin/image/drc -ca-certs $(CA_CERTS) \
		-zoneinfo "$$($(GO) env GOROOT)/lib/time/zoneinfo.zip" -version $(VERSION) \
		-tag $(IMAGE) -created $(SOURCE_DATE_EPOCH) -o bin/drc-image.tar

# check-packaging tests what make image wrote (unpacks it and runs drc
# version from its root filesystem) and the Helm chart in deploy/helm/drc
# (helm lint, helm template with two values files, every manifest decoded
# strictly into its Kubernetes type), with Helm's Go module: no helm,
# docker or cluster needed.
check-packaging: image
	DRC_IMAGE_TAR=$(CURDIR)/bin/drc-image.tar DRC_IMAGE_VERSION=$(VERSION) $(GO) test -count=1 $(PACKAGING_PKGS)

# unit runs only the hermetic tests (no servers): everything but integration/.
unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /integration)

bench: deps build
	$(GO) run ./bench/cmd/drcbench

# demo runs the main job end to end on the local sandbox (see README).
# FLAVOR=mysql runs it on MySQL (the sandbox's --flavor); unset, the
# sandbox's default, MariaDB, or the flavor of a sandbox already running.
FLAVOR ?=
demo: deps build
	$(if $(FLAVOR),DRC_SANDBOX_FLAVOR=$(FLAVOR) )deploy/local/demo

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
