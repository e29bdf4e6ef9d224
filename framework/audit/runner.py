"""`seqalpha audit`: run every check on the user's own strategy and data; a table, or JSON, and an exit code
(0: no check failed, warnings printed; 1: a check failed; usage errors exit 2 from the CLI)."""

from __future__ import annotations

import sys
import time

from ..backtest.blend import members_with_own_dataset
from ..backtest.run import portfolio_rule
from ..data import Panel, load_panel
from ..resolved import resolve_run
from ..strategy import Strategy
from . import checks, weights
from .canary import Recorder


def run_audit(strategy_cls: type[Strategy], data=None, overrides: dict | None = None,
              plugins=(), say=None) -> list[checks.Check]:
    """The audit's checks, in order: data, truncation, scores, embargo, target_weights, skill, canaries. The
    others read the data as the run would (with ``data_policy="mask"``, masked)."""
    overrides = dict(overrides or {})
    say = say or (lambda line: None)
    run = resolve_run(strategy_cls, overrides, data, plugins=plugins)  # the same resolution as every entry point
    strategy, registries, plugins = run.instance, run.registries, list(run.plugin_objects)
    data = data if data is not None else strategy.data
    say(f"loading {data if isinstance(data, str) else data.name}")
    panel = data if isinstance(data, Panel) else load_panel(data, registries.data_sources)
    say("the data as the run takes it: the quality scan, its data_policy, the benchmark's concentration")
    from ..data.quality import prepare

    policy = strategy.data_policy  # "refuse": the run would stop; the audit reads the data as it is and fails "data"
    panel, report = prepare(panel, "warn" if policy == "refuse" else policy, warn=False,
                            thresholds=strategy.quality_thresholds())
    results = [checks.data(strategy, panel, report)]
    cuts = checks.cut_bars(strategy, panel)
    say(f"truncation invariance at {len(cuts)} cut dates")
    results.append(checks.truncation(strategy, panel, registries.features, cuts, members_with_own_dataset(run)))
    say("the model's scores with and without later data (two short runs)")
    recorder = Recorder(run.model_entry.factory)
    from ..hookspecs import hookimpl

    class Wrapped:
        @staticmethod
        @hookimpl
        def register_models(register):
            register("audit_recorded", recorder.model)

    wrapped = {**overrides, "model": "audit_recorded"}
    results.append(checks.scores(strategy_cls, wrapped, panel, [*plugins, Wrapped]))
    say(f"target_weights over up to {weights.NEED + weights.EXTRA} rebalances (one run, the model fitted once)")
    t0 = time.perf_counter()
    decisions = weights.skill_run(strategy_cls, wrapped, panel, [*plugins, Wrapped])
    run_seconds = time.perf_counter() - t0
    results.append(checks.embargo(strategy, recorder, panel.dates, run.embargo))
    say("target_weights with the data after each cut replaced; its weights' IC against the scores'")
    results.append(weights.truncation(strategy_cls, panel, registries.features, decisions,
                                      lambda s: portfolio_rule(s, registries)))
    results.append(weights.skill(strategy, panel, decisions))
    results[-1].seconds += run_seconds  # the run both target_weights checks read
    say("canaries: tomorrow's return and the label itself as features")
    results.append(checks.canaries(strategy_cls, overrides, panel, plugins, registries.features))
    return results


def format_checks(results: list[checks.Check]) -> str:
    width = max(len(c.name) for c in results)
    lines = [f"{'check':<{width}}  result  seconds  detail", f"{'-' * width}  ------  -------  ------"]
    for c in results:
        lines.append(f"{c.name:<{width}}  {c.state.upper():<6}  {c.seconds:7.1f}  {c.detail}")
    return "\n".join(lines)


def audit_main(strategy_cls, data, overrides, as_json: bool, plugins=()) -> int:
    """The CLI's audit: prints the table (or JSON on stdout); 1 when a check fails, else 0 (warnings printed)."""
    import json

    t0 = time.perf_counter()
    results = run_audit(strategy_cls, data, overrides, plugins=plugins,
                        say=None if as_json else (lambda line: print(line, file=sys.stderr, flush=True)))
    state = checks.overall(results)
    if as_json:
        print(json.dumps({"state": state, "passed": state != "fail", "seconds": round(time.perf_counter() - t0, 2),
                          "checks": [c.as_dict() for c in results]}, indent=2))
    else:
        print(format_checks(results))
        warned = sum(c.state == "warn" for c in results)
        verdict = {"pass": "passed", "warn": f"passed with {warned} warning(s)", "fail": "FAILED"}[state]
        print(f"audit {verdict} in {time.perf_counter() - t0:.1f} s")
    return 1 if state == "fail" else 0
