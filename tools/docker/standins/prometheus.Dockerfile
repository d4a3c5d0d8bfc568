# Stand-in for prom/prometheus:v${PROMETHEUS_VERSION}: the Go-module build of cmd/prometheus at
# that release (static, without the cloud service discoveries), with upstream's paths, entry
# point, command and user, on busybox as upstream's. A Go-module build has no web UI assets: the
# API on 9090 answers as upstream's, the web UI does not load.
FROM distributed-tracing-standin/busybox:local
ARG PROMETHEUS_VERSION
COPY prometheus /bin/prometheus
RUN mkdir -p /etc/prometheus /prometheus && chown -R 65534:65534 /etc/prometheus /prometheus
EXPOSE 9090
VOLUME ["/prometheus"]
WORKDIR /prometheus
USER 65534
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
LABEL org.opencontainers.image.description="stand-in for prom/prometheus:v${PROMETHEUS_VERSION} (tools/docker/standins.sh)"
