# syntax=docker/dockerfile:1
# One image per service, from one Dockerfile:
#   docker build --build-arg SERVICE=order-service -t order-service .
# SERVICE is a binary name: gateway, user-service, auth-service, order-service,
# inventory-service or payment-service.

ARG RUST_VERSION=1.95

# cargo-chef computes a "recipe" of the workspace's dependencies, so they are built in a layer
# of their own that stays cached until Cargo.toml or Cargo.lock change.
FROM rust:${RUST_VERSION}-slim-bookworm AS chef
# make: jemalloc, the services' allocator, is built from source (the slim image has gcc only).
RUN apt-get update && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
# Dependencies of the whole workspace: one layer that all six service images share.
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
# All six services in one build, before SERVICE is read: this layer is the same for every image,
# so it is built once (BuildKit shares the stage; the classic builder finds it in its cache when
# the images are built one after another: COMPOSE_PARALLEL_LIMIT=1).
RUN cargo build --release --locked --bin gateway --bin user-service --bin auth-service \
        --bin order-service --bin inventory-service --bin payment-service --bin healthcheck \
        --bin service-identities --bin tracecheck \
    && mkdir -p /data /identities

FROM builder AS service
ARG SERVICE
RUN test -n "${SERVICE}" && test -x "target/release/${SERVICE}" \
    || (echo "build with --build-arg SERVICE=<binary name>, not '${SERVICE}'" && exit 1)
RUN cp "target/release/${SERVICE}" /app/service

# Distroless: glibc and CA certificates, no shell, no package manager, a non-root user (65532).
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
ARG SERVICE
LABEL org.opencontainers.image.title="${SERVICE}" \
      org.opencontainers.image.description="Distributed tracing reference service"
COPY --from=service /app/service /usr/local/bin/service
# A tiny probe of GET /healthz on LISTEN_ADDR's port: there is no curl or wget in this image.
COPY --from=builder /app/target/release/healthcheck /usr/local/bin/healthcheck
# compose's one-shot `identities` step and its trace-quality service run these from the
# gateway's image (`service-identities /identities`, `tracecheck --watch`).
COPY --from=builder /app/target/release/service-identities /usr/local/bin/service-identities
COPY --from=builder /app/target/release/tracecheck /usr/local/bin/tracecheck
# SQLite databases live here; a named volume mounted on it inherits the non-root owner.
COPY --from=builder --chown=65532:65532 /data /data
# Where compose's `identities` volume is mounted: a new volume takes this owner (nonroot).
COPY --from=builder --chown=65532:65532 /identities /identities
USER nonroot
ENV RUST_LOG=info
# The image's one service listens on the port of LISTEN_ADDR, whose default is the service's
# own: gateway 8080, user-service 8081, auth-service 8082, order-service 8083,
# inventory-service 8084, payment-service 8085. A Dockerfile cannot map SERVICE to a port
# without a shell, so the range documents all six (compose publishes only the gateway's).
EXPOSE 8080-8085
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=6 \
    CMD ["/usr/local/bin/healthcheck"]
ENTRYPOINT ["/usr/local/bin/service"]
