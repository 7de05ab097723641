# Kiln's two entry points: `make run` and `make test`. Each installs what is
# missing on a Debian machine first, so both work on a fresh one.

SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

APT_PACKAGES := pkg-config libvips-dev build-essential
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test deps lint unit e2e fmt clean

## Build and start Kiln on embedded defaults: SQLite + files under ./data, 127.0.0.1:8080.
run: deps
	cargo run --release --bin kiln -- serve

## Everything CI runs: formatting, clippy, unit tests, end-to-end tests.
test: deps lint
	cargo test --workspace --all-targets

lint:
	cargo fmt --all -- --check
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
