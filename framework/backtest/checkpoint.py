"""Resumable runs: the event loop's state, saved in the run directory after each finished retrain segment.

``run_dir/checkpoint/segment-00000.state``, ``segment-00001.state``, ... each hold what one
segment (a retrain and the bars it scored) added to the loop's lists, plus the loop's
scalars at its end and the bar to continue from. Every file is written to a temporary
file and moved into place with ``os.replace``, in order, so a run killed at any
instant leaves whole segments only; ``load`` reads the unbroken run of them. A
fingerprint of the configuration (strategy parameters and code, data) is stored in
each segment; resuming with another configuration is refused.

A segment is never a pickle: its sha256 digest, then the state as JSON and ``.npy``
arrays (framework/safe_codec.py); the digest is checked before anything is decoded.
"""

from __future__ import annotations

import hashlib
import shutil
import warnings
from pathlib import Path
from typing import Any

from .. import safe_codec
from ..canonical import digest
from ..errors import SeqalphaError
from ..util import atomic_write_bytes, hash_arrays


class CheckpointMismatch(SeqalphaError, ValueError):
    """The checkpoint in a run directory was written by another configuration."""


_MAGIC = b"SEQALPHA-CHECKPOINT-SEGMENT-1\n"


def _pack(entry: dict) -> bytes:
    payload = safe_codec.encode(entry, "checkpoint")
    return _MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def _unpack(data: bytes) -> dict:
    """The entry of a segment's bytes, its digest checked before anything is decoded; ValueError otherwise."""
    head = len(_MAGIC) + 65
    if not data.startswith(_MAGIC) or len(data) < head or data[head - 1:head] != b"\n":
        raise ValueError("not a checkpoint segment")
    payload = data[head:]
    if hashlib.sha256(payload).hexdigest().encode() != data[len(_MAGIC):head - 1]:
        raise ValueError("digest mismatch")
    entry = safe_codec.decode(payload)
    if not isinstance(entry, dict) or not isinstance(entry.get("state"), dict):
        raise ValueError("no state")
    return entry


class Checkpoint:
    """Segments of loop state in one folder: lists are saved as what was appended since the last save."""

    def __init__(self, folder: str | Path, fingerprint: str) -> None:
        self.folder = Path(folder)
        self.fingerprint = fingerprint
        self.n_saved = 0
        self._marks: dict[str, int] = {}
        self.off: str | None = None  # why checkpoints stopped (a value that cannot be stored safely)

    def _path(self, index: int) -> Path:
        return self.folder / f"segment-{index:05d}.state"

    def save(self, next_bar: int, state: dict[str, Any]) -> None:
        """Write one segment: the list items appended since the last save, other values as they are now. A value
        that cannot be stored safely stops the checkpoints with a warning (--resume continues from the last one)."""
        if self.off is not None:
            return
        delta = {}
        for key, value in state.items():
            if isinstance(value, list):
                delta[key] = value[self._marks.get(key, 0):]
                self._marks[key] = len(value)
            else:
                delta[key] = value
        entry = {"fingerprint": self.fingerprint, "index": self.n_saved, "next_bar": int(next_bar), "state": delta}
        try:
            data = _pack(entry)
        except safe_codec.Unstorable as exc:
            self.off = str(exc)
            warnings.warn(f"checkpoints of this run stop at segment {self.n_saved}: {exc}; --resume would start "
                          "again from the last one written", RuntimeWarning, stacklevel=2)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self._path(self.n_saved), data)
        self.n_saved += 1

    def load(self) -> tuple[int, dict[str, Any]] | None:
        """(bar to continue from, merged state) from the unbroken run of saved segments; None when there are none.

        Raises CheckpointMismatch when they were written by another configuration.
        """
        merged: dict[str, Any] = {}
        next_bar, index = None, 0
        while self._path(index).is_file():
            try:
                entry = _unpack(self._path(index).read_bytes())
                entry["fingerprint"], entry["state"], int(entry["next_bar"])  # noqa: B018 (the keys a segment has)
            except Exception as exc:
                raise CheckpointMismatch(f"checkpoint segment {self._path(index)} is damaged ({type(exc).__name__}): "
                                         "run without --resume and with --force to start over") from None
            if entry["fingerprint"] != self.fingerprint:
                raise CheckpointMismatch(
                    f"the checkpoint in {self.folder} was written by another configuration (strategy parameters, "
                    "code or data changed): run without --resume to start over")
            for key, value in entry["state"].items():
                if isinstance(value, list):
                    merged.setdefault(key, []).extend(value)
                else:
                    merged[key] = value
            next_bar = entry["next_bar"]
            index += 1
        if next_bar is None:
            return None
        self.n_saved = index
        self._marks = {k: len(v) for k, v in merged.items() if isinstance(v, list)}
        return next_bar, merged

    def clear(self) -> None:
        """Remove every segment (a fresh run, or a run that finished)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self.n_saved, self._marks = 0, {}


def run_fingerprint(run, dataset, t0: int, t1: int, fields: list[str], more_datasets=()) -> str:
    """What a checkpoint must match to be resumed: the resolved run's identity (parameters but ``cache``, the
    model's effective parameters, the code of the strategy, the modules it imports and the model, the data's
    digest, the thread count), the data as prepared (features, labels, universe, prices), the test span and the
    state's fields; ``more_datasets`` (a blend's members' own Datasets) add their features and sampleable
    masks. Recorded fields (the cache folder, the strategy file's path) are left out."""
    h = hashlib.sha256()
    h.update(digest([run.identity(), t0, t1, fields]).encode())
    hash_arrays(h, dataset.features, dataset.labels, dataset.sampleable, dataset.exec_price, dataset.panel.close)
    for more in more_datasets:
        hash_arrays(h, more.features, more.sampleable)
    return h.hexdigest()
