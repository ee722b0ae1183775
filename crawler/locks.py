"""One crawl per source at a time, across processes: an fcntl.flock on <db dir>/locks/<db>.<source>.lock.

The kernel releases a flock when the last file descriptor holding it is closed, so a crashed or killed
scheduler can never leave a source locked. The scheduler passes the locked descriptor to the crawl's
child process, so the lock stays held while the crawl runs even if the scheduler itself dies.
"""
from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from archive.db import now


def lock_dir(db_path: str | os.PathLike) -> Path:
    """Where the locks of one archive live: a `locks` folder next to the database."""
    return Path(db_path).resolve().parent / "locks"


class SourceLock:
    """An exclusive, non-blocking lock on one source of one archive."""

    def __init__(self, db_path: str | os.PathLike, source_id: str) -> None:
        self.path = lock_dir(db_path) / f"{Path(db_path).name}.{source_id}.lock"
        self._fd: int | None = None

    def acquire(self, note: str = "") -> bool:
        """Take the lock if nobody holds it; True when taken. Records pid, host and time in the file."""
        fd = self._try_lock()
        if fd is None:
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {now()} {note}".strip().encode() + b"\n")
        self._fd = fd
        return True

    def _try_lock(self) -> int | None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def fileno(self) -> int:
        if self._fd is None:
            raise RuntimeError(f"lock {self.path} is not held")
        return self._fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None

    def holder(self) -> str:
        """Who holds (or last held) the lock, as written in the lock file."""
        try:
            return self.path.read_text(encoding="utf-8").strip() or "unknown"
        except OSError:
            return "unknown"

    def is_held_elsewhere(self) -> bool:
        """True when some other descriptor (this or another process) holds the lock right now."""
        if self._fd is not None:
            return False
        fd = self._try_lock()
        if fd is None:
            return True
        os.close(fd)
        return False

    def __enter__(self) -> SourceLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
