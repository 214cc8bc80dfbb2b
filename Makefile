# libstorage build entry points. `make test` is what CI runs; it installs what it needs.
CARGO ?= cargo
CC ?= cc
PREFIX ?= /usr/local
DESTDIR ?=
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

# Cargo's output folder: honours CARGO_TARGET_DIR, as cargo does.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
LIB_DIR := $(TARGET_DIR)/release
LIB_PATH := $(abspath $(LIB_DIR))
C_TEST_DIR := target/c-tests
DEMO := target/examples/fleet_demo
C_TESTS := $(patsubst tests/c/%.c,$(C_TEST_DIR)/%,$(wildcard tests/c/test_*.c))
SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
C_FLAGS := -std=c11 -Wall -Wextra -Werror -g -O1 -Iinclude -pthread

.PHONY: all build toolchain lint header test rust-test c-test cxx-headers go-test py-test demo demo-rust bench install clean

all: build

# The Rust toolchain must exist; rustfmt and clippy are added if rustup can.
toolchain:
	@command -v $(CARGO) >/dev/null || { echo "error: cargo not found: install Rust (https://rustup.rs)"; exit 1; }
	@command -v $(CC) >/dev/null || { echo "error: no C compiler ($(CC)) found: install gcc or clang"; exit 1; }
	@if command -v rustup >/dev/null; then rustup component add rustfmt clippy >/dev/null 2>&1 || true; fi

# The library's soname is libstorage.so.0: give programs linked in the tree that name too.
# libstorage-public.a, what `make install` installs as libstorage.a, exports only the C API
# (scripts/localize-static.sh): its bundled SQLite and zstd cannot clash with a program's.
PUBLIC_A := $(LIB_DIR)/libstorage-public.a

build: toolchain
	$(CARGO) build --release
	ln -sf libstorage.so $(LIB_DIR)/libstorage.so.0
	@[ $(PUBLIC_A) -nt $(LIB_DIR)/libstorage.a ] || scripts/localize-static.sh $(LIB_DIR)/libstorage.a $(PUBLIC_A)

lint: toolchain
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps

header: toolchain
	UPDATE_HEADER=1 $(CARGO) test --test header

rust-test: toolchain js-interop-deps s3-server
	STORAGE_WEED=$(WEED) STORAGE_REQUIRE_S3=1 $(CARGO) test --all-targets
	$(CARGO) test --doc

# ---- The S3 server of the upload tests ----------------------------------------------------

# SeaweedFS (Apache-2.0), a real S3-compatible server the upload tests start on loopback:
# built from the Go module proxy once per machine, cached outside the clone.
SEAWEEDFS_VERSION := v0.0.0-20261109003541-7506e5f91cd6
CACHE_DIR ?= $(HOME)/.cache/libstorage
WEED := $(CACHE_DIR)/seaweedfs-$(SEAWEEDFS_VERSION)/weed

.PHONY: s3-server

s3-server: $(WEED)

$(WEED): | go-toolchain
	scripts/build-seaweedfs.sh $(SEAWEEDFS_VERSION) $@

$(C_TEST_DIR)/%: tests/c/%.c tests/c/harness.h include/storage.h include/libsds.h build
	@mkdir -p $(C_TEST_DIR)
	$(CC) $(C_FLAGS) $(SANITIZE) $< -o $@ -L$(LIB_DIR) -lstorage -Wl,-rpath,$(LIB_PATH)

# C programs against libstorage.so, under AddressSanitizer and UBSan; and both headers
# compiled as C++17.
c-test: $(C_TESTS) $(DEMO) cxx-headers
	@set -e; for t in $(C_TESTS); do echo "== $$t"; ASAN_OPTIONS=detect_leaks=1 $$t; done

# Both headers in one C++17 translation unit, warnings as errors: a header that breaks
# C++ users fails here.
cxx-headers:
	@command -v $(CXX) >/dev/null || { echo "error: no C++ compiler ($(CXX)) found: install g++ or clang++"; exit 1; }
	$(CXX) -std=c++17 -Wall -Wextra -Werror -Iinclude -fsyntax-only tests/c/headers.cpp

test: lint rust-test c-test go-test py-test install-test wheel-test readme-test example-js-chat

# ---- Go and Python bindings -----------------------------------------------------------

