# Stand-in for nats:${NATS_VERSION}: nats-server built from the Go module proxy at that release
# (static), with upstream's paths, entry point script, default configuration and ports, on
# busybox instead of alpine (the health check's `wget` is busybox's in both).
FROM distributed-tracing-standin/busybox:local
ARG NATS_VERSION
COPY nats-server /usr/local/bin/nats-server
COPY nats-server.conf /etc/nats/nats-server.conf
COPY nats-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
EXPOSE 4222 8222 6222
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["nats-server", "--config", "/etc/nats/nats-server.conf"]
LABEL org.opencontainers.image.description="stand-in for nats:${NATS_VERSION} (tools/docker/standins.sh)"
