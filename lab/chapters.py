"""Run the chapters: each notebook headless, top to bottom, against a throwaway lab.

One executor for the kit's tests (tests/test_notebooks.py) and for the docs build (`make docs`,
which executes the chapters whose executed copy is missing, stale or failed, so a fresh clone's
site shows real plots and tables). The executed copy goes to docs/chapters/ (git-ignored) and says
when, on what machine and in how long it ran: the site prints that above the chapter. A run that
fails still writes its copy (the outputs up to the error) but marked failed, so it never counts as
up to date: the next `make docs` runs that chapter again. Its full error goes to
docs/chapters/.logs/<chapter>.log (git-ignored, not published).

    python -m lab.chapters            execute the missing, stale or failed chapters (what `make docs` does)
    python -m lab.chapters --all      execute every chapter again
    python -m lab.chapters 06 07      these chapters
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import shlex
import sys
import time
import traceback
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
NOTEBOOKS = KIT / "notebooks"
EXECUTED = KIT / "docs" / "chapters"
# the full error of a failed run, beside the executed copies: git-ignored (docs/chapters/.gitignore
# ignores everything), not published (mkdocs skips dot-folders), untouched by the docs build's sync
LOGS = ".logs"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def sources(notebooks: Path | None = None) -> list[Path]:
    return sorted((notebooks or NOTEBOOKS).glob("[0-9][0-9]_*.ipynb"))


def _cells_sha(cells: list) -> str:
    text = json.dumps([(c.get("cell_type"), "".join(c.get("source", ""))) for c in cells], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def source_sha(path: Path) -> str:
    """What an executed copy's outputs depend on: each cell's type and source, in order. Not the
    notebook's metadata (RISE slide types, tags for the slideshow): giving a chapter its slides
    doesn't make its executed copy stale."""
    return _cells_sha(json.loads(path.read_text()).get("cells", []))


def copy_state(source: Path, executed: Path | None = None) -> str:
    """'executed' if `executed` (docs/chapters/) holds a copy of this exact notebook from a run that
    succeeded; else why not: 'missing', 'unreadable', 'stale', 'failed' or 'not executed' (the
    output-free placeholder the docs build writes, lab/docs_gen.py sync_chapters).

    A copy counts only if it says its run succeeded ("ok": true) and is not marked "executed": false.
    A failed run's copy says both "ok": false and "executed": false (the key lab/docs_gen.py
    executed_state reads): it used to say only "ok": false, which no staleness check read, so a
    failed chapter counted as up to date and `make docs` never ran it again."""
    copy = (executed or EXECUTED) / source.name
    if not copy.exists():
        return "missing"
    try:
        meta = json.loads(copy.read_text()).get("metadata", {}).get("bigfoot_lab", {})
    except (OSError, ValueError):
        return "unreadable"
    if meta.get("source_sha256") != source_sha(source):
        return "stale"
    if meta.get("ok") is False:
        return "failed"
    if meta.get("ok") is not True or meta.get("executed") is False:
        return "not executed"
    return "executed"


def log_path(source: Path, executed: Path | None = None) -> Path:
    return (executed or EXECUTED) / LOGS / f"{source.stem}.log"


def machine() -> str:
    """One line a reader can compare with their own machine."""
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}")


