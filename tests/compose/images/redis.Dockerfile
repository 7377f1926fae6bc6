# Local stand-in for redis:7, built by scripts/compose_engine.sh where no image registry is
# reachable: Debian bookworm's Redis 7.0, working directory /data, protected mode off as in the
# official image (the server is reachable only on the compose network).
ARG BASE
FROM ${BASE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
LABEL org.welfare-portal.stand-in="redis:7"
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
