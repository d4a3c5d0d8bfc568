#!/usr/bin/env python3
"""Summarises the callgrind files tools/callgrind/run.sh writes: instructions per request of each
mode, for each service and for each group of functions (by the crate they belong to), as a
Markdown table. The output format is stable: scripts may diff it.

usage: summarize.py DIR REQUESTS MODE...
"""

import collections
import re
import sys

# The first group whose pattern matches a function's (demangled) name gets its cost. Order
# matters: the kit before the crates it wraps, the bridge before the SDK.
GROUPS = [
    ("the kit (shared_tracing)", r"shared_tracing::"),
    ("bridge (tracing_opentelemetry)", r"tracing_opentelemetry::"),
    ("OTLP encoding (opentelemetry_otlp, prost)", r"opentelemetry_otlp::|opentelemetry_proto::|prost::"),
    ("SDK (opentelemetry_sdk)", r"opentelemetry_sdk::"),
    ("API (opentelemetry)", r"\bopentelemetry::|opentelemetry_http::"),
    ("logs and span registry (tracing_subscriber, json_subscriber, sharded_slab)", r"tracing_subscriber::|json_subscriber::|sharded_slab::"),
    ("tracing core", r"\btracing_core::|\btracing::"),
    ("URL parsing (url, idna)", r"\burl::|\bidna::"),
    ("HTTP (hyper, reqwest, h2, http)", r"\bhyper::|hyper_util::|\breqwest::|\bh2::|\bhttp::|httparse::"),
    ("server framework (axum, tower, service_kit)", r"\baxum::|axum_core::|\btower::|tower_http::|service_kit::"),
    ("runtime (tokio)", r"\btokio::|mio::|parking_lot|futures_"),
    ("database (sqlx, SQLite)", r"sqlx|sqlite3|libsqlite"),
    ("allocator (jemalloc)", r"_rjem_|je_|jemalloc|tcache_|arena_|extent_|do_rallocx|__rust_alloc|__rust_dealloc|__rust_realloc|__rdl_|\bmalloc\b|\bfree\b"),
    ("serde, JSON", r"\bserde|serde_json::|ryu::|itoa::"),
    ("formatting (core::fmt)", r"core::fmt|alloc::fmt|as core::fmt::|fmt::Write>::write_str"),
    ("hashing (SipHash, hashbrown)", r"core::hash|hashbrown::"),
    ("kernel calls, libc", r"^(0x|\?\?\?)|libc|syscall|epoll|__memcpy|__memmove|__memset|memcpy|memmove|memset|strlen|Timespec"),
    ("std, core, alloc (generic code, monomorphised for every crate)", r"\bcore::|\balloc::|\bstd::"),
]
COMPILED = [(name, re.compile(pattern)) for name, pattern in GROUPS]
OTHER = "everything else"

# The stages a span goes through, each the inclusive cost (the function and all it calls) of the
# functions that make it up. None calls another of the list, so the rows do not overlap; what
# the rows leave out is the registry's and the per-layer filters' own bookkeeping, the log
# lines, and the work of the request itself.
STAGES = [
    ("bridge: span created (builder, attributes, parent)", r"OpenTelemetryLayer<S,T> as tracing_subscriber::layer::Layer<S>>::on_new_span$"),
    ("bridge: fields recorded later", r"OpenTelemetryLayer<S,T> as tracing_subscriber::layer::Layer<S>>::on_record$"),
    ("bridge: span entered and exited (each poll)", r"OpenTelemetryLayer<S,T> as tracing_subscriber::layer::Layer<S>>::on_(enter|exit)$"),
    ("bridge: events (logs inside spans)", r"OpenTelemetryLayer<S,T> as tracing_subscriber::layer::Layer<S>>::on_event$"),
    ("bridge: span closed (sampler, SDK span, processors)", r"OpenTelemetryLayer<S,T> as tracing_subscriber::layer::Layer<S>>::on_close$"),
    ("per-layer filters (which layer sees a span)", r"tracing_subscriber::layer::context::Context<S>::if_enabled_for$"),
    ("context injected (traceparent, tracestate, baggage)", r"TextMapCompositePropagator as opentelemetry::propagation::text_map_propagator::TextMapPropagator>::inject_context$"),
    ("context extracted", r"TextMapCompositePropagator as opentelemetry::propagation::text_map_propagator::TextMapPropagator>::extract_with_context$"),
    ("traceresponse header (reading the SERVER span's context starts its OpenTelemetry span)", r"shared_tracing::http_server::TraceResponse as tower_http::set_header::MakeHeaderValue<T>>::make_header_value$"),
    ("export: batch taken, encoded and sent (its own thread)", r"BatchSpanProcessor::get_spans_and_export$"),
]
COMPILED_STAGES = [(name, re.compile(pattern)) for name, pattern in STAGES]


