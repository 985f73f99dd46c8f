# crashlab image: crashserver (entrypoint) and chaos-runner, static binaries on scratch.
#
# Two ways to build, same final image:
#
#   scripts/build-image.sh chooses: on a Linux host of the engine's architecture with Rust,
#   offline (no registry): a static cargo build into dist/image/, then
#     docker build --target local -t crashlab/crashserver:latest .
#   anywhere else, the release stage below.
#
# Both programs are one static multi-call binary ("crashlab"), called through symlinks named
# crashserver and chaos-runner: they share most dependencies, so the image stays under 5.5 MB.
#
#   With a registry (compiles inside rust:1-bookworm; needs BuildKit, the default builder
#   since Docker 23, which skips the unused "local" stage):
#     docker build -t crashlab/crashserver:latest .

# ---- local: binaries built on the host into dist/ ---------------------------------------
FROM scratch AS local
ARG VERSION=dev
COPY dist/image/ /usr/local/bin/
ENV PORT=8080 VERSION=${VERSION} IMAGE_VERSION=${VERSION}
LABEL org.opencontainers.image.title="crashserver" \
      org.opencontainers.image.description="The scaling lecture's self-healing demo service, plus chaos-runner" \
      org.opencontainers.image.source="https://github.com/crashlab/crashlab" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}"
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=1s --timeout=1s --start-period=5s --retries=3 CMD ["/usr/local/bin/crashserver", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/crashserver"]

# ---- build: compile from source (registry users; any engine architecture) ---------------
# Compiles for the stage's own platform (x86_64 or aarch64, from uname): `docker build .`
# works on an amd64 or an arm64 engine, and `docker buildx build --platform
# linux/amd64,linux/arm64 .` runs this stage once per platform.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN target="$(uname -m)-unknown-linux-gnu" \
 && RUSTFLAGS='-C target-feature=+crt-static' cargo build --profile image --locked \
        --target "$target" -p crashlab --bin crashlab \
 && mkdir -p /out \
 && cp "target/$target/image/crashlab" /out/ \
 && ln -s crashlab /out/crashserver && ln -s crashlab /out/chaos-runner

# ---- release: the same image as "local", from the build stage ---------------------------
FROM scratch AS release
ARG VERSION=dev
COPY --from=build /out/ /usr/local/bin/
ENV PORT=8080 VERSION=${VERSION} IMAGE_VERSION=${VERSION}
LABEL org.opencontainers.image.title="crashserver" \
      org.opencontainers.image.description="The scaling lecture's self-healing demo service, plus chaos-runner" \
      org.opencontainers.image.source="https://github.com/crashlab/crashlab" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}"
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=1s --timeout=1s --start-period=5s --retries=3 CMD ["/usr/local/bin/crashserver", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/crashserver"]
