"""The selection table of benchmarks/results/csi300_select_v2.md and its CSV, from the sweep folders.

    python benchmarks/csi300_select_v2_table.py [runs/select_v2]

One row per candidate (its folder): mean and std over seeds 0, 1, 2 of the validation (2015-2016) rank IC,
the worst seed, the mean IC, the mean training seconds; then the rule (the highest mean rank IC wins unless
the runner-up's mean IC is higher by more than 2 standard errors of the paired per-seed difference). The ensemble
candidate's seed s is its grid point seeds=[3s, 3s+1, 3s+2]. Its point s = 0 holds csi300_alstm_aux's seeds 0, 1, 2
as members (the same parameters, seeds and fits; each member's own rank IC and IC are in the run's
``rank_ic_per_seed``/``ic_per_seed``): they are the ``alstm_aux`` rows when that candidate has no folder of its own.
Writes benchmarks/results/csi300_select_v2.csv.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from seqalpha.sweep.summary import markdown_table

BUDGET = {"alstm_aux_x3": 30.0}  # minutes a test-period seed may take (rule 4); 15 for the others
RESULTS = Path(__file__).resolve().parent / "results" / "csi300_select_v2.csv"


def runs_of(folder: Path) -> pd.DataFrame:
    """One row per seed s (0, 1, 2) of a candidate's finished runs."""
    table = pd.read_parquet(folder / "results.parquet")
    if "status" not in table or "rank_ic" not in table:  # a sweep that has not finished a run yet
        return pd.DataFrame()
    table = table[table["status"] == "ok"].copy()
    if "seeds" in table and table["seeds"].notna().any():  # the in-run ensemble: members 3s..3s+2
        table["seed"] = [min(ast.literal_eval(str(v))) // 3 for v in table["seeds"]]
    table["candidate"] = folder.name
    return table.sort_values("seed")[["candidate", "seed", "ic", "rank_ic", "icir", "rank_icir", "seconds.train"]]


def members_of_first_point(folder: Path) -> pd.DataFrame:
    """csi300_alstm_aux's seeds 0, 1, 2 as the members of the ensemble's point s = 0 (their own rank IC and IC)."""
    path = folder / "seeds=_0,1,2_" / "metrics.json"
    if not path.exists():
        return pd.DataFrame()
    metrics = json.loads(path.read_text())
    return pd.DataFrame({"candidate": "alstm_aux", "seed": [0, 1, 2], "ic": metrics["ic_per_seed"],
                         "rank_ic": metrics["rank_ic_per_seed"]})


def fastest_fit_seconds(folder: Path) -> tuple[float, int]:
    """The fastest single model fit in a candidate's selection runs, and the models fitted at each refit (rule 4).

    A run's ``retrain_seconds`` time whole refits; an in-run ensemble's refit holds several members, some read from
    the model cache, so its fits are timed one by one from training.parquet (the members not read from the cache)."""
    fits, members = [], 1
    for metrics_path in folder.glob("*/metrics.json"):
        training = pd.read_parquet(metrics_path.parent / "training.parquet")
        if "member" not in training and training["seed"].nunique() > 1:  # the in-run ensemble
            members = training["seed"].nunique()
            fresh = training[~training["cached"].astype(bool)]
            fits += fresh.groupby(["retrain_date", "seed"])["seconds"].sum().tolist()
        else:
            fits += json.loads(metrics_path.read_text()).get("retrain_seconds", [])
    return (min(fits) if fits else float("nan")), members


def projected_minutes(fastest_fit: float, members: int) -> float:
    """Rule 4's projection of a test-period seed: four refits on two workers take at least two refits' time, each
    refit ``members`` fits, each as fast as the fastest seen (before data, scoring and simulation)."""
    return 2 * fastest_fit * members / 60


def paired(a: pd.DataFrame, b: pd.DataFrame, metric: str) -> tuple[float, float]:
    """Mean and standard error of a - b over the seeds both have."""
    d = (a.set_index("seed")[metric] - b.set_index("seed")[metric]).dropna()
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/select_v2")
    found = {p.name: runs_of(p) for p in sorted(root.iterdir()) if (p / "results.parquet").exists()}
    if "alstm_aux" not in found and (root / "alstm_aux_x3").is_dir():
        found["alstm_aux"] = members_of_first_point(root / "alstm_aux_x3")
    found = {k: v for k, v in found.items() if len(v)}
    rows = pd.concat(found.values(), ignore_index=True)
    rows.to_csv(RESULTS, index=False, float_format="%.6f")
    minutes = {}
    for name in found:
        if (root / name).is_dir():
            minutes[name] = projected_minutes(*fastest_fit_seconds(root / name))
        else:  # alstm_aux read off the ensemble's members: one of its fits a refit
            minutes[name] = projected_minutes(fastest_fit_seconds(root / "alstm_aux_x3")[0], 1)
    summary = {}
    for name, t in found.items():
        r = t["rank_ic"]
        summary[name] = {"seeds": len(t), "rank IC mean": r.mean(), "std": r.std(ddof=1), "worst seed": r.min(),
                         "IC mean": t["ic"].mean(),
                         "train s (mean)": t["seconds.train"].mean() if "seconds.train" in t else float("nan"),
                         "rank IC by seed": ", ".join(f"{v:.4f}" for v in r),
                         "test minutes a seed, at least": minutes[name], "budget": BUDGET.get(name, 15.0)}
    frame = pd.DataFrame(summary).T.sort_values("rank IC mean", ascending=False)
    print(markdown_table(frame.reset_index(names="candidate")))
    in_time = frame["test minutes a seed, at least"] <= frame["budget"]
    print(f"\nrule 4 leaves out (projected test minutes a seed over the budget): {', '.join(frame.index[~in_time])}")
    frame = frame[in_time]
    complete = [n for n in frame.index if frame.loc[n, "seeds"] == 3]
    if len(complete) >= 2:
        first, second = complete[0], complete[1]
        d, se = paired(found[second], found[first], "ic")
        print(f"\nhighest mean rank IC within rule 4: {first}; runner-up {second}: IC {d:+.4f} (SE {se:.4f}) against it: "
              f"{'the runner-up wins (rule 2)' if d > 2 * se else 'rule 2 does not apply'}")
    print(f"\nrows: {RESULTS}")


if __name__ == "__main__":
    main()
