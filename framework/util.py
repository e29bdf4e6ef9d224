"""Small helpers with one job each, shared across seqalpha: atomic file writes, array hashing, safe file names."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``: a reader
    (or a run killed mid-write) sees the whole old file or the whole new one, never a part."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # as open() would make it: a group may read shared run folders
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def folder_writable(folder: Path) -> bool:
    """Create ``folder`` if need be and prove a file can be written in it (a probe file, removed at once)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return True
    except OSError:
        return False


def modified_before(paths, older_than_days: float | None) -> list[Path]:
    """The ``paths`` last modified more than ``older_than_days`` ago (all of them when None); a file that vanished
    meanwhile is left out."""
    import time

    cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
    out = []
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            if cutoff is None or path.stat().st_mtime < cutoff:
                out.append(path)
    return out


def atomic_write_text(path: str | Path, text: str) -> None:
    """``atomic_write_bytes`` of UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def current_umask() -> int:
    """The process's umask, read without changing it where the system says it (Linux), else set and restored."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def hash_arrays(h: Any, *arrays: np.ndarray | None) -> None:
    """Feed arrays (dtype, shape and bytes; None as a marker) into a hashlib object."""
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))


def safe_file_name(name: str, fallback: str = "Strategy") -> str:
    """``name`` as one safe file name: letters, digits, ``_``, ``-`` and single inner dots only (no ``/``, no
    ``..``, no leading dot), at most 100 characters; ``fallback`` when nothing is left."""
    safe = re.sub(r"[^\w.-]+", "_", name)
    safe = re.sub(r"\.{2,}", "_", safe).strip("._-")[:100].strip("._-")
    return safe or fallback
