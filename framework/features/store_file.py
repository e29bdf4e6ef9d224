"""One feature-store entry on disk: a header, the float32 feature block, the observed mask, checksums.

Layout of ``KK/KEY.features``::

    MAGIC, header JSON (format, key, shape, names, window references, offsets, rows per checksum block),
    padded with spaces to a multiple of 4096 bytes
    values    float32 (T, N, F), C order, at header["values_offset"]   <- np.memmap'ed read-only
    observed  uint8 (T, N) at header["observed_offset"]                 <- np.memmap'ed read-only
    trailer   JSON: crc32 of the header, of each block of ``block_rows`` dates of values, of observed
    footer    8-byte little-endian length of the trailer, then FOOTER

The file is written under a temporary name in the same folder (space reserved first, so a full disk is an
error, not a SIGBUS inside the memory map) and renamed into place when complete: a reader sees a whole entry or
none, and two processes writing the same entry is safe (both write the same bytes; the last rename wins, and a
reader keeps the file it mapped). A process checks every checksum the first time it opens an entry (zlib's
crc32, about 2.4 GB/s here: a few percent of computing the features); a damaged entry (cut short, a flipped
bit, another key's file) raises ``EntryDamaged`` and is never read.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..util import current_umask

MAGIC = b"SEQALPHA-FEATURE-STORE-ENTRY\n"
FOOTER = b"SQAFEND\n"
FORMAT = 1
ALIGN = 4096
SUFFIX = ".features"
_FOOT = struct.Struct("<Q8s")
_VERIFIED: set[tuple[int, int, int]] = set()  # (device, inode, size) of entries this process has checked


class EntryDamaged(ValueError):
    """A stored entry that is not whole or not what was written; the message says how (for a warning)."""


@dataclass(frozen=True)
class FeatureEntry:
    """An entry's contents: read-only views into its memory map (``values`` float32 (T, N, F), ``observed``)."""

    key: str
    path: Path
    values: np.ndarray
    observed: np.ndarray
    names: list[str]
    reference: list[int]


def _crc(a: np.ndarray) -> int:
    return zlib.crc32(memoryview(np.ascontiguousarray(a)).cast("B"))


