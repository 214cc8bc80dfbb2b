#!/bin/sh
# A new user's path, outside the source tree: `make install` to a temporary prefix, then
# the two-participant program (tests/install/two_participants.c) built against the
# installed files only, as C and C++, through pkg-config and through CMake (shared and
# static), as Go from another module (a replace directive, PKG_CONFIG_PATH at the
# installed prefix), and as Python (the binding pip-installed in a fresh virtualenv,
# finding the installed library through pkg-config), and run. Then `make uninstall`
# must leave the prefix empty.
set -eu
tree=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/storage-install-test-XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
make -C "$tree" --no-print-directory install PREFIX="$prefix" >/dev/null
# Staged installs (DESTDIR) put the same files under DESTDIR.
make -C "$tree" --no-print-directory install PREFIX=/opt/storage DESTDIR="$work/stage" >/dev/null
test -f "$work/stage/opt/storage/lib/pkgconfig/storage.pc"
grep -q '^libdir=/opt/storage/lib$' "$work/stage/opt/storage/lib/pkgconfig/storage.pc"

app="$work/app"
mkdir -p "$app"
cp "$tree/tests/install/two_participants.c" "$tree/tests/install/CMakeLists.txt" "$app/"
cp "$tree/tests/install/two_participants.c" "$app/two_participants.cpp"
cd "$app"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
export LD_LIBRARY_PATH="$prefix/lib"

echo "== storagectl, the operator's tool"
"$prefix/bin/storagectl" --version
mkdir -p "$work/recordings"
"$prefix/bin/storagectl" list --root "$work/recordings" --json | grep -q '"recordings":\[\]'

echo "== C through pkg-config"
${CC:-cc} -std=c11 -Wall -Wextra -Werror two_participants.c -o c_pc \
    $(pkg-config --cflags --libs storage) -pthread
./c_pc
ldd ./c_pc | grep -q "$prefix/lib/libstorage.so.0"
echo "== C++ through pkg-config"
${CXX:-c++} -std=c++17 -Wall -Wextra -Werror two_participants.cpp -o cxx_pc \
    $(pkg-config --cflags --libs storage) -pthread
./cxx_pc
echo "== C, static, through pkg-config"
${CC:-cc} -std=c11 two_participants.c -o c_static $(pkg-config --cflags storage) \
    "$prefix/lib/libstorage.a" $(pkg-config --libs-only-l --static storage | sed 's/-lstorage//') -pthread
./c_static
if ldd ./c_static | grep -q libstorage; then echo "error: c_static loads libstorage.so"; exit 1; fi
if [ -f /usr/include/sqlite3.h ]; then
    echo "== C, static, beside the system SQLite"
    bad=$(readelf -sW "$prefix/lib/libstorage.a" | awk '$5 == "GLOBAL" && $7 != "UND" { print $8 }' |
        grep -vE '^(storage_|Sds)' || true)
    if [ -n "$bad" ]; then echo "error: libstorage.a exports: $(echo $bad | head -c 300)"; exit 1; fi
    ${CC:-cc} -std=c11 "$tree/tests/install/beside_sqlite.c" -o beside_sqlite \
        $(pkg-config --cflags storage) "$prefix/lib/libstorage.a" -lsqlite3 \
        $(pkg-config --libs-only-l --static storage | sed 's/-lstorage//') -pthread
    ./beside_sqlite
else
    echo "skipped: static beside the system SQLite (no sqlite3.h)"
fi
if command -v cmake >/dev/null; then
    echo "== C, C++ and static C through CMake"
    cmake -S . -B build -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
    cmake --build build >/dev/null
    ./build/two_participants_c
    ./build/two_participants_cxx
    ./build/two_participants_static
else
    echo "skipped: CMake (cmake not installed)"
fi
if command -v go >/dev/null; then
    echo "== Go, another module using the binding through a replace directive"
    mkdir -p "$work/goapp"
    cp "$tree/examples/go/chat.go" "$work/goapp/"
    cat > "$work/goapp/go.mod" <<GOMOD
module example.com/chat

go 1.22

require github.com/libstorage/libstorage/bindings/go v0.0.0

replace github.com/libstorage/libstorage/bindings/go => $tree/bindings/go
GOMOD
    (cd "$work/goapp" && GOFLAGS=-mod=mod go build -o chat . && ./chat >/dev/null)
    ldd "$work/goapp/chat" | grep -q "$prefix/lib/libstorage.so.0"
else
    echo "skipped: Go (go not installed)"
fi
if command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null; then
    echo "== Python, the binding pip-installed in a fresh virtualenv, the installed library"
    mkdir -p "$work/pysrc"
    cp -r "$tree/bindings/python/pyproject.toml" "$tree/bindings/python/setup.py" \
        "$tree/bindings/python/LICENSE-MIT" "$tree/bindings/python/LICENSE-APACHE" \
        "$tree/bindings/python/libstorage_sds" "$work/pysrc/"
    rm -rf "$work/pysrc/libstorage_sds/__pycache__"
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install --quiet --disable-pip-version-check "$work/pysrc"
    cp "$tree/examples/python/chat.py" "$app/"
    # Found through pkg-config (PKG_CONFIG_PATH at the prefix), not the tree or ld's path.
    env -u STORAGE_LIB -u PYTHONPATH -u LD_LIBRARY_PATH -u CARGO_TARGET_DIR "$work/venv/bin/python" -c \
        'import libstorage_sds._lib as l, sys; sys.exit(0 if l.lib._name == sys.argv[1] else "loaded " + l.lib._name)' \
        "$prefix/lib/libstorage.so.0"
    env -u STORAGE_LIB -u PYTHONPATH -u LD_LIBRARY_PATH -u CARGO_TARGET_DIR "$work/venv/bin/python" chat.py >/dev/null
else
    echo "skipped: Python (python3 with venv not installed)"
fi
size=$(stat -L -c %s "$prefix/lib/libstorage.so.0")
echo "installed libstorage.so: $size bytes (stripped)"

make -C "$tree" --no-print-directory uninstall PREFIX="$prefix" >/dev/null
left=$(find "$prefix" -type f -o -type l)
if [ -n "$left" ]; then echo "error: make uninstall left: $left"; exit 1; fi
echo "install test passed"
