#!/usr/bin/env bash
# Builds the crashlab image wherever Docker runs, choosing how:
#   host:   on a Linux host of the engine's architecture with a Rust toolchain, one static
#           glibc multi-call binary (crashserver and chaos-runner in one file) is built for
#           that architecture's gnu target, then the Dockerfile's "local" stage (FROM scratch,
#           legacy builder or BuildKit, no registry needed);
#   docker: anywhere else (macOS or Windows with Docker Desktop, an arm64 engine on an x86_64
#           host, no Rust on the host), the Dockerfile's "release" stage compiles inside
#           rust:1-bookworm for the engine's own architecture (needs a registry, once).
#
# usage: scripts/build-image.sh [TAG]        (default crashlab/crashserver:latest)
#        scripts/build-image.sh --plan       print the path it would take, and why; build nothing
#   VERSION=v2 scripts/build-image.sh crashlab/crashserver:v2   sets the reported version
#
# Exit codes: 0 built; 1 the build failed; 2 no path can work here (it says what to install).
set -euo pipefail
cd "$(dirname "$0")/.."

# The facts the decision rests on; each can be given in the environment (tests fake them).
host_os() { echo "${CRASHLAB_HOST_OS:-$(uname -s)}"; }
host_arch() { echo "${CRASHLAB_HOST_ARCH:-$(uname -m)}"; }
engine_arch() { echo "${CRASHLAB_ENGINE_ARCH:-$(docker info -f '{{.Architecture}}' 2>/dev/null || true)}"; }
have_cargo() {
    if [ -n "${CRASHLAB_HAVE_CARGO:-}" ]; then [ "$CRASHLAB_HAVE_CARGO" = yes ]; return; fi
    command -v cargo >/dev/null 2>&1
}

# norm_arch ARCH: x86_64 or aarch64 for the names uname, Docker and Go use.
norm_arch() {
    case "$1" in
        x86_64|amd64) echo x86_64 ;;
        aarch64|arm64|armv8*) echo aarch64 ;;
        *) echo "$1" ;;
    esac
}

# build_plan: "host TRIPLE" or "docker", then a tab and the reason.
build_plan() {
    local os arch engine
    os=$(host_os)
    arch=$(norm_arch "$(host_arch)")
    engine=$(norm_arch "$(engine_arch)")
    if [ -z "$engine" ]; then
        printf 'none\tthe Docker Engine does not answer (is it running, may you use its socket?)\n'
    elif [ "$os" != Linux ]; then
        printf 'docker\tthe host is %s, not Linux: the image is compiled inside Docker for linux/%s\n' "$os" "$engine"
    elif [ "$arch" != "$engine" ]; then
        printf 'docker\tthe host is %s but the engine runs %s: compiled inside Docker for linux/%s\n' "$arch" "$engine" "$engine"
    elif ! have_cargo; then
        printf 'docker\tno Rust toolchain on this host: compiled inside Docker for linux/%s\n' "$engine"
    else
        printf 'host %s-unknown-linux-gnu\tLinux %s with Rust, as the engine: a static glibc build on the host\n' "$arch" "$arch"
    fi
}

if [ "${1:-}" = --plan ]; then
    build_plan
    exit 0
fi
tag=${1:-crashlab/crashserver:latest}
version=${VERSION:-$(awk -F'"' '/^version = /{ print $2; exit }' Cargo.toml)}
plan=$(build_plan)
path=${plan%%$'\t'*}
why=${plan#*$'\t'}
echo "==> build path: ${path%% *} ($why)"

build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT
case "$path" in
    none)
        echo "build-image.sh: cannot build: $why" >&2
        exit 2 ;;
    host*)
        target=${path#host }
        echo "==> building the static multi-call binary (profile image, $target, crt-static)"
        RUSTFLAGS='-C target-feature=+crt-static' cargo build --profile image --locked \
            --target "$target" -p crashlab --bin crashlab
        rm -rf dist/image && mkdir -p dist/image
        cp "target/$target/image/crashlab" dist/image/crashlab
        ln -s crashlab dist/image/crashserver
        ln -s crashlab dist/image/chaos-runner
        echo "==> docker build --target local -t $tag (version $version)"
        if ! docker build --quiet --target local --build-arg "VERSION=$version" -t "$tag" . >"$build_log" 2>&1; then
            tail -n 15 "$build_log" >&2
            exit 1
        fi ;;
    docker)
        echo "==> docker build --target release -t $tag (version $version; compiles inside rust:1-bookworm)"
        # The legacy builder also runs the "local" stage first: an empty dist/image/ will do.
        mkdir -p dist/image
        if ! docker build --target release --build-arg "VERSION=$version" -t "$tag" . >"$build_log" 2>&1; then
            tail -n 15 "$build_log" >&2
            if grep -qiE 'pull|resolve|registry|manifest|dial tcp|lookup' "$build_log"; then
                echo "build-image.sh: cannot build: the engine could not fetch rust:1-bookworm (no registry?) and this host cannot build itself ($why)." >&2
                echo "build-image.sh: either give the engine registry access once, or, on a Linux host of the engine's architecture, install Rust (rustup) and build again." >&2
                exit 2
            fi
            exit 1
        fi ;;
esac
size=$(docker image inspect -f '{{.Size}}' "$tag")
echo "==> built $tag: $size bytes"