def _header(key: str, shape: tuple[int, int, int], names: list[str], reference: list[int],
            block_rows: int) -> tuple[bytes, dict]:
    T, N, F = shape
    head = {"format": FORMAT, "key": key, "shape": [T, N, F], "dtype": "<f4", "names": list(names),
            "reference": [int(r) for r in reference], "block_rows": int(block_rows)}
    for _ in range(2):  # the offsets depend on the header's own length (rounded up to ALIGN)
        raw = MAGIC + json.dumps(head).encode() + b"\n"
        size = -(-len(raw) // ALIGN) * ALIGN
        head.update(values_offset=size, observed_offset=size + T * N * F * 4,
                    trailer_offset=size + T * N * F * 4 + T * N)
    raw = MAGIC + json.dumps(head).encode() + b"\n"
    if len(raw) > head["values_offset"]:
        raise AssertionError("feature store header grew past its offset")  # pragma: no cover
    return raw.ljust(head["values_offset"], b" "), head


class EntryWriter:
    """Writes one entry into a temporary file of ``folder``: ``values`` and ``observed`` are writable memory maps
    to fill (``checksum`` each finished block of dates), then ``publish`` renames it to ``path``."""

    def __init__(self, path: Path, key: str, shape: tuple[int, int, int], names: list[str], reference: list[int],
                 block_rows: int) -> None:
        self.path, self.key = Path(path), key
        self.header, self.head = _header(key, shape, names, reference, block_rows)
        T, N, F = shape
        self.block_rows = block_rows
        self.crcs: list[int | None] = [None] * (-(-T // block_rows) if T else 0)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        self.tmp = Path(tmp)
        try:
            os.fchmod(fd, 0o666 & ~current_umask())
            _reserve(fd, self.head["trailer_offset"] + ALIGN)
            os.ftruncate(fd, self.head["trailer_offset"])
            os.pwrite(fd, self.header, 0)
        except BaseException:
            os.close(fd)
            self.discard()
            raise
        os.close(fd)
        self.values = np.memmap(self.tmp, dtype="<f4", mode="r+", offset=self.head["values_offset"], shape=shape)
        self.observed = np.memmap(self.tmp, dtype=np.bool_, mode="r+", offset=self.head["observed_offset"],
                                  shape=(T, N))

    def staging(self) -> np.ndarray:
        """A (T, N, F) view of a feature-major (F, T, N) float32 map in an unnamed temporary file of the same folder
        (gone when unmapped, or when the process dies): where a source that writes whole features puts raw values."""
        T, N, F = self.values.shape
        fh = tempfile.TemporaryFile(dir=self.path.parent, prefix=".staging-")
        _reserve(fh.fileno(), max(1, T * N * F * 4))
        os.ftruncate(fh.fileno(), max(1, T * N * F * 4))
        feature_major = np.memmap(fh, dtype="<f4", mode="r+", shape=(F, T, N))
        fh.close()  # the map keeps the file
        return feature_major.transpose(1, 2, 0)

    def checksum(self, a: int, b: int, block: np.ndarray) -> None:
        """Record the crc32 of dates a..b-1 of the finished values (``block`` holds exactly those bytes)."""
        if a % self.block_rows or (b != a + self.block_rows and b != self.values.shape[0]):
            raise ValueError(f"checksum block {a}..{b} is not aligned to {self.block_rows} dates")
        self.crcs[a // self.block_rows] = _crc(block.astype("<f4", copy=False))

    def publish(self) -> FeatureEntry:
        """Finish the file (trailer with the checksums), flush it to disk, rename it into place; the entry."""
        if any(c is None for c in self.crcs):
            raise ValueError("a block of the feature entry was never checksummed")
        self.values.flush()
        self.observed.flush()
        trailer = json.dumps({"header": zlib.crc32(self.header), "values": self.crcs,
                              "observed": _crc(self.observed)}).encode()
        with open(self.tmp, "r+b") as fh:
            fh.seek(self.head["trailer_offset"])
            fh.write(trailer + _FOOT.pack(len(trailer), FOOTER))
            fh.truncate()
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(self.tmp, self.path)
        st = self.path.stat()
        _VERIFIED.add((st.st_dev, st.st_ino, st.st_size))  # this process wrote the bytes it checksummed
        entry = _entry(self.path, self.head, self.values.shape)
        del self.values, self.observed
        return entry

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.tmp.unlink()


def _reserve(fd: int, size: int) -> None:
    """Reserve ``size`` bytes on disk (a full disk is an OSError here, not a SIGBUS inside the map); file systems
    that cannot reserve space are written without."""
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise
    except AttributeError:
        pass


def _entry(path: Path, head: dict, shape) -> FeatureEntry:
    T, N, _ = shape
    values = np.memmap(path, dtype="<f4", mode="r", offset=head["values_offset"], shape=tuple(shape))
    observed = np.memmap(path, dtype=np.bool_, mode="r", offset=head["observed_offset"], shape=(T, N))
    return FeatureEntry(head["key"], path, np.asarray(values), np.asarray(observed), list(head["names"]),
                        list(head["reference"]))


def read_header(path: Path) -> tuple[dict, bytes]:
    """(header, its raw bytes) of an entry file; EntryDamaged when it is not one."""
    with open(path, "rb") as fh:
        start = fh.read(ALIGN)
        if not start.startswith(MAGIC):
            raise EntryDamaged("is not a feature-store entry (wrong leading bytes)")
        end = start.find(b"\n", len(MAGIC))
        try:
            head = json.loads(start[len(MAGIC):end]) if end > 0 else None
        except ValueError:
            head = None
        if not isinstance(head, dict) or not isinstance(head.get("values_offset"), int):
            raise EntryDamaged("has a malformed header")
        fh.seek(0)
        raw = fh.read(head["values_offset"])
    return head, raw


def open_entry(path: Path, key: str) -> FeatureEntry:
    """The entry at ``path`` as read-only memory maps; every checksum is checked the first time this process
    opens this file (EntryDamaged when one does not match, the file is cut short or holds another key)."""
    head, raw = read_header(path)
    if head.get("format") != FORMAT or head.get("key") != key or head.get("dtype") != "<f4":
        raise EntryDamaged(f"was written in format {head.get('format')!r} or under another key")
    T, N, F = head["shape"]
    st = os.stat(path)
    with open(path, "rb") as fh:
        if st.st_size < head["trailer_offset"] + _FOOT.size:
            raise EntryDamaged(f"is cut short ({st.st_size} bytes)")
        fh.seek(st.st_size - _FOOT.size)
        length, foot = _FOOT.unpack(fh.read(_FOOT.size))
        if foot != FOOTER or head["trailer_offset"] + length + _FOOT.size != st.st_size:
            raise EntryDamaged(f"is cut short or has a damaged footer ({st.st_size} bytes)")
        fh.seek(head["trailer_offset"])
        try:
            trailer = json.loads(fh.read(length))
        except ValueError:
            raise EntryDamaged("has a damaged trailer") from None
    if not isinstance(trailer, dict) or zlib.crc32(raw) != trailer.get("header"):
        raise EntryDamaged("does not match its checksum (header)")
    try:
        entry = _entry(path, head, (T, N, F))
    except (ValueError, TypeError) as exc:
        raise EntryDamaged(f"cannot be mapped ({exc})") from None
    if (st.st_dev, st.st_ino, st.st_size) not in _VERIFIED:
        verify(entry, head, trailer)
        _VERIFIED.add((st.st_dev, st.st_ino, st.st_size))
    return entry


def verify(entry: FeatureEntry, head: dict, trailer: dict) -> None:
    """Check every block's and the observed mask's crc32 against the trailer."""
    rows = head["block_rows"]
    T = entry.values.shape[0]
    crcs = trailer.get("values")
    if not isinstance(crcs, list) or len(crcs) != (-(-T // rows) if T else 0):
        raise EntryDamaged("has a damaged trailer")
    if _crc(entry.observed) != trailer.get("observed"):
        raise EntryDamaged("does not match its checksum (observed mask)")
    for k, a in enumerate(range(0, T, rows)):
        if _crc(entry.values[a:a + rows]) != crcs[k]:
            raise EntryDamaged(f"does not match its checksum (dates {a}..{min(a + rows, T) - 1})")


def forget_verified() -> None:
    """Check every entry again at its next open in this process (benchmarks time the check with it)."""
    _VERIFIED.clear()
