#!/usr/bin/env bash
# Stand-in images for every `FROM` and `image:` of the Dockerfile and docker-compose.yml, for a
# Docker engine that cannot reach an image registry (CI). Each is built from this machine's own
# sources of the same software at the same version, under the upstream name, so that
# `docker compose up --build` runs with the repository's files as they are:
#   debian:bookworm-slim                    debootstrap --variant=minbase from Debian's packages
#   rust:<RUST_VERSION>-slim-bookworm       standins/rust.Dockerfile: this machine's toolchain
#   gcr.io/distroless/cc-debian12:nonroot   standins/distroless-cc.Dockerfile
#   otel/opentelemetry-collector-contrib    standins/otelcol.Dockerfile: tools/backends' build
#   jaegertracing/jaeger                    standins/jaeger.Dockerfile: tools/backends' build
#   nats                                    standins/nats.Dockerfile: tools/backends' build
#   prom/prometheus                         standins/prometheus.Dockerfile: tools/backends' build
# Each Dockerfile says what differs from upstream. An image that already exists under its name
# and was not made here is left alone (a machine that can pull the real ones keeps them).
# Versions come from .env and the Dockerfile; the Go binaries from tools/backends/build.sh.
#
#   tools/docker/standins.sh            builds what is missing or out of date
#   tools/docker/standins.sh base       only what the Dockerfile builds FROM (no Go builds needed)
set -euo pipefail
shopt -s inherit_errexit
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
standins=$here/standins

env_value() { sed -n "s/^$1=//p" "$root/.env" | tail -n 1; }
rust_version=$(sed -n 's/^ARG RUST_VERSION=//p' "$root/Dockerfile")
jaeger_version=$(env_value JAEGER_VERSION)
otelcol_version=$(env_value OTELCOL_VERSION)
nats_version=$(env_value NATS_VERSION)
prometheus_version=$(env_value PROMETHEUS_VERSION)

