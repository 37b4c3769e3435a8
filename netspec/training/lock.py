"""One run at a time per run directory: an exclusive lock held for the run's life.

The lock is ``flock`` on ``<run>/.netspec.lock``, which records the holder's PID. The
kernel releases the lock when its holder exits, however it exits, so a lock file left
by a killed run (its PID no longer running) is simply taken over. The file itself is
never removed: removing it would let two runs lock two different files of one name.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from netspec.errors import NetspecError

LOCK_FILE = ".netspec.lock"


class RunDirectoryBusy(NetspecError):
    """Another process is training in the run directory."""


class RunLock:
    """An exclusive lock on a run directory; release it with :meth:`release`."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_FILE
        self.previous_pid: int | None = None  # a dead holder whose lock was taken over
        self.existed = self.path.exists()  # an earlier run made it
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise NetspecError(
                f"cannot create the lock file {self.path}: {error.strerror or error}"
            ) from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = self._recorded_pid()
            os.close(self._fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                who = f"process {holder}" if holder is not None else "another process"
                raise RunDirectoryBusy(
                    f"{run_dir} is in use by another netspec run ({who} holds {self.path}); "
                    "wait for it to finish, or choose another directory"
                ) from None
            raise NetspecError(f"cannot lock {self.path}: {error.strerror or error}") from None
        recorded = self._recorded_pid()
        if recorded is not None and recorded != os.getpid():
            self.previous_pid = recorded
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as error:
            self.release()
            raise NetspecError(f"cannot write {self.path}: {error.strerror or error}") from None

    def _recorded_pid(self) -> int | None:
        try:
            text = os.pread(self._fd, 32, 0).decode("ascii", "replace").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def release(self) -> None:
        """Forget the PID and unlock (idempotent)."""
        if self._fd < 0:
            return
        # On a read-only or full disk this fails; the kernel still drops the lock on close.
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing the descriptor releases the flock
        self._fd = -1
