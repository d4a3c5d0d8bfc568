# Stand-in for gcr.io/distroless/cc-debian12:nonroot: Debian bookworm's glibc, libgcc and
# libstdc++ (the packages' own files), CA certificates, /etc/passwd with root, nobody and
# nonroot (65532), /tmp; no shell, no package manager. Upstream also ships tzdata, which the
# services do not read.
FROM debian:bookworm-slim AS files
# Bookworm has a merged /usr: /lib is a link to usr/lib, and the packages name files by their
# old paths, so each is copied into its directory's real path, under the same links.
RUN mkdir -p /out/etc /out/tmp /out/home/nonroot /out/etc/ssl/certs /out/usr \
    && for link in bin sbin lib lib64; do \
           [ ! -L "/$link" ] || ln -s "$(readlink "/$link")" "/out/$link"; \
       done \
    && dpkg -L libc6 libgcc-s1 libstdc++6 | while read -r path; do \
           if [ -f "$path" ] || [ -L "$path" ]; then \
               dir=$(readlink -f "$(dirname "$path")"); \
               mkdir -p "/out$dir" && cp -a "$path" "/out$dir/"; \
           fi; \
       done \
    && printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > /out/etc/passwd \
    && printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' > /out/etc/group \
    && cp /etc/nsswitch.conf /etc/os-release /out/etc/ \
    && chmod 1777 /out/tmp && chown 65532:65532 /out/home/nonroot
COPY certs/ca-certificates.crt /out/etc/ssl/certs/ca-certificates.crt

FROM scratch
COPY --from=files /out/ /
USER 65532:65532
WORKDIR /home/nonroot
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
LABEL org.opencontainers.image.description="stand-in for gcr.io/distroless/cc-debian12:nonroot (tools/docker/standins.sh)"
