# Local stand-in for postgres:15, built by scripts/compose_engine.sh where no image registry is
# reachable: Debian bookworm's PostgreSQL 15 with an entry point that honours the official
# image's POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB and PGDATA.
ARG BASE
FROM ${BASE}
RUN mkdir -p /etc/postgresql-common \
    && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
LABEL org.welfare-portal.stand-in="postgres:15"
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
