"""The study: an Optuna study in DIR/study.db (SQLite), made once and continued with ``--resume``.

The settings that define the search (strategy, space, seeds, span, metric, data, fixed parameters) are stored in
the study; a resume with other settings is refused, so one study never mixes two searches. A trial left running
by a killed search is marked failed ("interrupted") and does not count towards ``--trials``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..strategy import StrategyError

STUDY_FILE = "study.db"
STUDY_NAME = "seqalpha-tune"
SETTINGS = "seqalpha_settings"
INTERRUPTED = "interrupted"


def optuna_module() -> Any:
    """optuna, imported on first use; one line naming the extra when it is missing."""
    try:
        import optuna
    except ImportError:
        raise StrategyError("seqalpha tune needs optuna: pip install 'seqalpha[tune]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def claim_folder(out: Path, resume: bool) -> None:
    """A new search needs a new (or empty) folder; a folder holding a study continues only with resume."""
    has_study = (out / STUDY_FILE).exists()
    if resume and not has_study:
        raise StrategyError(f"--resume: {out} holds no study ({STUDY_FILE}) to continue")
    if has_study and not resume:
        raise StrategyError(f"tune folder {out} already holds a study ({STUDY_FILE}): pass --resume to continue it, "
                            "or choose another --out")
    if not resume and out.exists() and any(out.iterdir()):
        raise StrategyError(f"tune folder {out} is not empty: choose another --out")
    out.mkdir(parents=True, exist_ok=True)


def open_study(out: Path, settings: dict, direction: str, seed: int, startup: int, resume: bool) -> Any:
    """The study in ``out``: created (settings stored), or loaded and checked to be the same search."""
    optuna = optuna_module()
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)
    storage = f"sqlite:///{(out / STUDY_FILE).as_posix()}"
    text = json.dumps(settings, sort_keys=True, default=str)
    if not resume:
        study = optuna.create_study(storage=storage, study_name=STUDY_NAME, sampler=sampler, direction=direction)
        study.set_user_attr(SETTINGS, text)
        return study
    study = optuna.load_study(storage=storage, study_name=STUDY_NAME, sampler=sampler)
    # seeded on from the trials so far: a resumed search does not draw its first trials' values again
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials), n_startup_trials=startup)
    before = json.loads(study.user_attrs.get(SETTINGS, "{}"))
    now = json.loads(text)
    changed = [k for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k)]
    if changed:
        key = changed[0]
        raise StrategyError(f"--resume: the study in {out} was made with {key}={before.get(key)!r}, not "
                            f"{now.get(key)!r}; resume it with the same settings, or start another --out")
    _fail_interrupted(study)
    return study


def _fail_interrupted(study: Any) -> None:
    """Trials still marked running belong to a search that was stopped: failed, and listed as interrupted."""
    from optuna.trial import TrialState

    stale = [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))]
    if stale:
        study.set_user_attr(INTERRUPTED, sorted({*interrupted(study), *stale}))
        for number in stale:
            study.tell(number, state=TrialState.FAIL)


def interrupted(study: Any) -> set[int]:
    """Numbers of the trials a stopped search left unfinished."""
    return set(study.user_attrs.get(INTERRUPTED, []))


def counted(study: Any) -> int:
    """Trials that count towards --trials: finished (complete, or failed on their own), not interrupted."""
    from optuna.trial import TrialState

    skip = interrupted(study)
    return sum(1 for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
               if t.number not in skip)
