#!/usr/bin/env bash
# Every test, from a fresh machine: installs what the tests need, builds the real backends,
# checks formatting, lints and the OpenTelemetry version set, then runs both tiers —
#   the fast tier   `cargo test` (every member but tests/full): unit tests, doc examples, and
#                   end-to-end tests of the six services against an in-process OTLP receiver
#                   and a real nats-server;
#   the full tier   tests/full: the real Collector and Jaeger, Kubernetes manifests, compose
#                   files, a browser, schemathesis, a NATS cluster, the local stack, the load
#                   tool, and last `docker compose up --build` on a real Docker engine.
# This is what CI runs (.ci/run). Needs Rust, Go 1.26 or newer and Python 3; as root (or with
# sudo) it installs Debian's chromium, docker.io, debootstrap and a C compiler when they are
# missing, and starts dockerd when no Docker engine answers.
#
#   tools/test.sh          both tiers
#   tools/test.sh fast     the fast tier only (what `cargo test` runs), with the checks
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tier=${1:-all}
case $tier in all | fast) ;; *) echo "usage: tools/test.sh [fast]" >&2; exit 2 ;; esac

step() { printf '\n== %s\n' "$*"; }
elapsed() { echo "$(($(date +%s) - $1)) s"; }

step "system packages"
# chromium: the trace viewer's browser test. docker.io (the engine) and debootstrap (the
# stand-in base image): the compose test. A C compiler builds SQLite (sqlx) and aws-lc (rustls).
packages=()
if [ "$tier" = all ]; then
    command -v chromium >/dev/null 2>&1 || packages+=(chromium)
    docker info >/dev/null 2>&1 || command -v dockerd >/dev/null 2>&1 || packages+=(docker.io)
    command -v debootstrap >/dev/null 2>&1 || packages+=(debootstrap)
    # valgrind: the instruction-count script's smoke run.
    command -v valgrind >/dev/null 2>&1 || packages+=(valgrind)
    # openssl: the script makes the two services' identities with it (docs/service-identity.md).
    command -v openssl >/dev/null 2>&1 || packages+=(openssl)