GO ?= go
PYTHON ?= python3
# cgo finds the library through pkg-config (`#cgo pkg-config: storage`); in the tree, through
# a storage.pc generated for this tree's header and freshly built library (with an rpath).
TREE_PC_DIR := $(TARGET_DIR)/pkgconfig
GO_ENV := PKG_CONFIG_PATH="$(abspath $(TREE_PC_DIR))"
# pytest lives in a virtualenv of its own, made on first use.
PY_VENV := target/py-venv
PY_ENV := STORAGE_LIB=$(LIB_PATH)/libstorage.so PYTHONPATH=$(CURDIR)/bindings/python

.PHONY: go-toolchain python-toolchain example-go example-python

go-toolchain:
	@command -v $(GO) >/dev/null || { echo "error: $(GO) not found: install Go 1.22 or later (https://go.dev/dl/)"; exit 1; }

python-toolchain:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.9 or later"; exit 1; }

$(PY_VENV)/bin/pytest: | python-toolchain
	$(PYTHON) -m venv $(PY_VENV) || { echo "error: '$(PYTHON) -m venv' failed: install the venv module (e.g. apt-get install python3-venv)"; exit 1; }
	$(PY_VENV)/bin/pip install --quiet pytest

# The Go binding under the race detector; the example must still build against it. Then a
# client of the libsds API written the way libsds's own cgo binding is (tests/go-libsds).
$(TREE_PC_DIR)/storage.pc: storage.pc.in Cargo.toml
	@mkdir -p $(TREE_PC_DIR)
	sed -e 's|@PREFIX@|$(CURDIR)|g' -e 's|@LIBDIR@|$(LIB_PATH)|g' -e 's|@INCLUDEDIR@|$(CURDIR)/include|g' \
		-e 's|@VERSION@|$(VERSION)|g' -e 's|^Libs: .*|Libs: -L$${libdir} -Wl,-rpath,$${libdir} -lstorage|' \
		$< > $@

go-test: build go-toolchain $(TREE_PC_DIR)/storage.pc
	@unformatted="$$(gofmt -l bindings/go examples/go tests/go-libsds)"; \
		if [ -n "$$unformatted" ]; then echo "error: not gofmt-formatted: $$unformatted"; exit 1; fi
	cd bindings/go && $(GO_ENV) $(GO) vet ./... && $(GO_ENV) $(GO) test -race -count=1 ./...
	cd examples/go && $(GO_ENV) $(GO) vet ./...
	cd tests/go-libsds && $(GO_ENV) $(GO) vet ./... && $(GO_ENV) $(GO) test -race -count=1 ./...

# The Python binding's tests, then its example as a smoke test.
py-test: build $(PY_VENV)/bin/pytest
	cd bindings/python && $(PY_ENV) $(CURDIR)/$(PY_VENV)/bin/python -m pytest -q
	$(PY_ENV) $(PY_VENV)/bin/python examples/python/chat.py >/dev/null

# The platform wheel (py3-none-manylinux_2_NN_<arch>) with libstorage.so inside, in
# target/wheel; then installed in a fresh virtualenv outside the tree (no index) and run
# as a new user would: examples/python/chat.py, two participants, the bundled library.
WHEEL_DIR := $(TARGET_DIR)/wheel

.PHONY: wheel wheel-test

wheel: build $(PY_VENV)/bin/pytest
	$(PY_VENV)/bin/pip install --quiet "setuptools>=77" wheel
	bindings/python/build_wheel.sh $(abspath $(PY_VENV))/bin/python $(LIB_DIR)/libstorage.so $(WHEEL_DIR)

