#!/bin/sh
# The app server's entrypoint, shared by the local lab's slots and the Docker image (one source).
#   entrypoint.sh [RELEASE_SRC]   (default: /app/release/src, the image's release)
# Settings come from lab/gunicorn.conf.py; the 12-factor environment (DATABASE_URL, SECRET_KEY,
# APP_RELEASE, APP_SLOT, STATIC_ROOT, GUNICORN_BIND ...) is set by the lab or by docker-compose.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=${1:-/app/release/src}
exec "${PYTHON:-python}" -m gunicorn -c "$here/gunicorn.conf.py" --chdir "$src" bigfoot.wsgi:application
