# Stand-in for jaegertracing/jaeger:${JAEGER_VERSION}: the Go-module build of cmd/jaeger at that
# release (static), with upstream's path, entry point, user and environment, on busybox instead
# of alpine. A Go-module build has no UI assets: the query API on 16686 answers as upstream's,
# the web UI does not load.
FROM distributed-tracing-standin/busybox:local
ARG JAEGER_VERSION
ENV JAEGER_LISTEN_HOST=0.0.0.0
COPY jaeger /cmd/jaeger/jaeger-linux
EXPOSE 4317 4318 5778 5779 9411 13132 13133 14250 14268 16686
VOLUME ["/tmp"]
USER 10001
ENTRYPOINT ["/cmd/jaeger/jaeger-linux"]
LABEL org.opencontainers.image.description="stand-in for jaegertracing/jaeger:${JAEGER_VERSION} (tools/docker/standins.sh)"