wheel-test: wheel
	@set -e; venv=$$(mktemp -d /tmp/storage-wheel-venv-XXXXXX); trap 'rm -rf "$$venv"' EXIT; \
		$(PYTHON) -m venv "$$venv"; \
		"$$venv/bin/pip" install --quiet --no-index $(WHEEL_DIR)/*.whl; \
		cp examples/python/chat.py "$$venv/"; cd "$$venv"; \
		env -u STORAGE_LIB -u PYTHONPATH ./bin/python -c \
			'import libstorage_sds._lib as l, pathlib; p = pathlib.Path(l.lib._name); assert p.parent.name == "libstorage_sds" and "site-packages" in str(p), p; print("loaded", p)'; \
		env -u STORAGE_LIB -u PYTHONPATH ./bin/python chat.py >/dev/null; echo "wheel test passed"

# Every code block of README.md compiled and run as pasted (tests/readme/check.py): the C,
# Go and Python programs against the tree's build, fragments where marked; the Rust blocks
# are doctests (rust-test).
.PHONY: readme-test
readme-test: build go-toolchain python-toolchain $(TREE_PC_DIR)/storage.pc
	$(GO_ENV) STORAGE_LIB=$(LIB_PATH)/libstorage.so CC=$(CC) GO=$(GO) PYTHON=$(PYTHON) \
		$(PYTHON) tests/readme/check.py README.md

# Two participants chatting, in Go and in Python.
example-go: build go-toolchain $(TREE_PC_DIR)/storage.pc
	cd examples/go && $(GO_ENV) $(GO) run .

example-python: build python-toolchain
	$(PY_ENV) $(PYTHON) examples/python/chat.py

# The fleet demo (examples/c/fleet_demo.c): three robots, a lossy link, SQLite, MCAP.
$(DEMO): examples/c/fleet_demo.c include/storage.h build
	@mkdir -p $(dir $(DEMO))
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -Iinclude -pthread $< -o $@ -L$(LIB_DIR) -lstorage \
		-Wl,-rpath,$(LIB_PATH)

# The fleet demo, then its recordings going up to a local S3 bucket (SeaweedFS, when
# `make s3-server` has built it; otherwise the demo says how to enable that part).
demo: $(DEMO)
	@work="$$(mktemp -d /tmp/fleet_demo.XXXXXX)" && $(DEMO) "$$work" && \
		scripts/demo-upload.sh "$$work/recordings" $(LIB_DIR)/storagectl $(WEED)

# The same story in pure Rust, on the protocol layer alone.
demo-rust: toolchain
	$(CARGO) run --release --example lossy_bus

# benches/upload.rs needs the S3 server (built here when missing).
bench: build bench-c s3-server
	STORAGE_WEED=$(WEED) $(CARGO) bench

# ---- JS interop: js-waku's @waku/sds ----------------------------------------------------

# tests/js_interop.rs and the jschat example run @waku/sds (pinned by
# tests/js-interop/package-lock.json) under node. npm ci runs only when node_modules is
# missing or older than the lockfile; afterwards everything is offline (npm's cache is
# ~/.npm). npm warns that @waku/* ask for node >= 22: they run on Node 20.
JS_INTEROP := tests/js-interop
JS_INSTALLED := $(JS_INTEROP)/node_modules/.package-lock.json

.PHONY: js-toolchain js-interop-deps js-interop-test example-js-chat

js-toolchain:
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "error: node or npm not found: install Node.js 20 or later (https://nodejs.org/en/download)"; exit 1; }

$(JS_INSTALLED): $(JS_INTEROP)/package-lock.json $(JS_INTEROP)/package.json | js-toolchain
	cd $(JS_INTEROP) && npm ci --prefer-offline --no-audit --no-fund
	@touch $@

js-interop-deps: js-toolchain $(JS_INSTALLED)

# libstorage against the live @waku/sds peer (also part of rust-test).
js-interop-test: toolchain js-interop-deps
	$(CARGO) test --test js_interop

# A libstorage robot (Go binding, "wire_format": "spec") chatting with a @waku/sds node.
example-js-chat: build go-toolchain $(TREE_PC_DIR)/storage.pc js-interop-deps
	cd examples/go && $(GO_ENV) $(GO) run ./jschat

# ---- Installing ------------------------------------------------------------------------

# `make install` only copies what `make` built (no cargo: `sudo make install` is safe).
LIBDIR ?= $(PREFIX)/lib
BINDIR ?= $(PREFIX)/bin
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR ?= $(LIBDIR)/cmake/storage
STRIP ?= strip
VERSION_MAJOR := $(word 1,$(subst ., ,$(VERSION)))
VERSION_MINOR := $(word 2,$(subst ., ,$(VERSION)))
# @NAME@ placeholders of storage.pc.in and cmake/*.in.
SUBST := sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	-e 's|@VERSION_MAJOR@|$(VERSION_MAJOR)|g' -e 's|@VERSION_MINOR@|$(VERSION_MINOR)|g'
INSTALLED := $(LIBDIR)/libstorage.so.$(VERSION) $(LIBDIR)/libstorage.so.0 \
	$(LIBDIR)/libstorage.so $(LIBDIR)/libstorage.a $(INCLUDEDIR)/storage.h \
	$(INCLUDEDIR)/libsds.h $(PKGCONFIGDIR)/storage.pc $(CMAKEDIR)/storage-config.cmake \
	$(CMAKEDIR)/storage-config-version.cmake $(BINDIR)/storagectl

.PHONY: uninstall

install:
	@test -f $(LIB_DIR)/libstorage.so -a -f $(PUBLIC_A) -a -f $(LIB_DIR)/storagectl || \
		{ echo "error: nothing built in $(LIB_DIR): run make first"; exit 1; }
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(CMAKEDIR) $(DESTDIR)$(BINDIR)
	install -m 0755 $(LIB_DIR)/storagectl $(DESTDIR)$(BINDIR)/storagectl
	$(STRIP) $(DESTDIR)$(BINDIR)/storagectl
	install -m 0755 $(LIB_DIR)/libstorage.so $(DESTDIR)$(LIBDIR)/libstorage.so.$(VERSION)
	$(STRIP) --strip-unneeded $(DESTDIR)$(LIBDIR)/libstorage.so.$(VERSION)
	ln -sf libstorage.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libstorage.so.0
	ln -sf libstorage.so.0 $(DESTDIR)$(LIBDIR)/libstorage.so
	install -m 0644 $(PUBLIC_A) $(DESTDIR)$(LIBDIR)/libstorage.a
	install -m 0644 include/storage.h include/libsds.h $(DESTDIR)$(INCLUDEDIR)/
	$(SUBST) storage.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/storage.pc
	$(SUBST) cmake/storage-config.cmake.in > $(DESTDIR)$(CMAKEDIR)/storage-config.cmake
	$(SUBST) cmake/storage-config-version.cmake.in \
		> $(DESTDIR)$(CMAKEDIR)/storage-config-version.cmake

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(CMAKEDIR) 2>/dev/null

# A new user's path, outside the tree: install to a temporary prefix, then build and run
# a two-participant program in C and C++ through pkg-config and through CMake.
.PHONY: install-test
install-test: build
	tests/install/run.sh

clean:
	$(CARGO) clean

# C ping-pong benchmark of the native and libsds APIs (-O2, no sanitizers), run with 2 000,
# 10 000 and 50 000 messages.
BENCH_C_DIR := $(TARGET_DIR)/c-bench

$(BENCH_C_DIR)/pingpong: benches/c/pingpong.c include/storage.h include/libsds.h build
	@mkdir -p $(BENCH_C_DIR)
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -Iinclude -pthread $< -o $@ -L$(LIB_DIR) -lstorage \
		-Wl,-rpath,$(LIB_PATH)

.PHONY: bench-c
bench-c: $(BENCH_C_DIR)/pingpong
	$(BENCH_C_DIR)/pingpong 2000
	$(BENCH_C_DIR)/pingpong 10000
	$(BENCH_C_DIR)/pingpong 50000

# ---- Fuzzing ------------------------------------------------------------------------

# Every cargo-fuzz target in fuzz/ (one per decoder), FUZZ_TIME seconds each; fails at
# the end if any target found something. Needs a nightly toolchain and cargo-fuzz;
# installs both through rustup and cargo if missing.
FUZZ_TIME ?= 20
FUZZ_TARGETS := $(patsubst fuzz/fuzz_targets/%.rs,%,$(wildcard fuzz/fuzz_targets/*.rs))

.PHONY: fuzz fuzz-toolchain

fuzz-toolchain:
	@command -v rustup >/dev/null || { echo "error: make fuzz needs rustup (https://rustup.rs) for a nightly toolchain"; exit 1; }
	@rustup run nightly rustc --version >/dev/null 2>&1 || { \
		echo "make fuzz: installing the nightly toolchain (cargo-fuzz needs it)"; \
		rustup toolchain install nightly --profile minimal || { echo "error: could not install nightly with rustup"; exit 1; }; }
	@rustup run nightly cargo fuzz --version >/dev/null 2>&1 || { \
		echo "make fuzz: installing cargo-fuzz (cargo install cargo-fuzz --locked)"; \
		$(CARGO) install cargo-fuzz --locked || { echo "error: could not install cargo-fuzz"; exit 1; }; }

fuzz: fuzz-toolchain
	cd fuzz && rustup run nightly cargo fuzz build
	@failed=""; for t in $(FUZZ_TARGETS); do \
		echo "== fuzz $$t ($(FUZZ_TIME) s)"; \
		(cd fuzz && rustup run nightly cargo fuzz run $$t -- -max_total_time=$(FUZZ_TIME)) || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "error: make fuzz: findings in:$$failed (inputs in fuzz/artifacts/)"; exit 1; fi
