#!/bin/sh
# What `docker compose --profile workbench up workbench` runs (the workbench image's CMD): the
# local lab inside the container (`lab up`: PostgreSQL, blue and green, nginx), then JupyterLab on
# the container's port 8888, which compose publishes on 127.0.0.1 only (token: JUPYTER_TOKEN in
# .env). Ctrl-C / `docker compose stop`: JupyterLab stops, then `lab down` stops the lab, so the
# database in the volume is shut down cleanly.
set -eu
lab up
first=$(python -c 'from lab.jupyter import FIRST_CHAPTER; print(FIRST_CHAPTER)')
set -- --no-browser --ip=0.0.0.0 --port=8888 --port-retries=0 \
    --ServerApp.root_dir=/app "--ServerApp.default_url=/lab/tree/$first"
[ "$(id -u)" != 0 ] || set -- "$@" --allow-root
python -m jupyterlab "$@" &
jupyter=$!
trap 'kill -TERM "$jupyter" 2>/dev/null || true' INT TERM
# the first wait returns early when a signal arrives; the second waits for JupyterLab's exit
wait "$jupyter" || true
wait "$jupyter" 2>/dev/null || true
lab down
