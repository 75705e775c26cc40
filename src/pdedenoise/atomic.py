"""Files that appear whole or not at all: write to a fresh temporary file beside the target, then rename.

Every file the package writes (images of the command line, results, caches, weights, executed notebooks) goes
through this module. The temporary file comes from ``mkstemp`` (a new random name, opened exclusively: never a
file or link someone planted), and the rename replaces the target itself, never what a link at the target points
to. The new file gets the permission bits of the file it replaces (``chmod 600 s.png`` stays 600 after
``pdedenoise denoise s.png s.png``), or those an ordinary new file would get. The temporary file is removed on
every exit Python sees, SIGTERM included (the default action of SIGTERM is kept: the process still ends, with the
same status). A process killed outright (SIGKILL, power loss) can leave it behind as ``.NAME.<random>.partial``;
it is safe to delete.
"""
from __future__ import annotations

import os
import signal
import stat
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

#: temporary files being written now (removed by the SIGTERM handler)
_ACTIVE: set[str] = set()
_LOCK = threading.Lock()
_PREVIOUS_HANDLER = None


def _on_sigterm(signum, frame):  # pragma: no cover - exercised in a subprocess by the tests
    """Remove the temporary files being written, then end the process as SIGTERM would have."""
    for tmp in list(_ACTIVE):
        try:
            os.unlink(tmp)
        except OSError:
            pass
    _ACTIVE.clear()
    previous = _PREVIOUS_HANDLER
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _register(tmp: str) -> None:
    global _PREVIOUS_HANDLER
    with _LOCK:
        if not _ACTIVE and threading.current_thread() is threading.main_thread():
            current = signal.getsignal(signal.SIGTERM)
            if current is not _on_sigterm and current is not signal.SIG_IGN:
                try:
                    signal.signal(signal.SIGTERM, _on_sigterm)
                    _PREVIOUS_HANDLER = current
                except ValueError:  # not the main interpreter
                    pass
        _ACTIVE.add(tmp)


def _unregister(tmp: str) -> None:
    global _PREVIOUS_HANDLER
    with _LOCK:
        _ACTIVE.discard(tmp)
        if not _ACTIVE and signal.getsignal(signal.SIGTERM) is _on_sigterm and \
                threading.current_thread() is threading.main_thread():
            previous = _PREVIOUS_HANDLER
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
            _PREVIOUS_HANDLER = None


def _mode_for(path: Path) -> int:
    """The permission bits the new file gets: those of the regular file it replaces, else ``0666 & ~umask``."""
    try:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    except OSError:
        pass
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def _temporary(path: Path, suffix: str) -> Iterator[tuple[int, Path]]:
    """``(fd, tmp)``: a fresh temporary file beside ``path`` that replaces it when the block ends without an
    exception and is removed otherwise (SIGTERM included)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    _register(tmp)
    try:
        yield fd, Path(tmp)
        st = os.lstat(tmp)
        if not stat.S_ISREG(st.st_mode):  # swapped for a link while it was written: write nothing
            raise PermissionError(f"the temporary file {tmp} for {path} was replaced by something else; nothing "
                                  "was written")
        os.chmod(tmp, _mode_for(path))  # mkstemp creates 0600 files
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    finally:
        _unregister(tmp)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".partial") -> Iterator[Path]:
    """A fresh temporary path beside ``path`` (the file already created, empty, mode 0600) for a writer that
    needs a file name (papermill, ``savefig``); it replaces ``path`` when the block ends without an exception,
    and is removed otherwise (SIGTERM included). ``suffix`` keeps an extension the writer looks at."""
    with _temporary(Path(path), suffix) as (fd, tmp):
        os.close(fd)
        yield tmp


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file for writing (``mode`` "wb" or "w") that replaces ``path`` when the block ends
    without an exception; on an exception (or SIGTERM) it is deleted and ``path`` is left as it was."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_file writes with mode 'wb' or 'w', got {mode!r}")
    with _temporary(Path(path), ".partial") as (fd, tmp):
        with os.fdopen(fd, mode) as fh:
            yield fh


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """``Path.write_bytes`` whole or not at all."""
    with atomic_file(path) as fh:
        fh.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """``Path.write_text`` whole or not at all."""
    with atomic_file(path, "w") as fh:
        fh.write(text)
    return Path(path)
