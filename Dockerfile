# healthapi in a container: a build stage with the Rust toolchain, and a small runtime stage
# (Debian slim, the binary, OpenSSL's library) that runs as an unprivileged user with its data
# in the volume /data. See docs/guide/operations.md, "Containers".

FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The registry and the target folder are cached between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin healthapi \
 && cp target/release/healthapi /usr/local/bin/healthapi

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin healthapi \
 && mkdir /data && chown healthapi:healthapi /data
COPY --from=build /usr/local/bin/healthapi /usr/local/bin/healthapi
USER healthapi
WORKDIR /data
# The SQLite file, the audit key and image blobs live in /data unless DATABASE_URL,
# HEALTHAPI_AUDIT_KEY or HEALTHAPI_BLOB_URL say otherwise. Without a terminal, the first
# admin's generated password is written to /data/initial-admin-password (mode 0600).
ENV HEALTHAPI_DATA_DIR=/data \
    HEALTHAPI_BIND=0.0.0.0:8080 \
    HEALTHAPI_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
# Ready once migrated and serving; bash's /dev/tcp spares the image an HTTP client.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 && head -1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["healthapi"]
CMD ["serve"]
