"""One lab command at a time per lab: two `lab up` at once would race on the same ports and files."""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from .errors import LabError


@contextmanager
def exclusive(home: Path, what: str):
    home.mkdir(parents=True, exist_ok=True)
    path = home / "lab.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another lab command"
            raise LabError(f"{holder} is already running on this lab ({home}); `lab {what}` did nothing",
                           "wait for it to finish, then try again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"`lab {what}` (pid {os.getpid()})".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock, also when the process dies
