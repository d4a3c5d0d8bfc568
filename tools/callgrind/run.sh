#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: a fixed number of stock lookups
# through the gateway to inventory-service (GET /api/inventory/{sku}), with tracing off (the SDK
# disabled), at 100% sampling, at 10%, and with OTEL_TRACES_SAMPLER=always_off. Instruction
# counts do not depend on what else the machine is doing, so one run of each decides; the
# breakdown says where the difference goes (summarize.py groups functions by crate).
#
#   tools/callgrind/run.sh                  build release binaries, count, print the table
#   REQUESTS=500 tools/callgrind/run.sh     more requests per mode (default 200)
#   BIN_DIR=dir tools/callgrind/run.sh      use these binaries (gateway, inventory-service)
#
# Needs valgrind (Debian: valgrind), curl and python3. The raw callgrind files stay in
# target/callgrind/ for callgrind_annotate or KCachegrind.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
requests=${REQUESTS:-200}
warmup=${WARMUP:-50}
out=${OUT:-target/callgrind}
bin_dir=${BIN_DIR:-}
modes=(untraced traced sampled_10 always_off)

for tool in valgrind callgrind_control curl python3 openssl; do
    command -v "$tool" >/dev/null || { echo "needs $tool (Debian: apt-get install valgrind curl openssl)"; exit 1; }
done
if [ -z "$bin_dir" ]; then
    echo "building the release binaries (minutes the first time)" >&2
    cargo build --release --locked -q --bin gateway --bin inventory-service
    bin_dir=${CARGO_TARGET_DIR:-target}/release
fi
rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d)
pids=()
stop_all() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

# A free port from the kernel.
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_healthy() { # URL: up to 120 s, as valgrind starts a process slowly
    for _ in $(seq 600); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done
    echo "$1 never answered" >&2
    return 1
}

# A span sink: answers every OTLP/HTTP export 200 with an empty response (no spans kept).
receiver_port=$(port)
python3 - "$receiver_port" > "$work/receiver.log" 2>&1 <<'EOF' &
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
EOF
receiver_pid=$!
# The gateway's identity, which inventory-service admits on GET /api/stock/{sku}
# (docs/service-identity.md); inventory-service needs a key of its own to start.
mkdir -p "$work/identities"
for service in gateway inventory-service; do
    openssl genpkey -algorithm ed25519 -out "$work/identities/$service.key" 2>/dev/null
    openssl pkey -in "$work/identities/$service.key" -pubout -out "$work/identities/$service.pub"
done
trap 'stop_all; kill "$receiver_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

for mode in "${modes[@]}"; do
    case $mode in
        untraced) telemetry=(OTEL_SDK_DISABLED=true) ;;
        traced) telemetry=(OTEL_TRACES_SAMPLER=parentbased_always_on) ;;
        sampled_10) telemetry=(OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.1) ;;
        always_off) telemetry=(OTEL_TRACES_SAMPLER=always_off) ;;
    esac
    common=(
        "${telemetry[@]}"
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$receiver_port"
        OTEL_BSP_SCHEDULE_DELAY=100
        RUST_LOG=info
        FAULT_INJECTION=false
        SERVICE_IDENTITY_DIR="$work/identities"
    )
    inventory_port=$(port)
    gateway_port=$(port)
    callgrind=(valgrind --tool=callgrind --instr-atstart=no --dump-instr=no)
    env "${common[@]}" LISTEN_ADDR="127.0.0.1:$inventory_port" \
        DATABASE_URL="sqlite:$work/$mode-inventory.db" NATS_URL=nats://127.0.0.1:1 \
        INVENTORY_CONSUMER=false \
        "${callgrind[@]}" --callgrind-out-file="$out/$mode.inventory-service.out" \
        "$bin_dir/inventory-service" > "$work/$mode-inventory.log" 2>&1 &
    pids+=($!)
    env "${common[@]}" LISTEN_ADDR="127.0.0.1:$gateway_port" \
        INVENTORY_SERVICE_URL="http://127.0.0.1:$inventory_port" \
        "${callgrind[@]}" --callgrind-out-file="$out/$mode.gateway.out" \
        "$bin_dir/gateway" > "$work/$mode-gateway.log" 2>&1 &
    pids+=($!)
    wait_healthy "http://127.0.0.1:$inventory_port/healthz"
    wait_healthy "http://127.0.0.1:$gateway_port/healthz"
    url="http://127.0.0.1:$gateway_port/api/inventory/widget"
    for _ in $(seq "$warmup"); do curl -sf -o /dev/null "$url"; done
    # Count from here: the requests, and the exports they cause (the batch processor runs every
    # 100 ms; the wait after the last request lets it send what they queued).
    for pid in "${pids[@]}"; do callgrind_control -i on "$pid" > /dev/null 2>&1; done
    for _ in $(seq "$requests"); do curl -sf -o /dev/null "$url"; done
    sleep 2
    for pid in "${pids[@]}"; do callgrind_control -i off "$pid" > /dev/null 2>&1; done
    stop_all
    echo "$mode: $requests requests counted" >&2
done

python3 tools/callgrind/summarize.py "$out" "$requests" "${modes[@]}"
