#!/bin/sh
# The stand-in postgres image's entrypoint (docker/standin/postgres.Dockerfile): the part of the
# official image's docker-entrypoint.sh the kit relies on. First start (empty $PGDATA): initdb
# with POSTGRES_USER and POSTGRES_PASSWORD, password (scram) logins over TCP from anywhere,
# create POSTGRES_DB, all while listening on the socket only; then the server on 0.0.0.0:5432.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
    mkdir -p "$PGDATA" && chmod 0700 "$PGDATA"
    pw=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pw"
    initdb --pgdata="$PGDATA" --username="$user" --pwfile="$pw" --encoding=UTF8 --locale=C --no-sync \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pw"
    printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
    if [ "$db" != postgres ]; then
        pg_ctl --pgdata="$PGDATA" --wait --silent \
            -o "-c listen_addresses='' -c unix_socket_directories=/tmp" start
        createdb --host=/tmp --username="$user" "$db"
        pg_ctl --pgdata="$PGDATA" --wait --silent --mode=fast stop
    fi
    echo "stand-in postgres: initialised $PGDATA (user $user, database $db)"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp "$@"
