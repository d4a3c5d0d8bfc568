#!/usr/bin/env bash
# Builds the real backends from the Go module proxy, at the versions docker-compose.yml runs:
#   otelcol      the OpenTelemetry Collector, by the official Collector Builder from
#                otelcol-builder.yaml (OTELCOL_VERSION)
#   jaeger       Jaeger v2, github.com/jaegertracing/jaeger/cmd/jaeger (JAEGER_VERSION)
#   nats-server  github.com/nats-io/nats-server/v2 (NATS_VERSION)
#   prometheus   github.com/prometheus/prometheus/cmd/prometheus (PROMETHEUS_VERSION), from its
#                own module (prometheus/go.mod), without the cloud service discoveries
#   kustomize    sigs.k8s.io/kustomize/kustomize/v5 (pinned below): builds deploy/k8s's overlays
#   docker-compose  Docker Compose v2, github.com/docker/compose/v5/cmd (compose/go.mod): the
#                `docker compose` CLI plugin the compose test runs
# Every binary is static (CGO_ENABLED=0, as upstream builds its images), so the same build runs
# on this machine and in the stand-in images of tools/docker/standins.sh.
# The versions are read from the repository's .env, the file compose reads its image tags from.
# Each binary is built once into a cache folder outside the clone, keyed by what it is built
# from; a warm run builds nothing. The LAST line printed is a folder holding them all.
#
#   build.sh                 all six
#   build.sh nats-server     only the ones named (otelcol, jaeger, prometheus, nats-server,
#                            kustomize, docker-compose)
#
#   BACKENDS_CACHE_DIR  where the builds are kept (default ~/.cache/distributed-tracing/backends)
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${BACKENDS_CACHE_DIR:-$HOME/.cache/distributed-tracing/backends}
mkdir -p "$cache"

# KEY=VALUE from .env (compose's syntax; no shell evaluation).
env_value() {
    local value
    value=$(sed -n "s/^$1=//p" "$root/.env" | tail -n 1)
    [ -n "$value" ] || { echo "build.sh: $1 is not set in .env" >&2; exit 1; }
    printf '%s' "$value"
}
otelcol_version=$(env_value OTELCOL_VERSION)
jaeger_version=$(env_value JAEGER_VERSION)
nats_version=$(env_value NATS_VERSION)
nats_version=${nats_version%-alpine}
prometheus_version=$(env_value PROMETHEUS_VERSION)
# Prometheus 3.N.P is Go module v0.3NN.P.
if [[ ! $prometheus_version =~ ^3\.([0-9]+)\.([0-9]+)$ ]]; then
    echo "build.sh: PROMETHEUS_VERSION must be a Prometheus 3 release (3.N.P), not '$prometheus_version'" >&2
    exit 1
fi
prometheus_module_version="v0.$((300 + BASH_REMATCH[1])).${BASH_REMATCH[2]}"

# Not an image compose runs, so not in .env: the version the Kubernetes manifests are built with.
kustomize_version=v5.8.1

# Jaeger tags every v2 release twice, v2.N.P and v1.(N+63).P on the same commit, and its Go
# module path has no /v2, so the Go module proxy knows it only by the v1 tag.
if [[ ! $jaeger_version =~ ^2\.([0-9]+)\.([0-9]+)$ ]]; then
    echo "build.sh: JAEGER_VERSION must be a Jaeger v2 release (2.N.P), not '$jaeger_version'" >&2
    exit 1
fi
jaeger_module_version="v1.$((BASH_REMATCH[1] + 63)).${BASH_REMATCH[2]}"

# A build is keyed by what it is built from: the Go toolchain (as the jaeger module selects it),
# this script's build steps (the functions below that run Go), and the inputs named at each
# build.
go_version=$(cd "$here/jaeger" && go env GOVERSION)
# No C: the binaries need no libc, so they run FROM scratch or busybox as upstream's images do.
export CGO_ENABLED=0
fingerprint() {
    { printf '%s\n' "$go_version" "$CGO_ENABLED" "$(declare -f build_otelcol build_jaeger build_compose build_prometheus require_pinned go_install)" "$@"; } |
        sha256sum | cut -c1-16
}

