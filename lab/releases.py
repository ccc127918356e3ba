"""Releases: immutable builds of bigfoot_app/ (plus overlay folders), each with its own
collectstatic output. The local equivalent of a container image.

    releases/<name>/src/         the app's code: bigfoot_app/ with the overlays copied on top
    releases/<name>/static/      `collectstatic` output (hashed names, staticfiles.json manifest)
    releases/<name>/release.json name, overlays, content hash, build time
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import migrations_graph, procs
from .config import APP_SOURCE, LabConfig, cache_dir, read_json, write_json
from .errors import LabError
from .kinds import Kind
from .overlays import IGNORE, NOT_SOURCE, apply_overlay  # noqa: F401  (NOT_SOURCE: the build's and content_hash's)
from .overlays import SUFFIX as PATCH

NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


@dataclass
class Release:
    name: str
    path: Path

    @property
    def src(self) -> Path:
        return self.path / "src"

    @property
    def static(self) -> Path:
        return self.path / "static"

    @property
    def info(self) -> dict:
        return read_json(self.path / "release.json", {})

    def manage(self, *args: str, env: dict, timeout: float | None = None, check: bool = True,
               what: str | None = None) -> subprocess.CompletedProcess:
        """Run this release's manage.py (its own code, its own migrations)."""
        r = subprocess.run([sys.executable, "manage.py", *args], cwd=self.src, env=env, text=True,
                           capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise LabError(f"{what or 'manage.py ' + ' '.join(args)} failed for release {self.name}: "
                           f"{procs.last_error_line(r.stderr) or r.stderr.strip()[-300:] or 'exit ' + str(r.returncode)}",
                           kind=kind_of_failure(r.stderr))
        return r


def kind_of_failure(stderr: str) -> str:
    """Name a failed manage.py run from what Django and PostgreSQL printed (their words, not ours)."""
    if "lock timeout" in stderr:              # PostgreSQL: "canceling statement due to lock timeout"
        return Kind.LOCK_TIMEOUT
    if "Conflicting migrations" in stderr:   # Django: CommandError: Conflicting migrations detected
        return Kind.MIGRATION_CONFLICT
    last = procs.last_error_line(stderr) or ""
    if last.startswith("SyntaxError") or last.startswith("IndentationError"):
        return Kind.SYNTAX_ERROR
    if last.startswith(("ImportError", "ModuleNotFoundError")):
        return Kind.IMPORT_ERROR
    if "IrreversibleError" in last:
        return Kind.IRREVERSIBLE
    return Kind.STEP_FAILED


def _tree_files(root: Path):
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        skip = IGNORE(dirpath, dirnames + filenames)
        dirnames[:] = sorted(d for d in dirnames if d not in skip)
        for f in sorted(filenames):
            if f not in skip:
                yield Path(dirpath) / f


def content_hash(sources: list[Path]) -> str:
    """A digest of folders (every file, by relative path: an overlay's patches too) and single files."""
    h = hashlib.sha256()
    for root in sources:
        for f in _tree_files(root):
            h.update(str(f.relative_to(root) if f != root else f.name).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


class Releases:
    def __init__(self, cfg: LabConfig):
        self.cfg = cfg

    def get(self, name: str) -> Release:
        r = Release(name, self.cfg.releases_dir / name)
        if not (r.path / "release.json").exists():
            known = ", ".join(self.names()) or "none yet"
            raise LabError(f"no release named {name!r} (built: {known})",
                           f"build it first: `lab release build {name} --overlay DIR`")
        return r

    def names(self) -> list[str]:
        if not self.cfg.releases_dir.exists():
            return []
        return sorted(p.name for p in self.cfg.releases_dir.iterdir() if (p / "release.json").exists())

    def build(self, name: str, overlays: list[Path | str] = (), force: bool = False,
              base: Path = APP_SOURCE, log=print) -> Release:
        if not name or set(name) - NAME_OK:
            raise LabError(f"invalid release name {name!r}", "use letters, digits, '.', '_' or '-' (e.g. v2)")
        overlays = [Path(o).resolve() for o in overlays]
        for o in overlays:
            if not o.is_dir():
                raise LabError(f"overlay folder {o} does not exist")
        digest = content_hash([base, *overlays])
        release = Release(name, self.cfg.releases_dir / name)
        if (release.path / "release.json").exists():
            if release.info.get("content_hash") == digest:
                log(f"release {name} is already built from the same files (content {digest})")
                return release
            if not force:
                raise LabError(f"release {name} already exists with different files; releases are immutable",
                               f"pick a new name, or rebuild it with `lab release build {name} --force`")
        t0 = time.monotonic()
        staging = self.cfg.releases_dir / f".{name}.building"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(base, staging / "src", ignore=IGNORE)
        for o in overlays:
            # an overlay replaces or adds files, like a commit on top of the app; its X.patch files
            # are diffs against the app's X (lab/overlays.py)
            apply_overlay(o, staging / "src", bases=[base])
        self._check_python(staging / "src", [base, *overlays])
        migrations_graph.check_no_conflicts(staging / "src", shown_as=f"release {name}")
        candidate = Release(name, staging)
        # The same files always give the same collectstatic output: reuse it from the build cache
        # (checks rebuild the same releases over and over; collectstatic is most of a build).
        cached_static = build_cache_dir() / f"static-{digest}"
        if (cached_static / "staticfiles.json").exists():
            subprocess.run(["cp", "-a", str(cached_static), str(candidate.static)], check=True)
        else:
            env = build_env(static_root=candidate.static)
            candidate.manage("collectstatic", "--noinput", env=env, what="collectstatic")
            tmp = build_cache_dir() / f".static-{digest}-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(candidate.static, tmp)
            try:
                tmp.rename(cached_static)  # atomic: a half-copied cache entry is never seen
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)  # another process cached it first
        write_json(staging / "release.json", {
            "name": name, "overlays": [str(o) for o in overlays], "content_hash": digest,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "build_seconds": round(time.monotonic() - t0, 2),
        })
        if release.path.exists():
            shutil.rmtree(release.path)
        staging.rename(release.path)
        log(f"built release {name} in {time.monotonic() - t0:.1f}s "
            f"({len(list(release.static.rglob('*')))} static files, content {digest})")
        return release

    @staticmethod
    def _check_python(src: Path, layers: list[Path]) -> None:
        """Refuse a release with a syntax error, naming the file the learner edits and the line,
        before anything runs it."""
        for f in src.rglob("*.py"):
            try:
                compile(f.read_bytes(), str(f), "exec")
            except SyntaxError as e:
                rel = f.relative_to(src)
                origin = next((f for layer in reversed(layers) for f in (layer / rel, layer / f"{rel}{PATCH}")
                               if f.exists()), rel)
                raise LabError(f"syntax error in {display_path(origin)}, line {e.lineno}: {e.msg}",
                               "fix the file and build the release again", kind=Kind.SYNTAX_ERROR) from None

    def remove(self, name: str) -> None:
        shutil.rmtree(self.cfg.releases_dir / name, ignore_errors=True)


def build_cache_dir() -> Path:
    return cache_dir() / "builds"


def display_path(p: Path) -> str:
    """A path as the learner knows it: relative to the kit if inside it."""
    from .config import KIT_ROOT
    try:
        return str(Path(p).resolve().relative_to(KIT_ROOT))
    except ValueError:
        return str(p)


def build_env(static_root: Path, **extra: str) -> dict:
    """Environment for running a release's manage.py outside a slot (build, migrate)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "APP_"))}
    env.update({
        "DEBUG": "0", "SECRET_KEY": "build-time-only-not-secret", "STATIC_ROOT": str(static_root),
        "DATABASE_URL": env.get("DATABASE_URL", "postgresql://unused@127.0.0.1:1/unused"),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    env.update(extra)
    return env
