# The shell and wget that upstream's alpine-based images have (compose's health checks run
# `wget`): Debian's static busybox with its applets, plus CA certificates. Not an upstream
# image: the base of the Jaeger and NATS stand-ins.
FROM debian:bookworm-slim AS files
RUN apt-get update \
    && apt-get install -y --no-install-recommends busybox-static \
    && mkdir -p /out/bin /out/tmp /out/etc/ssl/certs \
    && cp /bin/busybox /out/bin/busybox \
    && for applet in $(/bin/busybox --list); do \
           [ "$applet" = busybox ] || ln -s busybox "/out/bin/$applet"; \
       done \
    && printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n' > /out/etc/passwd \
    && printf 'root:x:0:\nnobody:x:65534:\n' > /out/etc/group \
    && chmod 1777 /out/tmp
COPY certs/ca-certificates.crt /out/etc/ssl/certs/ca-certificates.crt

FROM scratch
COPY --from=files /out/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
