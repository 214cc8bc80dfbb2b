#!/usr/bin/env bash
# The second half of `make demo`: the fleet demo's recordings go up to a local bucket.
# Usage: demo-upload.sh RECORDINGS_ROOT STORAGECTL WEED
# With SeaweedFS built (`make s3-server`), starts `weed mini` on free loopback ports in a
# scratch folder, uploads every sealed recording with storagectl (creating the bucket),
# reconciles to show the bucket and the files agree, and stops the server. Without it,
# says how to enable this part.
set -euo pipefail
root="$1"
storagectl="$2"
weed="$3"

if [ ! -x "$weed" ]; then
    cat <<MSG

Uploads to object storage: skipped, no local S3 server here.
  make s3-server   builds SeaweedFS once (about 10 minutes on 2 cores; cached under ~/.cache/libstorage)
  make demo        then shows these recordings going up to a local bucket.
Against a bucket of your own: AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \\
  $storagectl upload --root $root --endpoint https://... --bucket NAME
MSG
    exit 0
fi

# A port p with p and p + 10000 (SeaweedFS's gRPC port) free, below the ephemeral range.
taken=""
free_port() {
    local port
    while :; do
        port=$((10000 + RANDOM % 12000))
        case " $taken " in *" $port "*) continue ;; esac
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null &&
            ! (exec 3<>"/dev/tcp/127.0.0.1/$((port + 10000))") 2>/dev/null; then

            echo "$port"
            return
        fi
    done
}
master=$(free_port); taken="$taken $master"
filer=$(free_port); taken="$taken $filer"
volume=$(free_port); taken="$taken $volume"
s3=$(free_port); taken="$taken $s3"
admin=$(free_port)

data="$(mktemp -d /tmp/demo-s3.XXXXXX)"
export AWS_ACCESS_KEY_ID=demo-fleet
export AWS_SECRET_ACCESS_KEY=demo-fleet-secret-key-0123456789
cat > "$data/s3.json" <<JSON
{"identities":[{"name":"demo","credentials":[{"accessKey":"$AWS_ACCESS_KEY_ID","secretKey":"$AWS_SECRET_ACCESS_KEY"}],"actions":["Admin","Read","List","Write"]}]}
JSON
mkdir -p "$data/data"
"$weed" mini -dir="$data/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="$master" -filer.port="$filer" -volume.port="$volume" -s3.port="$s3" \
    -admin.port="$admin" -s3.config="$data/s3.json" -webdav=false -admin.ui=false \
    -admin.port.legacy=0 -s3.port.iceberg=0 -s3.port.lance=0 -master.telemetry=false \
    -s3.autoCreateBucket=false >"$data/weed.log" 2>&1 &
weed_pid=$!
trap 'kill -9 $weed_pid 2>/dev/null; wait $weed_pid 2>/dev/null || true; rm -rf "$data"' EXIT

endpoint="http://127.0.0.1:$s3"
target=(--root "$root" --endpoint "$endpoint" --bucket fleet-recordings --prefix demo)
echo
echo "Uploads: SeaweedFS serves S3 at $endpoint (a scratch bucket, removed at the end)"
# The first tries may meet a server still starting: uploads are idempotent, so try again.
for attempt in $(seq 1 60); do
    if "$storagectl" upload "${target[@]}" --create-bucket >"$data/upload.out" 2>&1; then
        break
    fi
    if [ "$attempt" = 60 ]; then
        cat "$data/upload.out" >&2
        echo "error: the local S3 server did not take the upload (log: $data/weed.log)" >&2
        exit 1
    fi
    sleep 0.5
done
echo "\$ storagectl upload --endpoint $endpoint --bucket fleet-recordings --prefix demo"
cat "$data/upload.out"
echo "\$ storagectl list   (UPLOADED: chunks marked in the manifest)"
"$storagectl" list --root "$root"
echo "\$ storagectl reconcile ...   (the bucket, the files and the marks agree; nothing to do)"
"$storagectl" reconcile "${target[@]}"
