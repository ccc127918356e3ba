"""A chapter that failed is run again by the next `make docs`, and its failure says how to re-run it.

`make docs` runs `python -m lab.chapters`, which executes the chapters whose executed copy is
missing or stale. A failed run used to write its copy marked only "ok": false, which the staleness
check (lab/docs_gen.py executed_state) never read: the next `make docs` said "every executed copy
… is up to date" and failed the same way, and nothing said `python -m lab.chapters 02` fixes it.

Here a tiny notebook (no lab needed) runs through the real command (lab.chapters' main() in this
process, and the printed re-run command pasted into a shell), with a real kernel, from a temporary
notebooks/ folder into a temporary docs/chapters/ folder (the hidden --notebooks, --executed and
--no-lab options exist for this test; everything else is what `make docs` runs). Nothing is mocked:
  1. its cell raises: the run fails, and says which chapter, the exact command that re-runs just
     it, and where the full error is (one line, not a traceback);
  2. the same command as `make docs` (no arguments) runs it again: a failed copy is not up to date;
  3. once the cell is fixed, the printed command runs it and succeeds;
  4. and now `make docs`'s command says every copy is up to date, and runs nothing.
"""
import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from lab import chapters, docs_gen

KIT = Path(__file__).resolve().parent.parent


def write_chapter(path: Path, runs: Path, fails: bool) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 01 A tiny chapter"),
        # each run leaves a line here: proof the kernel really ran the chapter (or didn't)
        nbformat.v4.new_code_cell(f"with open({str(runs)!r}, 'a') as f:\n    f.write('ran\\n')\nprint('before')"),
        nbformat.v4.new_code_cell("raise AssertionError('the break-it cell saw 0 failed requests')" if fails
                                  else "print('fixed')"),
    ]
    nbformat.write(nb, path)


def lab_chapters(capsys, *args: str) -> tuple[int, str]:
    """`python -m lab.chapters ARGS` in this process (its imports, seconds on a busy machine, paid
    once): main() is the whole command (lab/chapters.py ends in `sys.exit(main())`). It installs
    signal handlers and wraps stdout, as a command may; put them back for pytest."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    stdout = sys.stdout
    try:
        code = chapters.main(list(args))
    finally:
        sys.stdout = stdout
        for s, handler in saved.items():
            signal.signal(s, handler)
    out = capsys.readouterr()
    return code, out.out + out.err


def pasted(line: str) -> subprocess.CompletedProcess:
    """A printed command, pasted as is into a shell in the kit's folder."""
    return subprocess.run(line, shell=True, cwd=KIT, capture_output=True, text=True, timeout=120)


def meta(copy: Path) -> dict:
    return json.loads(copy.read_text())["metadata"]["bigfoot_lab"]


def test_a_failed_chapter_is_run_again_and_says_how(tmp_path, monkeypatch, capsys):
    t0 = time.monotonic()
    monkeypatch.chdir(KIT)                  # where `make docs` runs it
    notebooks, executed, runs = tmp_path / "notebooks", tmp_path / "docs" / "chapters", tmp_path / "runs.txt"
    notebooks.mkdir()
    source = notebooks / "01_tiny.ipynb"
    write_chapter(source, runs, fails=True)
    folders = ["--notebooks", str(notebooks), "--executed", str(executed), "--no-lab"]
    copy, log = executed / source.name, executed / ".logs" / "01_tiny.log"

    # 1. it fails, and says which chapter, how to re-run just it, and where the full error is
    code, out = lab_chapters(capsys, *folders)
    assert code == 1, out
    assert "Traceback" not in out, f"a bare traceback, not a message:\n{out}"
    lines = [l for l in out.splitlines() if "01_tiny FAILED" in l]
    assert len(lines) == 1, out
    line = lines[0]
    assert "cell 3 raised AssertionError: the break-it cell saw 0 failed requests" in line, line
    rerun = line.split("re-run just it: ", 1)[1]
    python = str(Path(sys.executable).relative_to(KIT)) if Path(sys.executable).is_relative_to(KIT) else sys.executable
    assert rerun == shlex.join([python, "-m", "lab.chapters", "01", *folders]), rerun
    assert f"full error: {log}" in out, out
    assert "AssertionError: the break-it cell saw 0 failed requests" in log.read_text()
    assert runs.read_text() == "ran\n"
    # the failed run's copy (outputs up to the error) never counts as up to date, by either
    # definition: lab.chapters' and the docs site's (the key lab/docs_gen.py reads)
    assert meta(copy)["ok"] is False and meta(copy)["executed"] is False
    assert chapters.copy_state(source, executed) == "failed"
    monkeypatch.setattr(docs_gen, "EXECUTED", executed)
    assert docs_gen.executed_state(source) == "failed"   # the site and `make docs` agree (one definition)

    # 2. what `make docs` runs (no arguments) runs it again: not "up to date"
    code, out = lab_chapters(capsys, *folders)
    assert code == 1, out
    assert "up to date" not in out, out
    assert "01_tiny: its last run failed, running it again" in out, out
    assert runs.read_text() == "ran\n" * 2, "the second run did not execute the chapter"
    assert "01_tiny FAILED" in out and f"re-run just it: {rerun}" in out, out

    # 3. the cell fixed, the printed command (pasted as is, from the kit's folder) runs it and succeeds
    write_chapter(source, runs, fails=False)
    third = pasted(rerun)
    out = third.stdout + third.stderr
    assert third.returncode == 0, out
    assert "✓ 01_tiny" in out and "FAILED" not in out, out
    assert runs.read_text() == "ran\n" * 3
    assert meta(copy)["ok"] is True and meta(copy)["executed"] is True
    assert chapters.copy_state(source, executed) == docs_gen.executed_state(source) == "executed"
    assert not log.exists(), "a success leaves no failure log behind"

    # 4. and now it is up to date: nothing runs
    code, out = lab_chapters(capsys, *folders)
    assert code == 0, out
    assert f"every executed copy in {executed}/ is up to date" in out, out
    assert runs.read_text() == "ran\n" * 3, "an up-to-date chapter was executed again"
    assert time.monotonic() - t0 < 60, "kept small: three kernels, one subprocess, no lab"