def why_failed(error: BaseException, nb=None) -> str:
    """One line: where and why a run failed (the full text is in the log)."""
    from nbclient.exceptions import CellExecutionError
    if isinstance(error, CellExecutionError):
        cell = next((i for i, c in enumerate(nb.cells if nb is not None else [])
                     if any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
        value = (ANSI.sub("", error.evalue or "").strip().splitlines() or [""])[0]
        what = f"{error.ename}: {value}" if value else error.ename
        line = (f"cell {cell + 1} raised " if cell is not None else "a cell raised ") + what
    else:   # a cell timed out, the kernel died or did not start, ...
        first = next((l.strip() for l in ANSI.sub("", str(error)).splitlines() if l.strip()), "")
        line = f"{type(error).__name__}: {first}" if first else type(error).__name__
    return line if len(line) <= 200 else line[:199] + "…"


def _error_text(error: BaseException) -> str:
    from nbclient.exceptions import CellExecutionError
    if isinstance(error, CellExecutionError):
        return ANSI.sub("", str(error))       # the cell's source, its output and the kernel's traceback
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


def execute(path: Path, lab_home: Path, timeout: int = 300, executed: Path | None = None):
    """Run one chapter with LAB_HOME pointing its kernel at `lab_home` (as `lab up --jupyter` points
    JupyterLab's kernels at the learner's lab). Writes the executed copy to `executed` (default
    docs/chapters/) and returns (notebook, seconds, error or None).

    A run that fails (a cell raises, the kernel does not start, ...) returns the error and still
    writes its copy, with the outputs up to the error, marked "ok": false and
    "executed": false (so it never counts as up to date), and the full error to the chapter's log
    (log_path); a run that succeeds removes that log."""
    import tempfile

    import nbformat
    from jupyter_client import KernelManager
    from nbclient import NotebookClient

    executed = executed or EXECUTED
    # the copy's stamp is the source as it is read now, the one that runs: hashed after the run, a
    # notebook edited meanwhile would stamp the old run's outputs with the new source
    raw = path.read_text()
    sha = _cells_sha(json.loads(raw).get("cells", []))
    nb = nbformat.reads(raw, as_version=4)
    env_before = {k: os.environ.get(k) for k in ("LAB_HOME", "LAB_PORT_BASE")}
    os.environ["LAB_HOME"] = str(lab_home)
    os.environ.pop("LAB_PORT_BASE", None)
    # the kernel talks over local (unix) sockets in a folder of its own: on TCP, ipykernel prints a
    # warning per chapter that `make docs` would show seventeen times
    sockets = tempfile.TemporaryDirectory(prefix="bigfoot-kernel-")
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets.name) / "kernel"))
    client = NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    t0 = time.monotonic()
    error = None
    try:
        client.execute()
    except Exception as e:      # a failed run: a cell raised (CellExecutionError), the kernel did not
        error = e               # start in time (RuntimeError), CellTimeoutError, DeadKernelError (not
                                # CellExecutionErrors either); Ctrl-C and SIGTERM are not Exceptions
    finally:
        if km.has_kernel:           # nbclient shuts down only the kernels it created itself
            km.shutdown_kernel(now=True)
        sockets.cleanup()
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    took = time.monotonic() - t0
    ok = error is None
    stamp = time.strftime("%Y-%m-%d %H:%M %Z")
    nb.metadata["bigfoot_lab"] = {"source_sha256": sha, "executed_at": stamp, "machine": machine(),
                                  "seconds": round(took, 1), "ok": ok, "executed": ok}
    executed.mkdir(parents=True, exist_ok=True)
    log = log_path(path, executed)
    if ok:
        log.unlink(missing_ok=True)
    else:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"chapter {path.stem} ({path}) failed after {took:.1f} s on {stamp} ({machine()})\n"
                       f"{why_failed(error, nb)}\n\n{_error_text(error)}\n")
    # written whole, then renamed: the docs build may be reading the previous copy meanwhile
    tmp = executed / f".{path.name}.tmp"
    nbformat.write(nb, tmp)
    os.replace(tmp, executed / path.name)
    return nb, took, error


def _shown(p: Path) -> str:
    """A path as the reader can use it from where they ran the command."""
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def rerun_command(ids: list[str], a: argparse.Namespace) -> str:
    """The exact command that runs these chapters again, from the folder the reader is in."""
    exe = Path(os.path.abspath(sys.executable))
    try:
        python = str(exe.relative_to(KIT))      # the command runs from the kit's folder (below)
    except ValueError:
        python = str(exe)
    cmd = [python, "-m", "lab.chapters", *ids]
    if a.notebooks.resolve() != NOTEBOOKS:
        cmd += ["--notebooks", str(a.notebooks.resolve())]
    if a.executed.resolve() != EXECUTED:
        cmd += ["--executed", str(a.executed.resolve())]
    if a.no_lab:
        cmd.append("--no-lab")
    line = shlex.join(cmd)
    # `-m lab.chapters` finds the kit from its own folder
    return line if Path.cwd().resolve() == KIT else f"cd {shlex.quote(str(KIT))} && {line}"


@contextlib.contextmanager
def _lab_home(no_lab: bool):
    """LAB_HOME for the kernels: a throwaway lab's, or (--no-lab) an empty folder."""
    if no_lab:
        import tempfile
        with tempfile.TemporaryDirectory(prefix="bigfoot-chapters-") as home:
            yield Path(home)
        return
    from .exercises import fresh_lab
    with fresh_lab(static_mode="proxy") as lab:
        yield lab.cfg.home


