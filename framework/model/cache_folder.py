"""The model cache's folder: which files are entries, the marker that says a folder is a cache, and pruning.

Nothing is deleted from a folder without the marker file (``SEQALPHA_MODEL_CACHE``); a
cache written before markers existed is recognised only when every file in it has an
entry's name and layout. Only entries are deleted, never other files.
"""

from __future__ import annotations

import contextlib
import math
import re
from pathlib import Path

from ..errors import SeqalphaError
from ..features.store import FOLDER as STORE_FOLDER
from ..features.store import is_store_file
from ..util import modified_before
from .cache_entry import MAGIC as ENTRY_MAGIC

ENTRY_SUFFIX = ".model"
DERIVED_SUFFIX = ".derived"  # what a run keeps beside the models: model cards, segment scores (derived_cache.py)
LEGACY_SUFFIX = ".pkl"  # entries of format <= 3 were pickles: listed and pruned, never read
MARKER = "SEQALPHA_MODEL_CACHE"
MARKER_TEXT = ("This folder is a seqalpha model cache. `seqalpha cache --clear` deletes the model entries in it\n"
               "(KK/KEY.model); it deletes nothing from a folder without this file.\n")
_KEY = re.compile(r"[0-9a-f]{64}")
_PREFIX = re.compile(r"[0-9a-f]{2}")
_TEMP = re.compile(r"\.[0-9a-f]{64}\.(model|derived|pkl)\..+\.tmp")  # a write in progress (util.atomic_write_bytes)


class CacheError(SeqalphaError, ValueError):
    """A cache command that would delete what may not be the cache's (a folder without the marker, a negative age)."""


class CacheFolder:
    """A model cache's folder: its entries, its marker, and deleting entries from it."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._marked: bool | None = None  # None: not looked yet; False: holds other files, left unmarked

    def mark(self) -> bool:
        """Write the marker file that says this folder is a model cache, when the folder holds nothing else (new,
        empty, or a cache written before markers); True when it is marked."""
        marker = self.root / MARKER
        if self._marked is not None:
            return self._marked
        if marker.is_file():
            self._marked = True
            return True
        if self.foreign_file() is not None:
            self._marked = False
            return False
        with contextlib.suppress(FileExistsError):
            with open(marker, "x") as fh:
                fh.write(MARKER_TEXT)
        self._marked = True
        return True

    def foreign_file(self) -> Path | None:
        """The first file (or folder) here that a cache would not hold, else None (nothing to say it is not one)."""
        if not self.root.is_dir():
            return None
        for path in sorted(self.root.rglob("*")):
            rel = path.relative_to(self.root)
            if path.is_symlink():
                return rel
            if rel.parts[0] == STORE_FOLDER and (len(rel.parts) == 1 and path.is_dir()
                                                 or is_store_file(Path(*rel.parts[1:]))):
                continue  # the feature store's folder and entries (features/store.py)
            if path.is_dir():
                if len(rel.parts) == 1 and _PREFIX.fullmatch(rel.name):
                    continue
                return rel
            if len(rel.parts) == 1 and (rel.name == MARKER or rel.name.startswith(".probe-")):
                continue
            if len(rel.parts) == 2 and (_is_entry(path) or _TEMP.fullmatch(rel.name)):
                continue
            return rel
        return None

    def check_deletable(self) -> None:
        """Refuse (CacheError) to delete from a folder that has no marker and holds a file a cache would not."""
        if (self.root / MARKER).is_file() or not self.root.is_dir():
            return
        foreign = self.foreign_file()
        if foreign is not None:
            raise CacheError(f"{self.root} is not a seqalpha model cache (no {MARKER} marker file, and {foreign} is "
                             "not a cache entry): nothing deleted; check SEQALPHA_CACHE_DIR")
        self._marked = None
        self.mark()  # a cache written before markers existed: every file in it is an entry

    def entries(self) -> list[Path]:
        """Every stored model file, of this format (``.model``) or the old pickle one (``.pkl``, never read), not
        temporary files of writes in progress nor anything else in the folder."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.glob("??/*") if _is_entry(p, read=False))

    def stale(self, older_than_days: float | None = None) -> list[Path]:
        """The entries last used more than ``older_than_days`` ago (all when None); refused (CacheError) for a
        negative or non-number age, or a folder that may not be a cache."""
        if older_than_days is not None and not (isinstance(older_than_days, (int, float))
                                                and math.isfinite(older_than_days) and older_than_days >= 0):
            raise CacheError(f"--older-than must be a number of days >= 0, got {older_than_days!r}")
        self.check_deletable()
        return modified_before(self.entries(), older_than_days)

    def delete(self, paths: list[Path]) -> tuple[int, int]:
        """Delete these entries (and their folders once empty); (files, bytes) removed."""
        self.check_deletable()
        files = size = 0
        for path in paths:
            if path.parent.parent != self.root or not _is_entry(path, read=False):
                raise CacheError(f"{path} is not an entry of the model cache {self.root}: nothing deleted")
            try:
                st = path.stat()
                path.unlink()
                files, size = files + 1, size + st.st_size
            except FileNotFoundError:  # removed meanwhile by another process
                continue
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # only when empty
        return files, size

    def prune(self, older_than_days: float | None = None) -> tuple[int, int]:
        """Delete entries last used more than ``older_than_days`` ago (all when None); return (files, bytes)."""
        return self.delete(self.stale(older_than_days))


def _is_entry(path: Path, read: bool = True) -> bool:
    """Whether ``path`` has an entry's name and place (``KK/KEY.model``, ``KK/KEY.derived`` or the old ``KK/KEY.pkl``,
    KK = KEY[:2])
    and, when ``read``, an entry's leading bytes."""
    name = path.name
    stem, dot, suffix = name.partition(".")
    if not (_KEY.fullmatch(stem) and path.parent.name == stem[:2] and f".{suffix}" in (ENTRY_SUFFIX, DERIVED_SUFFIX,
                                                                                  LEGACY_SUFFIX)):
        return False
    if not path.is_file() or path.is_symlink():
        return False
    if not read:
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(ENTRY_MAGIC))
    except OSError:
        return False
    return head == ENTRY_MAGIC if not name.endswith(LEGACY_SUFFIX) else head[:1] == b"\x80"  # pickle protocol >= 2
