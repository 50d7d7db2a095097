# compact-service: `make serve` starts the service, `make test` runs every test.
# Both install what they need on a fresh Debian machine (as root, or through sudo).

SWIFT      ?= swift
PORT       ?= 8080
HOST       ?= 127.0.0.1
RELEASE_BIN = .build/release

APT_PACKAGES = libmicrohttpd-dev pkg-config python3 python3-venv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps build release serve test test-unit bench clean

# System packages: installed only when missing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Starts the service with one machine, `demo` (x86_64, 4096 MiB, one node), so the README's curl
# examples work at once. Extra flags: make serve ARGS="--token-file token.txt".
serve: release
	$(RELEASE_BIN)/compact-service --host $(HOST) --port $(PORT) --demo-machine demo $(ARGS)

# Unit and integration tests, then schemathesis against the running server with openapi.yaml.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test
	scripts/schemathesis.sh

test-unit: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test

bench: release
	$(RELEASE_BIN)/mm-bench

clean:
	rm -rf .build
