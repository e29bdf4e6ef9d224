"""Progress that respects the terminal (tqdm bars on a TTY, timestamped lines otherwise), and phase timing."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator


class _LineBar:
    """A progress 'bar' for logs: one line at each 10% step."""

    def __init__(self, total: int, desc: str, log) -> None:
        self.total, self.desc, self.log, self.n, self.next = total, desc, log, 0, 0.1

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.total and self.n / self.total >= self.next - 1e-9:
            self.log(f"{self.desc}: {self.n}/{self.total} ({100 * self.n // self.total}%)")
            while self.n / self.total >= self.next - 1e-9:
                self.next += 0.1

    def close(self) -> None:
        pass


class _NullBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


class Progress:
    """``enabled=None`` shows progress (tqdm on a terminal, lines in logs); False is quiet; "verbose" adds detail."""

    def __init__(self, enabled: bool | str | None = None, stream=None) -> None:
        self.verbose = enabled == "verbose"
        self.enabled = True if enabled is None else bool(enabled)
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.perf_counter()

    def log(self, message: str) -> None:
        if self.enabled:
            print(f"[{time.perf_counter() - self.t0:7.1f}s] {message}", file=self.stream, flush=True)

    def detail(self, message: str) -> None:
        """A line shown only with --verbose (every rebalance, for instance)."""
        if self.verbose:
            self.log(message)

    def bar(self, total: int, desc: str):
        if not self.enabled:
            return _NullBar()
        if self.tty:
            from tqdm import tqdm

            return tqdm(total=total, desc=desc, file=self.stream, leave=False, dynamic_ncols=True)
        return _LineBar(total, desc, self.log)


class Timer:
    """Wall seconds per phase of a run: data, train, predict, simulate."""

    PHASES = ("data", "train", "predict", "simulate")

    def __init__(self, carried: dict[str, float] | None = None) -> None:
        self.seconds: dict[str, float] = {phase: 0.0 for phase in self.PHASES}
        for phase, value in (carried or {}).items():  # a resumed run's time before it stopped
            self.seconds[phase] = self.seconds.get(phase, 0.0) + value

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0

    def loop_seconds(self) -> dict[str, float]:
        """The phases a checkpoint carries over (data is loaded again on resume)."""
        return {k: v for k, v in self.seconds.items() if k != "data"}
