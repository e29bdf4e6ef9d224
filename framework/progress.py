"""Progress that respects the terminal: tqdm bars on a TTY, plain timestamped log lines otherwise."""

from __future__ import annotations

import sys
import time


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
        """A line shown only with --verbose (every epoch, for instance)."""
        if self.verbose:
            self.log(message)

    def bar(self, total: int, desc: str):
        if not self.enabled:
            return _NullBar()
        if self.tty:
            from tqdm import tqdm

            return tqdm(total=total, desc=desc, file=self.stream, leave=False, dynamic_ncols=True)
        return _LineBar(total, desc, self.log)