made_here=distributed-tracing.standin
# is_current IMAGE KEY: the image exists, was made here, from inputs that hash to KEY.
is_current() {
    [ "$(docker image inspect -f "{{ index .Config.Labels \"$made_here\" }}" "$1" 2>/dev/null)" = "$2" ]
}
# pulled IMAGE: the image exists and was not made here: keep it.
pulled() {
    docker image inspect "$1" >/dev/null 2>&1 &&
        [ -z "$(docker image inspect -f "{{ index .Config.Labels \"$made_here\" }}" "$1")" ]
}
key() { { cat "$@" 2>/dev/null; declare -f build_image; } | sha256sum | cut -c1-16; }

# build_image IMAGE DOCKERFILE CONTEXT KEY [--build-arg ...]
build_image() {
    local image=$1 dockerfile=$2 context=$3 key=$4
    shift 4
    if pulled "$image"; then
        echo "$image: present, not a stand-in; kept"
    elif is_current "$image" "$key"; then
        echo "$image: stand-in up to date"
    else
        echo "$image: building the stand-in"
        docker build -q -f "$dockerfile" --label "$made_here=$key" "$@" -t "$image" "$context"
    fi
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/certs"
# The machine's CA bundle and its extra CAs: what this machine trusts, its containers trust.
cp /etc/ssl/certs/ca-certificates.crt "$work/certs/"
find /usr/local/share/ca-certificates -name '*.crt' -exec cp {} "$work/certs/" \; 2>/dev/null || true

# debian:bookworm-slim, the base of the others: Debian's minimal bootstrap, imported.
if pulled debian:bookworm-slim; then
    echo "debian:bookworm-slim: present, not a stand-in; kept"
elif ! docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
    echo "debian:bookworm-slim: debootstrap --variant=minbase bookworm (about a minute)"
    command -v debootstrap >/dev/null || { echo "standins.sh: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }
    debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >/dev/null
    rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
    tar -C "$work/rootfs" -c . | docker import \
        -c 'CMD ["bash"]' -c "LABEL $made_here=debootstrap" - debian:bookworm-slim >/dev/null
    rm -rf "$work/rootfs"
fi

# busybox, the base of the Jaeger and NATS stand-ins.
build_image distributed-tracing-standin/busybox:local "$standins/busybox.Dockerfile" "$work" \
    "$(key "$standins/busybox.Dockerfile" "$work/certs/ca-certificates.crt")"
build_image gcr.io/distroless/cc-debian12:nonroot "$standins/distroless-cc.Dockerfile" "$work" \
    "$(key "$standins/distroless-cc.Dockerfile" "$work/certs/ca-certificates.crt")"

# The Rust image: the machine's toolchain must be the Dockerfile's version.
sysroot=$(rustc --print sysroot)
host_version=$(rustc --version | cut -d' ' -f2)
case $host_version in
    "$rust_version" | "$rust_version".*) ;;
    *) echo "standins.sh: the Dockerfile builds with Rust $rust_version, this machine has $host_version" >&2; exit 1 ;;
esac
rust_key=$(key "$standins/rust.Dockerfile" "$work/certs/"* <(rustc -vV) <(cargo -V))
if ! pulled "rust:$rust_version-slim-bookworm" && ! is_current "rust:$rust_version-slim-bookworm" "$rust_key"; then
    # Hard links: the toolchain is not copied until docker reads it.
    mkdir -p "$work/toolchain/bin"
    cp -al "$sysroot/lib" "$work/toolchain/lib"
    for tool in cargo rustc rustdoc; do cp -al "$sysroot/bin/$tool" "$work/toolchain/bin/"; done
fi
build_image "rust:$rust_version-slim-bookworm" "$standins/rust.Dockerfile" "$work" "$rust_key" \
    --build-arg "TOOLCHAIN=$(basename "$sysroot")" --build-arg "RUST_VERSION=$host_version"
rm -rf "$work/toolchain"
[ "${1:-}" != base ] || exit 0

# The backends, from the Go builds the tests run.
backends=${BACKENDS_DIR:-$(bash "$root/tools/backends/build.sh" otelcol jaeger nats-server prometheus | tail -n 1)}
for name in otelcol jaeger nats-server prometheus; do
    cp -l "$(readlink -f "$backends/$name")" "$work/$name" 2>/dev/null ||
        cp "$(readlink -f "$backends/$name")" "$work/$name"
done
# Images FROM the busybox stand-in are as current as it is.
busybox_id=$(docker image inspect -f '{{.Id}}' distributed-tracing-standin/busybox:local)
cp "$standins/nats-server.conf" "$standins/nats-entrypoint.sh" "$work/"
build_image "otel/opentelemetry-collector-contrib:$otelcol_version" "$standins/otelcol.Dockerfile" "$work" \
    "$(key "$standins/otelcol.Dockerfile" "$work/otelcol")" --build-arg "OTELCOL_VERSION=$otelcol_version"
build_image "jaegertracing/jaeger:$jaeger_version" "$standins/jaeger.Dockerfile" "$work" \
    "$(key "$standins/jaeger.Dockerfile" "$work/jaeger" <(echo "$busybox_id"))" \
    --build-arg "JAEGER_VERSION=$jaeger_version"
build_image "nats:$nats_version" "$standins/nats.Dockerfile" "$work" \
    "$(key "$standins/nats.Dockerfile" "$work/nats-server" "$standins/nats-server.conf" "$standins/nats-entrypoint.sh" <(echo "$busybox_id"))" \
    --build-arg "NATS_VERSION=$nats_version"
build_image "prom/prometheus:v$prometheus_version" "$standins/prometheus.Dockerfile" "$work" \
    "$(key "$standins/prometheus.Dockerfile" "$work/prometheus" <(echo "$busybox_id"))" \
    --build-arg "PROMETHEUS_VERSION=$prometheus_version"
