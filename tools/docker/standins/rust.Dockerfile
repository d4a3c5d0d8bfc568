# Stand-in for rust:${RUST_VERSION}-slim-bookworm: Debian bookworm with gcc, libc6-dev and CA
# certificates (as upstream installs them), and the Rust toolchain of the machine that builds it
# (rustc, cargo and the standard library at the same version; no rustup, no docs) where upstream
# puts it. The machine's own extra CA certificates (a TLS-intercepting proxy's) are trusted, so
# cargo reaches crates.io from a build stage as it does on the machine.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY certs/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
ARG TOOLCHAIN
ARG RUST_VERSION
ENV RUSTUP_HOME=/usr/local/rustup \
    CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    RUST_VERSION=${RUST_VERSION}
COPY toolchain/ /usr/local/rustup/toolchains/${TOOLCHAIN}/
RUN mkdir -p /usr/local/cargo/bin \
    && for tool in cargo rustc rustdoc; do \
           ln -s "/usr/local/rustup/toolchains/${TOOLCHAIN}/bin/$tool" /usr/local/cargo/bin/$tool; \
       done \
    && cargo --version && rustc --version
LABEL org.opencontainers.image.description="stand-in for rust:${RUST_VERSION}-slim-bookworm (tools/docker/standins.sh)"
