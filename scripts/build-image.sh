#!/usr/bin/env bash
# Builds the crashlab image offline: static release binaries on the host, then the
# Dockerfile's "local" stage (FROM scratch, legacy builder, no registry needed).
#
# usage: scripts/build-image.sh [TAG]        (default crashlab/crashserver:latest)
#   VERSION=v2 scripts/build-image.sh crashlab/crashserver:v2   sets the reported version
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-crashlab/crashserver:latest}
version=${VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)}
target=x86_64-unknown-linux-gnu

echo "==> building static binaries (release, $target, crt-static)"
RUSTFLAGS='-C target-feature=+crt-static' cargo build --quiet --release --locked \
    --target "$target" -p crashserver -p chaos-runner
mkdir -p dist
cp "target/$target/release/crashserver" "target/$target/release/chaos-runner" dist/

echo "==> docker build --target local -t $tag (version $version)"
docker build --quiet --target local --build-arg "VERSION=$version" -t "$tag" . >/dev/null
size=$(docker image inspect -f '{{.Size}}' "$tag")
echo "==> built $tag: $size bytes"
