#!/usr/bin/env bash
# Builds the crashlab image offline: one static multi-call binary on the host (crashserver
# and chaos-runner in one file, symlinked under both names), then the Dockerfile's "local"
# stage (FROM scratch, legacy builder, no registry needed).
#
# usage: scripts/build-image.sh [TAG]        (default crashlab/crashserver:latest)
#   VERSION=v2 scripts/build-image.sh crashlab/crashserver:v2   sets the reported version
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-crashlab/crashserver:latest}
version=${VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)}
target=x86_64-unknown-linux-gnu

echo "==> building the static multi-call binary (profile image, $target, crt-static)"
RUSTFLAGS='-C target-feature=+crt-static' cargo build --quiet --profile image --locked \
    --target "$target" -p chaos-runner --features multicall --bin crashlab
rm -rf dist/image && mkdir -p dist/image
cp "target/$target/image/crashlab" dist/image/crashlab
ln -s crashlab dist/image/crashserver
ln -s crashlab dist/image/chaos-runner

echo "==> docker build --target local -t $tag (version $version)"
log=$(mktemp)
if ! docker build --quiet --target local --build-arg "VERSION=$version" -t "$tag" . >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
size=$(docker image inspect -f '{{.Size}}' "$tag")
echo "==> built $tag: $size bytes"
