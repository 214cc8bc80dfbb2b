#!/usr/bin/env bash
# Builds SeaweedFS's `weed` (the S3 server the upload tests run) at VERSION into OUT.
# The module comes from the Go module proxy; `go install` refuses it (it has replace
# directives), so it is built inside its downloaded folder. Several minutes on 2 cores,
# once per machine: OUT lives in a cache outside the clone.
set -euo pipefail
version="$1"
out="$2"
module="github.com/seaweedfs/seaweedfs"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
go mod init seaweedfs-build >/dev/null 2>&1
dir="$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -d "$dir" ] || { echo "error: could not download $module@$version" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
echo "building SeaweedFS $version into $out (once per machine; several minutes)"
(cd "$dir" && go build -o "$out.tmp" ./weed)
mv "$out.tmp" "$out"
