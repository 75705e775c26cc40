"""Files that appear whole or not at all: write to a fresh temporary file beside the target, then rename.

The temporary file comes from ``mkstemp`` (a new random name, opened exclusively: never a file or link someone
planted), gets the permissions an ordinary new file would, and is removed on every exit Python sees. A process
killed outright (SIGKILL, power loss) can leave it behind as ``.NAME.<random>.partial``; it is safe to delete.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file for writing (``mode`` "wb" or "w") that replaces ``path`` when the block ends
    without an exception; on an exception it is deleted and ``path`` is left as it was."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600 files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