def main(argv: list[str] | None = None) -> int:
    from .errors import Interrupted, LabError
    from .procs import protect_stdout, raise_on_termination

    protect_stdout()            # `python -m lab.chapters | head` must not end in a traceback
    raise_on_termination()      # SIGTERM/SIGHUP: the throwaway lab is stopped, not orphaned

    ap = argparse.ArgumentParser(prog="python -m lab.chapters", description=__doc__.split("\n\n")[0])
    ap.add_argument("ids", nargs="*", help="chapter numbers (default: the missing, stale or failed ones)")
    ap.add_argument("--all", action="store_true", help="execute every chapter again")
    # Not for users (hidden): tests/test_chapters_recover.py runs a tiny notebook from a temp folder
    # into a temp folder, without a throwaway lab (PostgreSQL, gunicorn, nginx: a minute and both
    # cores of a small machine), to prove a failed chapter is run again. Same code path otherwise.
    ap.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help=argparse.SUPPRESS)
    ap.add_argument("--executed", type=Path, default=EXECUTED, help=argparse.SUPPRESS)
    ap.add_argument("--no-lab", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    known = sources(a.notebooks)
    if a.ids:
        chosen = [p for p in known if p.name[:2] in a.ids]
    else:
        chosen = [p for p in known if a.all or copy_state(p, a.executed) != "executed"]
    if a.ids and len(chosen) != len(set(a.ids)):
        print(f"lab.chapters: no chapter {', '.join(sorted(set(a.ids) - {p.name[:2] for p in chosen}))} "
              f"(chapters: {', '.join(p.name[:2] for p in known)})", file=sys.stderr)
        return 2
    if not chosen:
        print(f"chapters: every executed copy in {_shown(a.executed)}/ is up to date")
        return 0
    where = "without a lab (--no-lab)" if a.no_lab else "against a throwaway lab"
    print(f"chapters: executing {len(chosen)} {where} ({machine()})", flush=True)
    for p in chosen:
        if copy_state(p, a.executed) == "failed":
            print(f"  {p.stem}: its last run failed, running it again", flush=True)
    t_all, done, failed = time.monotonic(), [], {}
    current = None
    try:
        with _lab_home(a.no_lab) as home:
            for path in chosen:
                current = path
                nb, took, error = execute(path, home, executed=a.executed)
                current = None
                done.append(path)
                if error is None:
                    print(f"  ✓ {path.stem}  {took:.1f} s", flush=True)
                else:
                    failed[path] = why_failed(error, nb)
                    print(f"  ✗ {path.stem}  {took:.1f} s  {failed[path]}", flush=True)
    except (KeyboardInterrupt, Interrupted):
        left = [p for p in chosen if p not in done]
        print("chapters: interrupted" + ("" if a.no_lab else "; the throwaway lab was stopped")
              + (f"; not executed: {', '.join(p.stem for p in left)} (run them: "
                 f"{rerun_command([p.name[:2] for p in left], a)})" if left else ""), file=sys.stderr)
        return 130
    except LabError as e:
        left = [p for p in chosen if p not in done]
        _report(failed, a)
        print(f"chapters: the throwaway lab failed: {e.message}" + (f" ({e.hint})" if e.hint else "")
              + (f"; not executed: {', '.join(p.stem for p in left)}; run them again: "
                 f"{rerun_command([p.name[:2] for p in left], a)}" if left else ""), file=sys.stderr)
        return 1
    except Exception as e:      # a bug, a full disk: one line and a log, not a bare traceback
        left = [p for p in chosen if p not in done]
        log = a.executed / LOGS / "lab.chapters.log"
        with contextlib.suppress(OSError):
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text("".join(traceback.format_exception(type(e), e, e.__traceback__)))
        _report(failed, a)
        print(f"chapters: {'while executing ' + current.stem + ': ' if current else ''}{type(e).__name__}: {e}"
              + (f"; not executed: {', '.join(p.stem for p in left)}; run {'them' if len(left) > 1 else 'it'} "
                 f"again: {rerun_command([p.name[:2] for p in left], a)}" if left else ""), file=sys.stderr)
        print(f"  traceback: {_shown(log)}", file=sys.stderr)
        return 1
    print(f"chapters: {len(chosen) - len(failed)}/{len(chosen)} executed in {time.monotonic() - t_all:.0f} s"
          + (f"; {len(failed)} failed" if failed else ""), flush=True)
    _report(failed, a)
    return 1 if failed else 0


def _report(failed: dict[Path, str], a: argparse.Namespace) -> None:
    """Per failed chapter: one line with what failed and the command that runs just it again, then
    where its full output is. (`make docs` runs it again too: a failed copy is never up to date.)"""
    for path, why in failed.items():
        print(f"chapters: {path.stem} FAILED ({why}); re-run just it: {rerun_command([path.name[:2]], a)}",
              file=sys.stderr)
        print(f"  full error: {_shown(log_path(path, a.executed))}   "
              f"outputs up to it: {_shown(a.executed / path.name)}   (`make docs` re-runs it too)",
              file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
