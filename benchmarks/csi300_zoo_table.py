"""The selection tables of benchmarks/results/csi300_zoo_select.md, from the sweep folders.

    python benchmarks/csi300_zoo_table.py [runs/zoo_select]

Stage 1: one row per network (its folder), mean and std over seeds 0, 1, 2 of the validation
(2015-2016) rank IC and IC, the worst seed, and mean training seconds (three runs side by side on
two cores, one thread each). Stage 2 (a folder named *_options): one row per grid point, and the
paired difference from the stage-1 winner on the same seeds with its standard error.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from framework import load_strategy_file


def markdown(frame: pd.DataFrame) -> str:
    """A markdown table; numbers to 4 decimals (training seconds whole)."""
    def fmt(v):
        return f"{v:.4f}" if isinstance(v, (float, np.floating)) and abs(v) < 10 else \
            (f"{v:.0f}" if isinstance(v, (float, np.floating)) else str(v))
    head = ["", *frame.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join([str(i), *(fmt(v) for v in row)]) + " |" for i, row in frame.iterrows()]
    return "\n".join(lines)


def summary(table: pd.DataFrame) -> dict:
    r = table["rank_ic"]
    return {"rank IC mean": r.mean(), "std": r.std(ddof=1), "worst seed": r.min(), "IC mean": table["ic"].mean(),
            "rank ICIR mean": table["rank_icir"].mean(), "train s (mean)": table["seconds.train"].mean(),
            "seeds": ", ".join(f"{v:.4f}" for v in r)}


def change(point: str, base: dict) -> str:
    """What a grid point's model_params change from the winner's."""
    params = ast.literal_eval(point)
    diff = {k: v for k, v in params.items() if base.get(k, "<unset>") != v}
    return ", ".join(f"{k}={v!r}" for k, v in diff.items()) or "(none)"


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/zoo_select")
    stage1 = {p.name: pd.read_parquet(p / "results.parquet").sort_values("seed")
              for p in sorted(root.iterdir()) if (p / "summary.md").exists() and not p.name.endswith("_options")}
    rows = pd.DataFrame({name: summary(t) for name, t in stage1.items()}).T.sort_values("rank IC mean", ascending=False)
    print("Stage 1\n\n" + markdown(rows))
    for folder in sorted(p for p in root.glob("*_options") if (p / "summary.md").exists()):
        winner = folder.name.removesuffix("_options")
        base = stage1[winner].set_index("seed")
        cls, _ = load_strategy_file(Path("strategies") / f"csi300_{winner}.py")
        table = pd.read_parquet(folder / "results.parquet")
        out = {}
        for point, t in table.groupby("model_params"):
            t = t.set_index("seed").sort_index()
            d = (t["rank_ic"] - base.loc[t.index, "rank_ic"]).to_numpy()
            se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.nan
            out[change(point, dict(cls.model_params))] = {
                **summary(t.reset_index()), "minus winner": d.mean(), "SE": se,
                "train s vs winner": t["seconds.train"].mean() / base["seconds.train"].mean()}
        frame = pd.DataFrame(out).T
        print(f"\nStage 2 ({winner})\n\n" + markdown(frame))


if __name__ == "__main__":
    main()