# One build at a time per cache folder: test binaries may call this script concurrently.
exec 9>"$cache/.lock"
flock 9
# Holding the lock, any half-built folder is left over from a run that was stopped; builds not
# used for 30 days (other versions, an older Go) go too.
rm -rf "$cache"/*.tmp
find "$cache" -mindepth 1 -maxdepth 1 -type d -mtime +30 -exec rm -rf {} +

# build NAME KEY COMMAND...: runs COMMAND with $out set to an empty folder unless NAME was
# already built under KEY; echoes the binary's path.
build() {
    local name=$1 key=$2
    shift 2
    local dir="$cache/$name-$key"
    if [ ! -x "$dir/$name" ]; then
        echo "building $name ($dir); the first build takes minutes" >&2
        local started=$SECONDS
        rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
        out="$dir.tmp" "$@" >&2
        [ -x "$dir.tmp/$name" ] || { echo "build.sh: $name was not built" >&2; exit 1; }
        rm -rf "$dir" && mv "$dir.tmp" "$dir"
        echo "built $name in $((SECONDS - started)) s" >&2
    fi
    touch "$dir" # in use: kept by the 30-day clean-up
    printf '%s' "$dir/$name"
}

build_otelcol() {
    local builder_dir="$cache/ocb-v$otelcol_version"
    if [ ! -x "$builder_dir/builder" ]; then
        GOBIN="$builder_dir" go install "go.opentelemetry.io/collector/cmd/builder@v$otelcol_version"
    fi
    # The manifest as written, with the output folder set here.
    sed "s|^dist:|dist:\n  output_path: $out/src|" "$here/otelcol-builder.yaml" > "$out/manifest.yaml"
    "$builder_dir/builder" --config "$out/manifest.yaml" --ldflags="-s -w"
    mv "$out/src/otelcol" "$out/otelcol"
    rm -rf "$out/src"
}

go_install() { GOBIN="$out" go install -trimpath -ldflags="-s -w" "$1"; }

# require_pinned DIR MODULE TOOL VERSION SETTING: refuse a DIR/go.mod that names another version
# of MODULE than .env's SETTING does, so compose's image and the tested binary cannot drift apart.
require_pinned() {
    local dir=$1 module=$2 tool=$3 version=$4 setting=$5 pinned
    pinned=$(cd "$here/$dir" && go list -m -f '{{.Version}}' "$module")
    if [ "$pinned" != "$version" ]; then
        echo "build.sh: tools/backends/$dir/go.mod has $module $pinned, .env $setting is $version;" \
            "run: (cd tools/backends/$dir && go get -tool $tool@$version && go mod tidy)" >&2
        exit 1
    fi
}

# Jaeger from its own module (jaeger/go.mod, go.sum).
build_jaeger() {
    require_pinned jaeger github.com/jaegertracing/jaeger github.com/jaegertracing/jaeger/cmd/jaeger \
        "$jaeger_module_version" "JAEGER_VERSION=$jaeger_version"
    (cd "$here/jaeger" && go build -trimpath -ldflags="-s -w" -o "$out/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger)
}

# Prometheus from its own module, as Jaeger; `remove_all_sd` leaves the cloud service discoveries
# (AWS, Azure, GCE, Kubernetes, ...) out: static targets are all this project scrapes, and the
# build takes a fraction of the time. A module build has no web UI assets; the API is complete.
build_prometheus() {
    require_pinned prometheus github.com/prometheus/prometheus \
        github.com/prometheus/prometheus/cmd/prometheus \
        "$prometheus_module_version" "PROMETHEUS_VERSION=$prometheus_version"
    (cd "$here/prometheus" && go build -trimpath -tags remove_all_sd \
        -ldflags="-s -w -X github.com/prometheus/common/version.Version=$prometheus_version" \
        -o "$out/prometheus" github.com/prometheus/prometheus/cmd/prometheus)
}

# Docker Compose from its own module, as Jaeger: the version is the one compose/go.mod pins, and
# it reports itself as that version (`docker compose version`).
build_compose() {
    local pinned
    pinned=$(cd "$here/compose" && go list -m -f '{{.Version}}' github.com/docker/compose/v5)
    (cd "$here/compose" && go build -trimpath \
        -ldflags="-s -w -X github.com/docker/compose/v5/internal.Version=$pinned" \
        -o "$out/docker-compose" github.com/docker/compose/v5/cmd)
}

# build_named NAME: builds one backend; echoes its path.
build_named() {
    case $1 in
        otelcol) build otelcol "$(fingerprint "$otelcol_version" "$(cat "$here/otelcol-builder.yaml")")" \
            build_otelcol ;;
        jaeger) build jaeger "$(fingerprint "$jaeger_module_version" "$(cat "$here/jaeger/go.mod" "$here/jaeger/go.sum")")" \
            build_jaeger ;;
        prometheus) build prometheus "$(fingerprint "$prometheus_module_version" "$(cat "$here/prometheus/go.mod" "$here/prometheus/go.sum")")" \
            build_prometheus ;;
        nats-server) build nats-server "$(fingerprint "$nats_version")" \
            go_install "github.com/nats-io/nats-server/v2@v$nats_version" ;;
        kustomize) build kustomize "$(fingerprint "$kustomize_version")" \
            go_install "sigs.k8s.io/kustomize/kustomize/v5@$kustomize_version" ;;
        docker-compose) build docker-compose "$(fingerprint "$(cat "$here/compose/go.mod" "$here/compose/go.sum")")" \
            build_compose ;;
        *) echo "build.sh: no backend '$1' (otelcol, jaeger, prometheus, nats-server, kustomize, docker-compose)" >&2; exit 1 ;;
    esac
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(otelcol jaeger prometheus nats-server kustomize docker-compose)
paths=()
for name in "${names[@]}"; do
    paths+=("$(build_named "$name")")
done

# The folder that holds them, named after what it holds.
set_dir="$cache/set-$(fingerprint "${paths[@]}")"
if [ ! -d "$set_dir" ]; then
    mkdir -p "$set_dir.tmp"
    for path in "${paths[@]}"; do
        ln -sf "$path" "$set_dir.tmp/$(basename "$path")"
    done
    mv "$set_dir.tmp" "$set_dir"
fi
touch "$set_dir" 2>/dev/null || true
[ ! -d "$cache/ocb-v$otelcol_version" ] || touch "$cache/ocb-v$otelcol_version"
echo "$set_dir"
