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

import pandas as pd

from seqalpha import load_strategy_file
from seqalpha.sweep.summary import markdown_table, paired_comparisons


def markdown(frame: pd.DataFrame) -> str:
    """The frame as a markdown table with its index as the first column; training seconds whole."""
    seconds = [c for c in frame.columns if c.startswith("train s (")]
    whole = frame.astype({c: float for c in seconds}).round({c: 0 for c in seconds}).astype({c: int for c in seconds})
    return markdown_table(whole.reset_index(names="")).rstrip("\n")


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
        cls, _ = load_strategy_file(Path("strategies") / f"csi300_{winner}.py")
        table = pd.read_parquet(folder / "results.parquet")
        params = dict(cls.model_params)
        options = table.assign(point=[change(p, params) for p in table["model_params"]])
        pairs = paired_comparisons(pd.concat([options, stage1[winner].assign(point="winner")]), ["point"])
        versus = pairs[pairs["B"] == "point=winner"].set_index("A")
        out = {}
        for point, t in options.groupby("point", sort=False):
            pair = versus.loc[f"point={point}"]
            out[point] = {**summary(t.sort_values("seed")), "minus winner": pair["mean rank_ic A - B"],
                          "SE": pair["standard error"],
                          "train s vs winner": t["seconds.train"].mean() / stage1[winner]["seconds.train"].mean()}
        frame = pd.DataFrame(out).T
        print(f"\nStage 2 ({winner})\n\n" + markdown(frame))


if __name__ == "__main__":
    main()
