"""Memory of a run whose features live in the feature store: peak anonymous memory (RssAnon) and mapped file pages
(RssFile) apart, and the store's check cost against its compute cost.

The run (issue 21, "Memory"): one walk-forward with one retrain (``retrain=None``), ``max_train_samples`` 200,000,
scoring the last 250 bars, a tiny LSTM (1 epoch, 8 hidden units, 5% of the training dates for validation: the
point is memory, not skill), 20-bar windows, ``normalize="robust"`` (median/MAD fitted on 20,000 training
windows), on

* ``synthetic``: the synthetic source at 3,000 assets x 5,000 days with open, high and low (``ohlc=1``);
* ``csi300``: the shared CSI 300 folder (skipped when ``../shared`` is absent);

with ``alpha158`` (the default: the expression engine writes it factor by factor into the store's memory map), or
``--feature-set wide158``, a stand-in measured before ``alpha158`` existed: 158 cheap backward-looking float32
factors of close, open, high, low and volume (returns at 20 lags, moving-average ratios, ranges, volume ratios),
registered here only, a ``LazyFeatureSet`` as well. Steps, each timed, memory sampled every 20 ms from /proc/self/status in a thread:

1. load the panel;  2. build the Dataset with an empty store (compute: factors, masking, checksums, write);
3. open the entry as a new process would (every crc32 checked: the check cost);  4. the run itself (store hit).

    nice -n 10 python benchmarks/bench_feature_memory.py [synthetic|csi300|both] [--assets 3000 --days 5000]
                                                         [--feature-set alpha158|wide158]

The store goes to a temporary folder (``--store DIR`` to choose), deleted at the end.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from seqalpha.hookspecs import hookimpl

os.environ.setdefault("OMP_NUM_THREADS", "1")

CSI300 = "qlib:{root}/data/cn_csi300_qlib?universe=csi300&benchmark=SH000300"


def status() -> dict[str, int]:
    """RssAnon, RssFile, VmHWM of this process, in bytes."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("RssAnon", "RssFile", "VmHWM", "VmRSS"):
                out[key] = int(rest.split()[0]) * 1024
    return out


class Sampler:
    """Peak RssAnon and RssFile, sampled in a thread; ``phase(name)`` starts a new phase's peaks."""

    def __init__(self, every: float = 0.02) -> None:
        self.every, self.peaks, self.name = every, {}, "start"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(self.every)

    def sample(self) -> None:
        s = status()
        peak = self.peaks.setdefault(self.name, {"RssAnon": 0, "RssFile": 0})
        for k in peak:
            peak[k] = max(peak[k], s[k])

    def phase(self, name: str) -> None:
        self.sample()
        self.name = name
        self.sample()

    def stop(self) -> None:
        self.sample()
        self._stop.set()
        self._thread.join()


def wide158(panel):
    """158 cheap backward-looking factors (row t from rows <= t), written one at a time into ``out``."""
    from seqalpha.feature_sets import LazyFeatureSet

    def field(name):
        return panel.field(name if panel.has(name) else "close").astype(np.float32)

    def shifted(a, k):
        out = np.full_like(a, np.nan)
        if k < len(a):
            out[k:] = a[: len(a) - k]
        return out

    def rolling_mean(a, w):
        filled = np.nan_to_num(a)
        c = np.cumsum(filled, axis=0, dtype=np.float64)
        out = c.copy()
        out[w:] -= c[:-w]
        out /= w
        out[: w - 1] = np.nan
        return out.astype(np.float32)

    specs = [("ret", k) for k in range(20)] + [("ma_ratio", w) for w in range(2, 42)] \
        + [("range", k) for k in range(20)] + [("oc", k) for k in range(20)] \
        + [("vol_ratio", w) for w in range(2, 40)] + [("mom", w) for w in range(2, 22)]
    specs = specs[:158]
    names = [f"{kind}_{k}" for kind, k in specs]

    def fill(out, columns):
        with np.errstate(divide="ignore", invalid="ignore"):
            close, volume = field("close"), field("volume")
            logc = np.log(close)
            ret = np.full_like(close, np.nan)
            ret[1:] = logc[1:] - logc[:-1]
            for j, c in enumerate(columns):
                kind, k = specs[c]
                if kind == "ret":
                    v = shifted(ret, k)
                elif kind == "ma_ratio":
                    v = close / rolling_mean(close, k) - 1
                elif kind == "range":
                    v = shifted((field("high") - field("low")) / close, k)
                elif kind == "oc":
                    v = shifted(field("open") / close - 1, k)
                elif kind == "vol_ratio":
                    v = volume / rolling_mean(volume, k) - 1
                else:
                    v = logc - shifted(logc, k)
                v[~np.isfinite(v)] = np.nan
                out[:, :, j] = v
                del v

    return LazyFeatureSet(names, (len(panel.dates), len(panel.assets), len(names)), fill)


class Wide:
    """Registers ``wide158`` for the benchmark's runs only."""

    @hookimpl
    def register_features(self, register):
        register("wide158", wide158)


def mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def measure(label: str, uri: str, store_root: Path, normalize: str, feature_set: str = "alpha158") -> dict:
    from seqalpha import Strategy, run_backtest
    from seqalpha.backtest.dataset import Dataset
    from seqalpha.data import load_panel
    from seqalpha.features.store import FeatureStore
    from seqalpha.features.store_file import forget_verified
    from seqalpha.plugins import collect_registries, run_manager
    from seqalpha.resolved import panel_digest

    sampler = Sampler()
    seconds = {}
    reg = collect_registries(run_manager(Wide()))
    t = time.perf_counter()
    sampler.phase("load panel")
    panel = load_panel(uri, reg.data_sources)
    seconds["load panel"] = time.perf_counter() - t
    T, N = len(panel.dates), len(panel.assets)

    class Bench(Strategy):
        data = uri
        model = "lstm"
        model_params = {"hidden_size": 8, "epochs": 1, "batch_size": 1024, "max_train_samples": 200_000}
        window = 20
        horizon = 1
        retrain = None
        rebalance = "W"
        min_train_bars = 120
        valid_fraction = 0.05  # ~250 validation dates: the time goes to memory, not to evaluating the LSTM
        test_start = str(panel.dates[T - 252].date())  # the last 250 decision bars (the last 2 have no label)

    Bench.normalize = normalize
    Bench.feature_set = feature_set
    store = FeatureStore(store_root / "features")
    store.writable()
    sampler.phase("compute features")
    t = time.perf_counter()
    digest = panel_digest(panel)
    seconds["panel digest"] = time.perf_counter() - t
    t = time.perf_counter()
    dataset = Dataset.build(Bench(), panel, reg.features, store, panel_digest=digest)
    seconds["compute features (miss)"] = time.perf_counter() - t
    key, F = dataset.feature_key, len(dataset.feature_names)
    size = store.path(key).stat().st_size
    del dataset
    gc.collect()
    sampler.phase("check entry")
    forget_verified()  # as a new process: every checksum is read
    t = time.perf_counter()
    entry = store.get(key)
    seconds["check (first open)"] = time.perf_counter() - t
    assert entry is not None
    del entry
    gc.collect()
    sampler.phase("run (store hit)")
    t = time.perf_counter()
    result = run_backtest(Bench, data=panel, plugins=[Wide()], progress=False)
    seconds["run"] = time.perf_counter() - t
    sampler.stop()
    assert result.config["feature_key"] == key
    n_scored = int(result.scores["score"].notna().sum())
    peaks = sampler.peaks
    print(f"\n== {label}: {N} assets x {T} days x {F} features (normalize={normalize}); entry {size / 2**30:.2f} GiB")
    for name in ("load panel", "compute features", "check entry", "run (store hit)"):
        p = peaks.get(name, {"RssAnon": 0, "RssFile": 0})
        print(f"  {name:<20} peak RssAnon {mb(p['RssAnon']):>11}   peak RssFile {mb(p['RssFile']):>11}")
    overall = max(p["RssAnon"] for p in peaks.values())
    print(f"  overall peak RssAnon {mb(overall)} (goal <= 4,096 MiB); peak RssFile (mapped store and library pages) "
          f"{mb(max(p['RssFile'] for p in peaks.values()))}; VmHWM {mb(status()['VmHWM'])} (anon + file)")
    for k, v in seconds.items():
        print(f"  {k:<24} {v:8.1f} s")
    compute = seconds["compute features (miss)"]
    check = seconds["check (first open)"]
    print(f"  check cost / compute cost: {check:.2f} s / {compute:.1f} s = {100 * check / compute:.1f}% "
          f"(crc32 over {size / 2**30:.2f} GiB: {size / check / 2**30:.2f} GiB/s)")
    print(f"  scored {n_scored} (date, asset) pairs over {result.metrics.get('n_rebalances', '?')} rebalances; "
          f"rank IC {result.metrics.get('rank_ic', float('nan')):.4f}")
    return {"peak_anon": overall, "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="?", default="both", choices=("synthetic", "csi300", "both"))
    parser.add_argument("--assets", type=int, default=3000)
    parser.add_argument("--days", type=int, default=5000)
    parser.add_argument("--normalize", default="robust", help="robust (fitted per retrain), zscore or rank")
    parser.add_argument("--feature-set", default="alpha158", choices=("alpha158", "wide158"))
    parser.add_argument("--store", help="the cache folder to put features/ in (default: a temporary folder)")
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[1].parent / "shared"))
    args = parser.parse_args()
    root = Path(args.store) if args.store else Path(tempfile.mkdtemp(prefix="seqalpha-bench-store-"))
    os.environ["SEQALPHA_CACHE_DIR"] = str(root)  # the run's model cache and store: the same folder
    normalize = None if args.normalize == "none" else args.normalize
    try:
        if args.which in ("synthetic", "both"):
            measure("synthetic", f"synthetic?assets={args.assets}&days={args.days}&ohlc=1&noise_factors=0", root,
                    normalize, args.feature_set)
        csi = Path(args.shared) / "data" / "cn_csi300_qlib"
        if args.which in ("csi300", "both"):
            if csi.is_dir():
                gc.collect()
                measure("csi300", CSI300.format(root=args.shared), root, normalize, args.feature_set)
            else:
                print(f"csi300: {csi} absent, skipped")
    finally:
        if not args.store:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
