"""Run the chapters: each notebook headless, top to bottom, against a throwaway lab.

One executor for the kit's tests (tests/test_notebooks.py) and for the docs build (`make docs`,
which executes the chapters whose executed copy is missing or stale, so a fresh clone's site shows
real plots and tables). The executed copy goes to docs/chapters/ (git-ignored) and says when, on
what machine and in how long it ran: the site prints that above the chapter.

    python -m lab.chapters            execute the missing or stale chapters (what `make docs` does)
    python -m lab.chapters --all      execute every chapter again
    python -m lab.chapters 06 07      these chapters
"""
from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
import time
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
NOTEBOOKS = KIT / "notebooks"
EXECUTED = KIT / "docs" / "chapters"


def sources() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def source_sha(path: Path) -> str:
    """What an executed copy's outputs depend on: each cell's type and source, in order. Not the
    notebook's metadata (RISE slide types, tags for the slideshow): giving a chapter its slides
    doesn't make its executed copy stale."""
    import json
    cells = json.loads(path.read_text()).get("cells", [])
    text = json.dumps([(c.get("cell_type"), "".join(c.get("source", ""))) for c in cells], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def machine() -> str:
    """One line a reader can compare with their own machine."""
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}")


def execute(path: Path, lab_home: Path, timeout: int = 300):
    """Run one chapter with LAB_HOME pointing its kernel at `lab_home` (as `lab up --jupyter` points
    JupyterLab's kernels at the learner's lab). Writes the executed copy to docs/chapters/ and
    returns (notebook, seconds, error or None)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    env_before = {k: os.environ.get(k) for k in ("LAB_HOME", "LAB_PORT_BASE")}
    os.environ["LAB_HOME"] = str(lab_home)
    os.environ.pop("LAB_PORT_BASE", None)
    import tempfile

    from jupyter_client import KernelManager
    # the kernel talks over local (unix) sockets in a folder of its own: on TCP, ipykernel prints a
    # warning per chapter that `make docs` would show seventeen times
    sockets = tempfile.TemporaryDirectory(prefix="bigfoot-kernel-")
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets.name) / "kernel"))
    client = NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    t0 = time.monotonic()
    error = None
    try:
        client.execute()
    except CellExecutionError as e:
        error = e
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
    nb.metadata["bigfoot_lab"] = {"source_sha256": source_sha(path), "executed_at": time.strftime("%Y-%m-%d %H:%M %Z"),
                                  "machine": machine(), "seconds": round(took, 1), "ok": error is None}
    EXECUTED.mkdir(parents=True, exist_ok=True)
    # written whole, then renamed: the docs build may be reading the previous copy meanwhile
    tmp = EXECUTED / f".{path.name}.tmp"
    nbformat.write(nb, tmp)
    os.replace(tmp, EXECUTED / path.name)
    return nb, took, error


def main(argv: list[str] | None = None) -> int:
    from .docs_gen import executed_state
    from .errors import Interrupted, LabError
    from .exercises import fresh_lab
    from .procs import protect_stdout, raise_on_termination

    protect_stdout()            # `python -m lab.chapters | head` must not end in a traceback
    raise_on_termination()      # SIGTERM/SIGHUP: the throwaway lab is stopped, not orphaned

    ap = argparse.ArgumentParser(prog="python -m lab.chapters", description=__doc__.split("\n\n")[0])
    ap.add_argument("ids", nargs="*", help="chapter numbers (default: the missing or stale ones)")
    ap.add_argument("--all", action="store_true", help="execute every chapter again")
    a = ap.parse_args(argv)
    if a.ids:
        chosen = [p for p in sources() if p.name[:2] in a.ids]
    else:
        chosen = [p for p in sources() if a.all or executed_state(p) != "executed"]
    if a.ids and len(chosen) != len(set(a.ids)):
        known = ", ".join(p.name[:2] for p in sources())
        print(f"lab.chapters: no chapter {', '.join(sorted(set(a.ids) - {p.name[:2] for p in chosen}))} "
              f"(chapters: {known})", file=sys.stderr)
        return 2
    if not chosen:
        print("chapters: every executed copy in docs/chapters/ is up to date")
        return 0
    print(f"chapters: executing {len(chosen)} against a throwaway lab ({machine()})", flush=True)
    t_all, failed = time.monotonic(), []
    try:
        with fresh_lab(static_mode="proxy") as lab:
            for path in chosen:
                _, took, error = execute(path, lab.cfg.home)
                print(f"  {'✓' if error is None else '✗'} {path.stem}  {took:.1f} s", flush=True)
                if error is not None:
                    failed.append(path.stem)
    except (KeyboardInterrupt, Interrupted):
        print("chapters: interrupted; the throwaway lab was stopped", file=sys.stderr)
        return 130
    except LabError as e:
        print(f"chapters: {e.message}" + (f" ({e.hint})" if e.hint else ""), file=sys.stderr)
        return 1
    print(f"chapters: {len(chosen) - len(failed)}/{len(chosen)} executed in {time.monotonic() - t_all:.0f} s"
          + (f"; errors in {', '.join(failed)} (their copies show where)" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
