# Kiln's two entry points: `make run` and `make test`. Each installs what is
# missing on a Debian machine first, so both work on a fresh one.

SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

APT_PACKAGES := pkg-config libvips-dev libvips-tools build-essential cmake nasm curl openssl
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test deps console browser openapi docs-images lint plugins postgres s3-server fuzz bench bench-deps bench-counting bench-listing bench-libwebp bench-plugins bench-hostile fmt clean

# Every WebAssembly component goes to one target directory, so the SDK and
# shared dependencies are compiled once for all of them.
WASM_TARGET := target/wasm
WASM_BUILD := cargo build --release --target wasm32-wasip2 --target-dir $(WASM_TARGET)
WASM_OUT := $(WASM_TARGET)/wasm32-wasip2/release
PY_PLUGIN_TOOLS := target/tools/componentize-py

## Build and start Kiln on embedded defaults: SQLite + files under ./data, 127.0.0.1:8080;
## CONFIG=FILE starts it with that configuration instead.
run: deps console
	cargo run --release --bin kiln -- $(if $(CONFIG),--config $(CONFIG)) serve

# The PostgreSQL the end-to-end suite runs against, as a role of its own
# (`kiln_e2e`, which may create databases): `make postgres` adds the role
# where it is missing and changes no other user or password.
export E2E_POSTGRES ?= postgres://kiln_e2e:kiln_e2e@127.0.0.1:5432
# moto, the S3-compatible server the test harness starts on loopback.
MOTO_VENV := target/tools/moto
export E2E_MOTO_VENV := $(CURDIR)/$(MOTO_VENV)

## Everything CI runs: formatting, clippy, unit tests (host, SDK, plugins), and the
## end-to-end suite twice: on SQLite + files, then on PostgreSQL + S3 (moto).
## The tests of two processes sharing PostgreSQL and S3 run in both. Then the
## patched libwebp encoder against the published source (tests/libwebp/check.py),
## the console in headless Chromium (console/test, node --test), and every shell
## block of README.md and docs/ against a live kiln (tests/docs/run.py).
test: deps console browser lint plugins postgres s3-server
	cargo test --workspace --all-targets
	python3 tests/libwebp/check.py
	E2E_STACK=postgres-s3 cargo test --test e2e
	cargo test --manifest-path plugins/Cargo.toml --target-dir target/plugin-tests
	cargo test --manifest-path examples/invert/Cargo.toml --target-dir target/plugin-tests
	cd console && TEST_KILN_BIN=$(CURDIR)/target/debug/kiln TEST_KILN_WASM=$(CURDIR)/$(WASM_OUT) npm test
	python3 tests/docs/run.py --kiln target/debug/kiln

## docs/openapi.json: the HTTP API's OpenAPI document, as `GET /openapi.json` serves it
## (a unit test and the end-to-end suite hold the two equal).
openapi:
	cargo run --quiet --bin kiln -- openapi > docs/openapi.json

## The before/after pictures of docs/transformations.md, made by `kiln process`.
docs-images:
	cargo build --bin kiln
	bash docs/make-images.sh

## The web console (console/): TypeScript checked by tsc and bundled by esbuild into
## console/dist, which `kiln` embeds when it is compiled (host/build.rs).
console: console/dist/index.html

