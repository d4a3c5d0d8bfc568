# Stand-in for otel/opentelemetry-collector-contrib:${OTELCOL_VERSION}: the Collector built by the
# official Collector Builder at that release from tools/backends/otelcol-builder.yaml — only the
# components the repository's configurations use — with upstream's path, entry point, default
# config path and user, FROM scratch with CA certificates as upstream's.
FROM scratch
ARG OTELCOL_VERSION
COPY certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY otelcol /otelcol-contrib
USER 10001:10001
EXPOSE 4317 4318 55678 55679
ENTRYPOINT ["/otelcol-contrib"]
CMD ["--config", "/etc/otelcol-contrib/config.yaml"]
LABEL org.opencontainers.image.description="stand-in for otel/opentelemetry-collector-contrib:${OTELCOL_VERSION} (tools/docker/standins.sh)"
