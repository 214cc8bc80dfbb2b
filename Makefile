# libstorage build entry points. `make test` is what CI runs.
CARGO ?= cargo

.PHONY: all build test demo bench clean

all: build

build:
	$(CARGO) build --release

test:
	$(CARGO) test --all-targets
	$(CARGO) test --doc

demo:
	$(CARGO) run --release --example lossy_bus

bench:
	$(CARGO) bench

clean:
	$(CARGO) clean
