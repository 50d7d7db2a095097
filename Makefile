# compact-service: `make serve` starts the service, `make test` runs every test.
# Both install what they need on a fresh Debian machine (as root, or through sudo).

SWIFT      ?= swift
PORT       ?= 8080
HOST       ?= 127.0.0.1
# Where `make serve` keeps its machines and jobs (--state-dir): they survive restarts and crashes.
# STATE_DIR= (empty) serves from memory only.
STATE_DIR  ?= .state
RELEASE_BIN = .build/release

APT_PACKAGES = libmicrohttpd-dev zlib1g-dev pkg-config python3 python3-venv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps deps-test deps-browser deps-bench build release serve test test-unit test-chaos test-browser screenshots soak check-metrics lint bench bench-http bench-compact bench-fleet test-crash clean

# System packages: installed only when missing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# For the dashboard's browser test: headless Chromium and its WebDriver (Debian's chromium,
# chromium-driver, and DejaVu fonts for legible screenshots), Selenium (PyPI) in .build/browser-venv.
BROWSER_PY = .build/browser-venv/bin/python
deps-browser: deps
	@missing=""; for p in chromium chromium-driver fonts-dejavu-core; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@$(BROWSER_PY) -c "import selenium" 2>/dev/null || { echo "installing selenium into .build/browser-venv"; \
		python3 -m venv .build/browser-venv && .build/browser-venv/bin/pip install --quiet --disable-pip-version-check selenium; }

# For `make test`: promtool (Debian's prometheus package) checks /metrics; hadolint (PyPI) the Dockerfile;
# curl and openssl for the TLS test; wrk for the limits test; the browser test's Chromium and Selenium.
deps-test: deps deps-browser
	@missing=""; command -v promtool >/dev/null 2>&1 || missing="prometheus"; \
	command -v curl >/dev/null 2>&1 || missing="$$missing curl"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# For `make bench-http`: wrk drives the load, gcc builds the bare libmicrohttpd server.
deps-bench: deps
	@missing=""; for p in wrk gcc; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Starts the service with one machine, `demo` (x86_64, 4096 MiB, one node), so the README's curl
# examples work at once, keeping machines and jobs in $(STATE_DIR) (created if missing; `demo` is
# created only when it is not there already). Extra flags: make serve ARGS="--token-file token.txt".
serve: release
	$(RELEASE_BIN)/compact-service --host $(HOST) --port $(PORT) --demo-machine demo $(if $(STATE_DIR),--state-dir $(STATE_DIR)) $(ARGS)

# Unit and integration tests, the crash test (30 SIGKILLs of a service with --state-dir, every
# acknowledged change found after each restart), the chaos test (a few short rounds), the limits test (wrk beside a
# misbehaving client), the fleet test (three instances behind nginx with deploy/nginx) and deploy/k8s checked against it, the dashboard
# in headless Chromium, a short soak (4 min: memory stays within the
# budget and flat), then schemathesis against the running server with openapi.yaml, promtool on its live
# /metrics, and hadolint on the Dockerfile.
test: deps-test
	$(SWIFT) build --build-tests
	$(SWIFT) test
	python3 scripts/crash_test.py --bin .build/debug/compact-service --kills 30
	python3 scripts/chaos.py --bin .build/debug/compact-service --rounds 5 --seconds 4
	python3 scripts/limits.py --bin .build/debug/compact-service
	python3 scripts/fleet_test.py --bin .build/debug/compact-service
	python3 scripts/check_k8s.py
	$(BROWSER_PY) scripts/browser_test.py --bin .build/debug/compact-service
	python3 scripts/soak.py --bin .build/debug/compact-service --minutes 4 --interval 10 --quiesce-every 20 --budget-mib 128
	scripts/schemathesis.sh
	scripts/check-metrics.sh
	scripts/lint-dockerfile.sh

# The chaos test at length: 20 rounds of up to 15 s each against the debug build (assertions on).
test-chaos: deps
	$(SWIFT) build
	python3 scripts/chaos.py --bin .build/debug/compact-service --rounds $${CHAOS_ROUNDS:-20} --seconds $${CHAOS_SECONDS:-15}

# The crash test at length: CRASH_KILLS SIGKILLs (default 300) against the debug build; CRASH_SEED=N
# repeats a run.
test-crash: deps
	$(SWIFT) build
	python3 scripts/crash_test.py --bin .build/debug/compact-service --kills $${CRASH_KILLS:-300} $${CRASH_SEED:+--seed $$CRASH_SEED}

# The dashboard's browser test alone (about a minute).
test-browser: deps-browser
	$(SWIFT) build
	$(BROWSER_PY) scripts/browser_test.py --bin .build/debug/compact-service

# The README's pictures: the browser test, saving docs/dashboard-fragmented.png and dashboard-compacting.png.
screenshots: deps-browser
	$(SWIFT) build
	$(BROWSER_PY) scripts/browser_test.py --bin .build/debug/compact-service --screenshots docs

# The soak test (not in CI): an hour of mixed load against the release build, resident memory every
# minute, idle resident memory every 5 minutes; fails on growth or on passing the budget plus its fixed
# overhead (README "Memory budget"). SOAK_MINUTES=N for another length.
soak: release
	python3 scripts/soak.py --bin $(RELEASE_BIN)/compact-service --minutes $${SOAK_MINUTES:-60} --interval 60 --quiesce-every 300

check-metrics: deps-test
	$(SWIFT) build
	scripts/check-metrics.sh

lint:
	scripts/lint-dockerfile.sh

test-unit: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test

bench: release
	$(RELEASE_BIN)/mm-bench

# HTTP speed against a bare libmicrohttpd server serving the same bytes (a few minutes; prints
# `name value unit` lines, not a pass/fail test).
bench-http: release deps-bench
	gcc -O2 -Wall -Wextra -o .build/bare-mhd bench/bare-mhd.c $$(pkg-config --cflags --libs libmicrohttpd) -lpthread
	python3 scripts/bench-http.py --swift $(RELEASE_BIN)/compact-service --c .build/bare-mhd

# Compaction speed against the native yardstick beside the checkout (../shared/yardstick/cref.c), the
# same recipe side by side (a minute or two; prints figures and ratios, not a pass/fail test).
YARDSTICK ?= ../shared/yardstick/cref.c
bench-compact: release
	@test -f $(YARDSTICK) || { echo "bench-compact needs the yardstick at $(YARDSTICK) (YARDSTICK=path)"; exit 1; }
	gcc -O2 -march=x86-64-v2 -o .build/cref $(YARDSTICK)
	python3 scripts/bench-compact.py --mm-bench $(RELEASE_BIN)/mm-bench --cref .build/cref

# A sweep (6 variants x 10 seeds of the stress preset) spread through nginx over 1, 2 and 3 instances:
# wall and CPU time per configuration, and the merged results compared (several minutes; figures).
bench-fleet: release deps-test
	python3 scripts/bench_fleet.py --bin $(RELEASE_BIN)/compact-service

clean:
	rm -rf .build
