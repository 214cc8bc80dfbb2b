# libstorage build entry points. `make test` is what CI runs; it installs what it needs.
CARGO ?= cargo

.PHONY: all build toolchain lint test demo bench clean

all: build

build:
	$(CARGO) build --release

# The Rust toolchain must exist; rustfmt and clippy are added if rustup can.
toolchain:
	@command -v $(CARGO) >/dev/null || { echo "error: cargo not found: install Rust (https://rustup.rs)"; exit 1; }
	@if command -v rustup >/dev/null; then rustup component add rustfmt clippy >/dev/null 2>&1 || true; fi

lint: toolchain
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

test: lint
	$(CARGO) test --all-targets
	$(CARGO) test --doc

demo: toolchain
	$(CARGO) run --release --example lossy_bus

bench: toolchain
	$(CARGO) bench

clean:
	$(CARGO) clean