console/dist/index.html: console/node_modules/.installed console/build.mjs console/tsconfig.json $(wildcard console/src/*)
	cd console && npm run build --silent

console/node_modules/.installed: console/package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; }
	cd console && npm ci --no-audit --no-fund --silent
	touch $@

## Debian's Chromium, which the console's tests drive with playwright-core (no browser download).
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

## The first-party plugins, the test plugins and the example plugins, as components:
## Rust with cargo, the Python validator with componentize-py, the JavaScript
## transform with componentize-js (each installed, pinned, where missing).
plugins: deps $(PY_PLUGIN_TOOLS)/.installed examples/vignette/node_modules/.installed
	$(WASM_BUILD) --manifest-path plugins/Cargo.toml
	$(WASM_BUILD) --manifest-path tests/plugins/Cargo.toml
	$(WASM_BUILD) --manifest-path examples/invert/Cargo.toml
	cd examples/naming-policy && $(CURDIR)/$(PY_PLUGIN_TOOLS)/bin/componentize-py -d ../../wit/v0.2.0 \
	  -w validator componentize app -o $(CURDIR)/$(WASM_OUT)/naming_policy.wasm
	cd examples/vignette && node_modules/.bin/componentize-js vignette.js --wit ../../wit/v0.2.0 \
	  --world-name transform -d stdio random clocks http fetch-event -o $(CURDIR)/$(WASM_OUT)/vignette.wasm
	cd tests/plugins/noop-py && $(CURDIR)/$(PY_PLUGIN_TOOLS)/bin/componentize-py -d ../../../wit/v0.2.0 \
	  -w transform componentize app -o $(CURDIR)/$(WASM_OUT)/noop_py.wasm
	examples/vignette/node_modules/.bin/componentize-js tests/plugins/noop-js/noop.js --wit wit/v0.2.0 \
	  --world-name transform -d stdio random clocks http fetch-event -o $(WASM_OUT)/noop_js.wasm

$(PY_PLUGIN_TOOLS)/.installed: examples/naming-policy/requirements.txt
	@python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null || { \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv; }
	[ -x $(PY_PLUGIN_TOOLS)/bin/pip ] || python3 -m venv $(PY_PLUGIN_TOOLS)
	$(PY_PLUGIN_TOOLS)/bin/pip install -q --disable-pip-version-check -r examples/naming-policy/requirements.txt
	touch $@

# Debian's npm conflicts with a Node.js installed from elsewhere, so only when there is none.
examples/vignette/node_modules/.installed: examples/vignette/package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; }
	cd examples/vignette && npm ci --no-audit --no-fund --silent
	touch $@

## A local PostgreSQL on 127.0.0.1:5432 (installed and started when none
## answers) with the test suite's own role.
postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || { \
	  echo "starting PostgreSQL"; \
	  command -v pg_ctlcluster >/dev/null || { $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql; }; \
	  $(SUDO) pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | sort -n | tail -1) main start; \
	  for i in 1 2 3 4 5 6 7 8 9 10; do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
	}
	@$(SUDO) runuser -u postgres -- psql -tAqc "SELECT 1 FROM pg_roles WHERE rolname = 'kiln_e2e'" | grep -q 1 || \
	  $(SUDO) runuser -u postgres -- psql -qc "CREATE ROLE kiln_e2e LOGIN CREATEDB PASSWORD 'kiln_e2e'"

## The suite's Python tools in a virtualenv of their own (tests/support/requirements.txt):
## moto's S3 server for the test harness to start, standardwebhooks for the webhook receiver.
s3-server: $(MOTO_VENV)/.installed

$(MOTO_VENV)/.installed: tests/support/requirements.txt
	@python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null || { \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv; }
	[ -x $(MOTO_VENV)/bin/pip ] || python3 -m venv $(MOTO_VENV)
	$(MOTO_VENV)/bin/pip install -q --disable-pip-version-check -r tests/support/requirements.txt
	touch $@

## Each fuzz target for FUZZ_SECONDS (default 60), seeded with the test fixtures;
## a crash stops the run and leaves its input in host/fuzz/artifacts/. cargo-fuzz's
## instrumentation flags are nightly-only, hence RUSTC_BOOTSTRAP on the stable toolchain.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := params address config sniff signature webp
fuzz: deps
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	mkdir -p host/fuzz/corpus/sniff && cp tests/fixtures/*.{jpg,png,gif,webp,avif,heic,jxl,tiff} host/fuzz/corpus/sniff/
	mkdir -p host/fuzz/corpus/config && cp examples/*.toml host/fuzz/corpus/config/
	cd host && for target in $(FUZZ_TARGETS); do \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none $$target -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 || exit 1; \
	done

## Kiln against ipx, thumbor, nginx and the libvips floor in one run; writes
## BENCHMARKS.md and bench/chart.svg. Not part of `make test`.
BENCH_TOOLS := target/tools/bench
BENCH_SECONDS ?= 15
bench: bench-deps plugins
	cargo build --release --bin kiln
	$(BENCH_TOOLS)/venv/bin/python bench/run.py --corpus ../shared/corpus --seconds $(BENCH_SECONDS)

## What metrics and usage counting cost on the cached path, on against off (bench/counting.py).
bench-counting:
	cargo build --release --bin kiln
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk; }
	python3 bench/counting.py --corpus ../shared/corpus

## `GET /api/assets` page by page through 100 000 entries under one prefix (bench/listing.py).
bench-listing:
	cargo build --release --bin kiln
	python3 bench/listing.py

bench-deps: deps
	@command -v wrk >/dev/null && command -v nginx >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk nginx-light python3-venv; }
	@# Debian's npm conflicts with a Node.js installed from elsewhere, so only when there is none.
	@command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm
	@[ -x $(BENCH_TOOLS)/venv/bin/thumbor ] || { python3 -m venv $(BENCH_TOOLS)/venv && \
	  $(BENCH_TOOLS)/venv/bin/pip install -q --disable-pip-version-check 'thumbor==7.7.7' 'pyvips==3.2.0'; }
	@[ -x $(BENCH_TOOLS)/ipx/node_modules/.bin/ipx ] || { mkdir -p $(BENCH_TOOLS)/ipx && cd $(BENCH_TOOLS)/ipx && \
	  npm init -y >/dev/null && npm install --silent --no-audit --no-fund ipx@3.1.1; }

## The vendored libwebp against the unpatched one: the same bytes, and the encode time.
bench-libwebp: bench-deps
	$(BENCH_TOOLS)/venv/bin/python bench/libwebp.py --corpus ../shared/corpus

## Hostile-but-valid traffic against BINARIES (default: this tree's release
## build): peak RSS, time and what is stored, per attack; not part of `make test`.
BINARIES ?= target/release/kiln
bench-hostile: plugins
	cargo build --release --bin kiln
	cd bench && python3 hostile.py $(addprefix $(CURDIR)/,$(BINARIES))

## The cost of the plugin boundary (instantiation, no-op on 1 MP), and of a plugin by
## its language (no-op transforms in Rust, Python and JavaScript); not part of `make test`.
bench-plugins: plugins
	cargo run --release --example plugin_overhead -- $(WASM_OUT)/noop.wasm
	cargo run --release --example plugin_languages -- $(WASM_OUT)/noop.wasm $(WASM_OUT)/noop_py.wasm \
	  $(WASM_OUT)/noop_js.wasm $(WASM_OUT)/watermark.wasm

lint:
	cargo fmt --all -- --check
	cargo fmt --manifest-path plugins/Cargo.toml --all -- --check
	cargo fmt --manifest-path host/fuzz/Cargo.toml -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

## Installs only what is missing: Debian packages, then the Rust wasm target.
deps:
	@missing=""; \
	for package in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$package" 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup first"; exit 1; }
	@rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

clean:
	cargo clean
