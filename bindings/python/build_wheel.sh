#!/bin/sh
# Builds the platform wheel of the Python binding with libstorage.so inside:
#   build_wheel.sh PYTHON LIBRARY OUT_DIR
# The package is copied to a scratch folder with the stripped library beside it, built as
# a non-pure wheel, then tagged py3-none-manylinux_2_NN_<arch>, where 2.NN is the newest
# glibc symbol version the library needs (ctypes: any CPython 3 works).
set -eu
python=$1 library=$2 out=$(mkdir -p "$3" && cd "$3" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d /tmp/storage-wheel-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
cp -rL "$here/pyproject.toml" "$here/setup.py" "$here/LICENSE-MIT" "$here/LICENSE-APACHE" \
    "$here/libstorage_sds" "$scratch/"
rm -rf "$scratch/libstorage_sds/__pycache__"
cp "$library" "$scratch/libstorage_sds/libstorage.so"
strip --strip-unneeded "$scratch/libstorage_sds/libstorage.so"
glibc=$(objdump -T "$scratch/libstorage_sds/libstorage.so" | grep -o 'GLIBC_2\.[0-9]*' | sort -uV | tail -n 1)
arch=$(uname -m)
tag="manylinux_$(echo "${glibc#GLIBC_}" | tr . _)_$arch"
(cd "$scratch" && "$python" -m pip wheel --quiet --no-deps --no-build-isolation -w dist .)
built=$(ls "$scratch"/dist/*.whl)
"$python" -m wheel tags --remove --python-tag py3 --abi-tag none --platform-tag "$tag" "$built" >/dev/null
rm -f "$out"/*.whl
cp "$scratch"/dist/*.whl "$out/"
ls "$out"/*.whl
