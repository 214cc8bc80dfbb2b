#!/bin/sh
# Makes the installable static library: libstorage.a with only the C API global.
#   localize-static.sh IN.a OUT.a
# Every member is linked into one relocatable object (ld -r), so the library's internal
# references (Rust code to its bundled SQLite and zstd) are resolved inside it; then every
# global symbol except storage_* and Sds* is made local. A program can then link
# libstorage.a beside a system SQLite or zstd and get the system one for its own calls.
set -eu
in=$1 out=$2
work=$(mktemp -d /tmp/storage-static-XXXXXX)
trap 'rm -rf "$work"' EXIT
ld -r --whole-archive "$in" -o "$work/all.o"
readelf -sW "$work/all.o" | awk '$5 == "GLOBAL" && $7 != "UND" { print $8 }' |
    grep -E '^(storage_|Sds)' | sort -u > "$work/keep.txt"
test -s "$work/keep.txt"
objcopy --keep-global-symbols="$work/keep.txt" --strip-debug "$work/all.o" "$work/libstorage.o"
rm -f "$out"
# Some binutils ar builds abort on Rust objects through their LLVM plugin; llvm-ar does not.
ar=$(command -v llvm-ar || echo ar)
"$ar" rcs "$out" "$work/libstorage.o"