fi
command -v cc >/dev/null 2>&1 || packages+=(gcc libc6-dev make perl)
if [ ${#packages[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        sudo=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo=(sudo)
    else
        echo "missing: ${packages[*]}; install them (Debian: apt-get install ${packages[*]}) and run again"
        exit 1
    fi
    "${sudo[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${packages[@]}"
fi
cargo --version
rustc --version
if ! command -v go >/dev/null 2>&1; then
    echo "Go is not installed: nats-server, the OpenTelemetry Collector, Jaeger and kustomize the"
    echo "tests run are built from the Go module proxy (Go 1.26 or newer; Debian's golang is too old)."
    exit 1
fi
go version
go_minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
if [ "$go_minor" -lt 26 ]; then
    echo "Go 1.26 or newer is needed to build the backends (the Collector v0.161 modules ask for it)"
    exit 1
fi

if [ "$tier" = all ] && ! docker info >/dev/null 2>&1; then
    step "a Docker engine for the compose test"
    [ "$(id -u)" -eq 0 ] || { echo "no Docker engine answers: start one (dockerd) and run again"; exit 1; }
    dockerd_log=${XDG_STATE_HOME:-$HOME/.local/state}/distributed-tracing/dockerd.log
    mkdir -p "$(dirname "$dockerd_log")"
    nohup dockerd > "$dockerd_log" 2>&1 &
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info --format 'Docker engine {{.ServerVersion}}, {{.Driver}}' ||
        { tail -n 20 "$dockerd_log"; exit 1; }
fi

if [ "$tier" = all ]; then
    step "schemathesis and kubernetes-validate (PyPI): the public API's test, the manifests' schemas"
    # Pinned; their commands go where this Python puts scripts, which may not be on PATH yet.
    # kubernetes-validate ships the Kubernetes JSON schemas: deploy/k8s is validated offline.
    pip_user=()
    [ "$(id -u)" -eq 0 ] || [ -n "${VIRTUAL_ENV:-}" ] || pip_user=(--user)
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "${pip_user[@]}" \
        "schemathesis==4.32.5" "kubernetes-validate==1.37.0"
    scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
    user_scripts=$(python3 -c 'import site, os; print(os.path.join(site.getuserbase(), "bin"))')
    export PATH="$scripts:$user_scripts:$PATH"
    st --version
    kubernetes-validate --version
fi

images_pid=
images_go=$(mktemp -u)
if [ "$tier" = all ]; then
    step "the service images (in the background, once cargo has built everything)"
    # The compose test's `up --build` then finds every layer built: the stand-in base images
    # (where no registry is reachable: mostly downloads, so made at once) and the six services,
    # one at a time as compose's classic builder would, so the one build of the workspace is
    # shared. The image build waits for cargo's builds to end: it then shares the two cores only
    # with the tests, which mostly wait on their services.
    images_started=$(date +%s)
    images_log=$(mktemp)
    (
        bash tools/docker/standins.sh base
        while [ ! -e "$images_go" ]; do sleep 1; done
        images_started=$(date +%s)
        for service in $(sed -n 's/^ *SERVICE: *//p' docker-compose.yml); do
            docker build -q --build-arg "SERVICE=$service" -t "distributed-tracing/$service:dev" .
        done
        echo "service images built in $(elapsed "$images_started")"
    ) > "$images_log" 2>&1 &
    images_pid=$!
fi
images_ready() {
    local code=0
    wait "$images_pid" || code=$?
    grep -v -e DEPRECATED -e 'buildx' -e '^ *$' "$images_log" || true
    if [ "$code" -eq 0 ]; then
        echo "stand-ins and images ready $(elapsed "$images_started") after they were started"
    else
        echo "building the images failed ($code); the compose test builds what is missing itself"
    fi
}

step "backends from the Go module proxy (in the background, while cargo builds)"
# Built once into ~/.cache/distributed-tracing/backends (Go's caches are under the home folder
# too): all four about 15 minutes cold on 2 cores, nats-server alone about one; warm, a second.
# Much of a cold build is downloading modules, so it overlaps the Rust build below.
backends_started=$(date +%s)
backends=(nats-server)
[ "$tier" = fast ] || backends=()
backends_log=$(mktemp)
bash tools/backends/build.sh "${backends[@]}" > "$backends_log" 2> "$backends_log.err" &
backends_pid=$!
# A run stopped early (a lint failed) stops the build too.
trap 'kill "$backends_pid" $images_pid 2>/dev/null || true; rm -f "$images_go"' EXIT
backends_ready() { # waits for the backends build, then sets BACKENDS_DIR
    local code=0
    wait "$backends_pid" || code=$?
    cat "$backends_log.err"
    if [ "$code" -ne 0 ]; then
        echo "building the backends failed ($code)"
        exit "$code"
    fi
    BACKENDS_DIR=$(tail -n 1 "$backends_log")
    export BACKENDS_DIR
    echo "backends in $BACKENDS_DIR (ready $(elapsed "$backends_started") after the build started)"
    "$BACKENDS_DIR/nats-server" --version
}

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "one OpenTelemetry version set"
# Two versions of an opentelemetry crate in one build compile fine and silently break
# propagation (spans of one version never see the context of the other).
duplicates=$(cargo tree --workspace --locked --edges normal,build,dev --prefix none --format '{p}' \
    | awk '$1 ~ /^(opentelemetry|tracing-opentelemetry)/ { print $1, $2 }' \
    | sort -u | awk '{ print $1 }' | uniq -d)
if [ -n "$duplicates" ]; then
    echo "more than one version of: $duplicates"
    cargo tree --workspace --duplicates --edges normal,build,dev
    exit 1
fi
echo "ok"

step "the tracing kit without its features: no transport"
# The propagation a reader may take alone must not pull in a web framework or a client.
transports=$(cargo tree -p shared-tracing --no-default-features --edges normal --prefix none \
    --format '{p}' | awk '{ print $1 }' | grep -E '^(axum|reqwest|async-nats|hyper|sqlx)$' || true)
if [ -n "$transports" ]; then
    echo "shared-tracing --no-default-features depends on: $transports"
    exit 1
fi
for feature in otlp http-server http-client nats sqlx; do
    cargo check -q -p shared-tracing --no-default-features --features "$feature" --locked
done
echo "ok"

log=$(mktemp)
status=0
run() { # run LABEL COMMAND...: runs a test command, its output kept for the summary.
    local started
    started=$(date +%s)
    set +e
    "${@:2}" 2>&1 | tee -a "$log"
    local code=${PIPESTATUS[0]}
    set -e
    echo "$1: $(elapsed "$started")" | tee -a "$log.times"
    [ "$code" -eq 0 ] || status=$code
}

step "fast tier: cargo test"
started=$(date +%s)
cargo test --locked --no-run
echo "fast tier built in $(elapsed "$started")"
if [ "$tier" = all ]; then
    started=$(date +%s)
    cargo test --workspace --locked --no-run
    echo "full tier built in $(elapsed "$started")"
fi
touch "$images_go"
backends_ready
run "fast tier (built beforehand)" cargo test --locked --no-fail-fast

if [ "$tier" = all ]; then
    step "full tier: tests/full"
    # Its test targets alone, so no test runs twice; with --workspace, so every shared crate
    # resolves as in the fast tier and nothing is compiled again.
    full_tests=()
    for file in tests/full/tests/*.rs; do
        [ "$(basename "$file")" = compose.rs ] || full_tests+=(--test "$(basename "$file" .rs)")
    done
    run "full tier" cargo test --workspace --locked --no-fail-fast "${full_tests[@]}"

    step "full tier: the instruction counts (tools/callgrind), a short run on the debug build"
    # Keeps the script and its table working; the figures of a debug build mean nothing.
    callgrind_smoke() {
        local table
        table=$(REQUESTS=5 WARMUP=2 BIN_DIR="${CARGO_TARGET_DIR:-target}/debug" \
            OUT="${CARGO_TARGET_DIR:-target}/callgrind-smoke" bash tools/callgrind/run.sh) || return 1
        echo "$table" | head -n 8
        echo "$table" | grep -q '^| \*\*both\*\* |'
    }
    run "callgrind smoke run" callgrind_smoke

    step "full tier: docker compose up --build, on the Docker engine"
    # Last, once the images are built; its footprint table is printed (--nocapture).
    images_ready
    run "compose" cargo test --workspace --locked --test compose -- --nocapture
fi

# Cargo ends on the (empty) doc-test runs; close with the total over every test binary.
echo
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 } END { printf "tests: %d passed, %d failed, %d ignored\n", passed, failed, ignored }' "$log"
cat "$log.times"
# A test that does not run proves nothing: an #[ignore]d one fails the run, named.
ignored=$(grep -E '^test .* \.\.\. ignored' "$log" || true)
if [ -n "$ignored" ]; then
    echo "ignored tests (a test that does not run proves nothing):"
    echo "$ignored"
    [ "$status" -ne 0 ] || status=1
fi
exit "$status"
