"""Resumable runs: the event loop's state, saved in the run directory after each finished retrain segment.

``run_dir/checkpoint/segment-00000.pkl``, ``segment-00001.pkl``, ... each hold what one
segment (a retrain and the bars it scored) added to the loop's lists, plus the loop's
scalars at its end and the bar to continue from. Every file is written to a temporary
file and moved into place with ``os.replace``, in order, so a run killed at any
instant leaves whole segments only; ``load`` reads the unbroken run of them. A
fingerprint of the configuration (strategy parameters and code, data) is stored in
each segment; resuming with another configuration is refused.
"""

from __future__ import annotations

import hashlib
import pickle
import shutil
from pathlib import Path
from typing import Any

from ..canonical import digest
from ..errors import SeqalphaError
from ..util import atomic_write_bytes, hash_arrays


class CheckpointMismatch(SeqalphaError, ValueError):
    """The checkpoint in a run directory was written by another configuration."""


class Checkpoint:
    """Segments of loop state in one folder: lists are saved as what was appended since the last save."""

    def __init__(self, folder: str | Path, fingerprint: str) -> None:
        self.folder = Path(folder)
        self.fingerprint = fingerprint
        self.n_saved = 0
        self._marks: dict[str, int] = {}

    def _path(self, index: int) -> Path:
        return self.folder / f"segment-{index:05d}.pkl"

    def save(self, next_bar: int, state: dict[str, Any]) -> None:
        """Write one segment: the list items appended since the last save, other values as they are now."""
        delta = {}
        for key, value in state.items():
            if isinstance(value, list):
                delta[key] = value[self._marks.get(key, 0):]
                self._marks[key] = len(value)
            else:
                delta[key] = value
        entry = {"fingerprint": self.fingerprint, "index": self.n_saved, "next_bar": int(next_bar), "state": delta}
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self._path(self.n_saved), pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL))
        self.n_saved += 1

    def load(self) -> tuple[int, dict[str, Any]] | None:
        """(bar to continue from, merged state) from the unbroken run of saved segments; None when there are none.

        Raises CheckpointMismatch when they were written by another configuration.
        """
        merged: dict[str, Any] = {}
        next_bar, index = None, 0
        while self._path(index).is_file():
            try:
                with open(self._path(index), "rb") as fh:
                    entry = pickle.load(fh)
                entry["fingerprint"], entry["state"], entry["next_bar"]  # noqa: B018 (the keys a segment has)
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


def run_fingerprint(run, dataset, t0: int, t1: int, fields: list[str]) -> str:
    """What a checkpoint must match to be resumed: the resolved run's identity (parameters but ``cache``, the
    model's effective parameters, the code of the strategy, the modules it imports and the model, the data's
    digest, the thread count), the data as prepared (features, labels, universe, prices), the test span and the
    state's fields. Recorded fields (the cache folder, the strategy file's path) are left out."""
    h = hashlib.sha256()
    h.update(digest([run.identity(), t0, t1, fields]).encode())
    hash_arrays(h, dataset.features, dataset.labels, dataset.sampleable, dataset.exec_price, dataset.panel.close)
    return h.hexdigest()