def costs_of(path):
    """Self and inclusive cost (Ir) of every function in a callgrind file."""
    names = {}
    costs = collections.Counter()
    inclusive = collections.Counter()
    function = None
    after_calls = False
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith(("fn=", "cfn=")):
                match = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
                if not match:
                    continue
                ident, name = match.group(1), match.group(2)
                if name:
                    names[ident] = name
                if line.startswith("fn="):
                    function = names.get(ident, ident)
            elif line.startswith("calls="):
                after_calls = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if len(parts) < 2 or function is None:
                    continue
                if after_calls:
                    after_calls = False  # the inclusive cost of a call, not this function's
                    inclusive[function] += int(parts[1])
                    continue
                costs[function] += int(parts[1])
                inclusive[function] += int(parts[1])
    return costs, inclusive


def short(function):
    """A function's name for a Markdown table: closures shortened, pipes escaped."""
    name = re.sub(r"\{\{closure\}\}", "{closure}", function)
    return name.replace("|", "\\|")


def group(function):
    for name, pattern in COMPILED:
        if pattern.search(function):
            return name
    return OTHER


TOP = 30


def main():
    directory, requests, modes = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    services = ["gateway", "inventory-service"]
    by_group = {mode: collections.Counter() for mode in modes}
    by_service = {mode: collections.Counter() for mode in modes}
    by_function = {mode: collections.Counter() for mode in modes}
    by_stage = {mode: collections.Counter() for mode in modes}
    for mode in modes:
        for service in services:
            costs, inclusive = costs_of(f"{directory}/{mode}.{service}.out")
            for function, cost in costs.items():
                by_group[mode][group(function)] += cost
                by_service[mode][service] += cost
                by_function[mode][function] += cost
            for function, cost in inclusive.items():
                for name, pattern in COMPILED_STAGES:
                    if pattern.search(function):
                        by_stage[mode][name] += cost
    per = lambda value: value / requests
    base = modes[0]
    print(f"Instructions per request ({requests} requests per mode; both services)\n")
    print("| | " + " | ".join(modes) + " |")
    print("|---|" + "---:|" * len(modes))
    for service in services:
        cells = [f"{per(by_service[mode][service]):,.0f}" for mode in modes]
        print(f"| {service} | " + " | ".join(cells) + " |")
    totals = [sum(by_service[mode].values()) for mode in modes]
    print("| **both** | " + " | ".join(f"**{per(t):,.0f}**" for t in totals) + " |")
    print("| ratio to " + base + " | " + " | ".join(f"{t / totals[0]:.3f}" for t in totals) + " |")
    print()
    print(f"Where the instructions go (per request; difference to {base} last)\n")
    print("| group | " + " | ".join(modes) + " | " + " | ".join(f"Δ {m}" for m in modes[1:]) + " |")
    print("|---|" + "---:|" * (2 * len(modes) - 1))
    names = [name for name, _ in GROUPS] + [OTHER]
    for name in sorted(names, key=lambda n: -max(by_group[m][n] - by_group[base][n] for m in modes)):
        cells = [f"{per(by_group[mode][name]):,.0f}" for mode in modes]
        deltas = [f"{per(by_group[mode][name] - by_group[base][name]):+,.0f}" for mode in modes[1:]]
        print(f"| {name} | " + " | ".join(cells) + " | " + " | ".join(deltas) + " |")
    print()
    print("Where a span's cost goes, stage by stage (per request; inclusive: each row counts the "
          "functions it names and everything they call)\n")
    print("| stage | " + " | ".join(modes) + " |")
    print("|---|" + "---:|" * len(modes))
    for name, _ in STAGES:
        cells = [f"{per(by_stage[mode][name]):,.0f}" for mode in modes]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    print(f"The functions the differences are made of (per request, own instructions, the "
          f"{TOP} largest)\n")
    print("| function | " + " | ".join(f"Δ {m}" for m in modes[1:]) + " |")
    print("|---|" + "---:|" * (len(modes) - 1))
    functions = set().union(*(by_function[m] for m in modes))
    delta = lambda m, f: by_function[m][f] - by_function[base][f]
    ranked = sorted(functions, key=lambda f: -max((delta(m, f) for m in modes[1:]), default=0))
    for function in ranked[:TOP]:
        cells = [f"{per(delta(m, function)):+,.0f}" for m in modes[1:]]
        print(f"| `{short(function)}` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
