# compact-service in a container: built with the official Swift 6.3 image, run on slim Debian with only
# the runtime libraries, as a non-root user, on 0.0.0.0:8080.
#
#   docker build -t compact-service .
#   docker run --rm -p 8080:8080 compact-service --demo-machine demo
#
# Machines that survive restarts: a volume at /var/lib/compact-service, the image's state directory.
#   docker run -p 8080:8080 -v compact-state:/var/lib/compact-service compact-service \
#       --state-dir /var/lib/compact-service --demo-machine demo

FROM swift:6.3-bookworm AS build
# libmicrohttpd-dev and pkg-config for the CHTTPD system-library target, zlib1g-dev for CZlib (the
# durable state's checksums and compression). Versions are not pinned: the
# image tracks Debian bookworm, whose security updates should be picked up on every build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmicrohttpd-dev zlib1g-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so they are cached while only sources change.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
# The Swift runtime and Foundation are linked statically, so the runtime image needs no toolchain.
RUN swift build -c release --product compact-service --static-swift-stdlib \
    && install -D "$(swift build -c release --show-bin-path)/compact-service" /out/compact-service

FROM debian:bookworm-slim
# What the binary links beyond glibc (`ldd` of the same static-stdlib build on bookworm): libmicrohttpd12
# (and the GnuTLS it pulls in), zlib1g, and libstdc++6 with libgcc-s1, which the statically linked Swift
# runtime still needs. bookworm-slim happens to carry libstdc++6 and zlib1g; they are named so that nothing
# rests on that.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmicrohttpd12 libstdc++6 zlib1g \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin compact \
    && mkdir -p /var/lib/compact-service \
    && chown 10001:10001 /var/lib/compact-service
COPY --from=build /out/compact-service /usr/local/bin/compact-service
USER 10001:10001
# The state directory for --state-dir (machines, journals, snapshots, jobs); mount a volume here.
VOLUME /var/lib/compact-service
EXPOSE 8080
# No curl in the image: bash's /dev/tcp asks /healthz and checks the status line.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && read -r -t 2 _ status _ <&3 && [ \"$status\" = 200 ]"]
# SIGTERM (docker stop) drains requests in flight and ends SSE streams, then exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["compact-service", "--host", "0.0.0.0", "--port", "8080"]
CMD []
