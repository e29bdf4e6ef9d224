"""`seqalpha predict`: the command line's side (the strategy file, plugins, overrides, the summary printed)."""

from __future__ import annotations

import datetime as dt
import sys
import warnings
from pathlib import Path


def predict_main(args) -> int:
    """Run predict for the parsed arguments and print where its files are, its warnings summarised."""
    from ..cli import summarize_warnings
    from ..plugins import PluginFiles
    from ..strategy import load_strategy_file, parse_overrides
    from ..util import safe_file_name
    from .decide import predict

    cls, _ = load_strategy_file(args.strategy_file, args.strategy)
    overrides = parse_overrides(args.set)
    out = args.out or Path("predictions") / f"{safe_file_name(cls.__name__)}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    plugin_files = PluginFiles.read(args.plugins_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        result = predict(cls, asof=args.asof, holdings=args.holdings, cash=args.cash, out=out, data=args.data,
                         refit=args.refit, plugins=plugin_files.load(), threads=args.threads,
                         progress=None if not args.quiet else False, **overrides)
    rec = result.record
    model = rec["model"]
    print(f"{rec['strategy']}  asof {rec['asof']}  model {model['name']} retrained {model['retrain_date']}"
          f"{' (refit)' if model['refit'] else ''}  ({model['cache_hits']} of {model['fits']} fit(s) from the cache)")
    print(f"  {rec['n_scored']} scored, {rec['n_targets']} targets, {rec['n_orders']} orders; value "
          f"{rec['holdings']['value']:,.0f} ({rec['holdings']['source']}); {rec['seconds']['total']:.1f}s")
    summary = summarize_warnings(caught)
    if summary:
        print(summary, file=sys.stderr)
    print(f"predict folder: {out}  (orders.csv, targets.csv, predict.json, predict.html)")
    return 0
