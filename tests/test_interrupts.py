"""Ctrl-C, SIGTERM or a closed pipe during `lab check` leaves no process and no temp folder behind.

Real signals to a real `lab check` whose private lab (PostgreSQL, two gunicorns, nginx) is up;
each check's state folder lives under a TMPDIR of the test's own, so what is left is easy to see."""
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

KIT = Path(__file__).resolve().parent.parent


@pytest.fixture
def tmp_path():
    """A TMPDIR of this test's own that the lab's PostgreSQL user may enter (as root, PostgreSQL
    runs as its own user; pytest's tmp_path is root-only)."""
    import shutil
    import tempfile
    d = Path(tempfile.mkdtemp(prefix="bigfoot-interrupt-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def leftovers(tmp: Path) -> list[str]:
    """Processes started from (or pointing into) `tmp`."""
    found = []
    for p in psutil.process_iter(["pid", "cmdline", "cwd"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            if str(tmp) in cmd or (p.info["cwd"] or "").startswith(str(tmp)):
                found.append(f"{p.pid} {cmd[:100]}")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return [f for f in found if str(os.getpid()) != f.split()[0]]


def check_dirs(tmp: Path) -> list[Path]:
    return list(tmp.glob("bigfoot-check-*"))


def start_check(tmp: Path, exercise: str = "02", sigint_ignored: bool = False) -> subprocess.Popen:
    """`sigint_ignored`: started as a background job of a non-interactive shell is (a CI script,
    `make test &`): SIGINT inherited as ignored. This is how `.ci/run` swallowed Ctrl-C, 2 of 2."""
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1"}
    pre = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else \
          (lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    return subprocess.Popen([sys.executable, "-m", "lab", "--home", str(tmp / "home"), "check", exercise, "-v"],
                            cwd=KIT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=pre)


def wait_for_line(proc: subprocess.Popen, needle: str, timeout: float = 120) -> list[str]:
    seen, deadline = [], time.monotonic() + timeout
    for line in proc.stdout:
        seen.append(line)
        if needle in line or time.monotonic() > deadline:
            break
    assert any(needle in l for l in seen), "".join(seen[-20:])
    return seen


def wait_gone(tmp: Path, timeout: float = 10) -> list[str]:
    deadline = time.monotonic() + timeout
    while leftovers(tmp) and time.monotonic() < deadline:
        time.sleep(0.2)
    return leftovers(tmp)


class CpuHog:
    """Every core kept busy by a process of its own (like `bench/stress.py --hog`): what the other
    test worker, or a busy laptop, does beside a learner's check. Stopped by pid, whatever happens."""

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                      for _ in range(os.cpu_count() or 2)]
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
            p.wait()


@pytest.mark.parametrize("sig, sigint_ignored, hog",
                         [(signal.SIGINT, False, False), (signal.SIGINT, True, False), (signal.SIGINT, False, True),
                          (signal.SIGTERM, False, False)],
                         ids=["ctrl-c", "ctrl-c-from-a-background-job", "ctrl-c-under-a-cpu-hog", "sigterm"])
def test_signal_during_check_stops_its_lab_and_deletes_its_folder(sig, sigint_ignored, hog, tmp_path):
    with CpuHog() if hog else contextlib.nullcontext():
        signal_during_check(sig, sigint_ignored, tmp_path)


def signal_during_check(sig, sigint_ignored, tmp_path):
    proc = start_check(tmp_path, sigint_ignored=sigint_ignored)
    try:
        wait_for_line(proc, "deploy v2")          # the check's lab is up and the deploy under way
        running = leftovers(tmp_path)
        assert len(running) >= 4, running          # PostgreSQL, gunicorn ×2, nginx: the detector sees them
        assert check_dirs(tmp_path)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (130, 128 + signal.SIGTERM), out[-2000:]
    assert "Traceback" not in out, out[-2000:]
    assert wait_gone(tmp_path) == [], "processes outlived the check"
    assert check_dirs(tmp_path) == [], "the check's temp folder was left behind"


def test_closed_pipe_during_check_stops_its_lab(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    lab = f"{sys.executable} -m lab --home {tmp_path / 'home'}"
    r = subprocess.run(["bash", "-c", f"set -o pipefail; {lab} check 02 -v 2>{tmp_path / 'err'} | head -5"],
                       cwd=KIT, env=env, capture_output=True, text=True, timeout=180)
    assert len(r.stdout.splitlines()) == 5
    assert r.returncode == 141, (r.returncode, (tmp_path / "err").read_text())    # 128 + SIGPIPE, like any tool
    assert "Traceback" not in (tmp_path / "err").read_text()
    assert wait_gone(tmp_path) == [], "processes outlived the check"
    assert check_dirs(tmp_path) == []


def test_closed_pipe_on_a_listing_prints_no_traceback(tmp_path):
    r = subprocess.run(["bash", "-c", f"{sys.executable} -m lab --home {tmp_path} exercises | head -3"],
                       cwd=KIT, capture_output=True, text=True, timeout=60)
    assert len(r.stdout.splitlines()) == 3
    assert r.stderr == "", r.stderr


@pytest.mark.parametrize("after", [0.02, 0.05, 0.1, 0.2])
def test_interrupt_while_the_template_is_copied_leaves_no_folder(after, tmp_path):
    """Ctrl-C in the first tenths of a second of a check, while fresh_lab copies the template lab
    (nothing runs yet): the half copy goes too (it stayed, 42 MB, before the copy was guarded)."""
    code = ("import signal\n"
            "from lab.exercises import fresh_lab, template_home\n"
            "template_home()\n"
            "signal.setitimer(signal.ITIMER_REAL, %r)\n"
            "signal.signal(signal.SIGALRM, lambda *a: signal.raise_signal(signal.SIGINT))\n"
            "try:\n"
            "    with fresh_lab():\n"
            "        pass\n"
            "except KeyboardInterrupt:\n"
            "    print('interrupted')\n") % after
    out = subprocess.run([sys.executable, "-c", code], cwd=KIT, env={**os.environ, "TMPDIR": str(tmp_path)},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert not check_dirs(tmp_path) and not leftovers(tmp_path), (out.stdout, check_dirs(tmp_path))
