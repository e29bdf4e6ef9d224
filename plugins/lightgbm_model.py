"""The ``lightgbm`` model: gradient-boosted trees on the current bar's factors (Qlib's LGBModel, the field's baseline).

Registered by import path (plugins/baselines.py), so listing models does not import lightgbm.

Inputs. Each sample is its window's last step (``lags=1``: today's factors) or its last ``lags``
steps side by side (lag 0 first), through ``SampleSet.tabular``: the strategy's window transform
applies, but missing values reach LightGBM as NaN (it learns where they go) instead of the 0 the
networks get. With ``normalize=None`` the trees see raw factors, as in Qlib's Alpha158 workflow;
with ``zscore``/``rank`` they see the per-date normalised values (missing already 0 there).

Defaults are Qlib's LightGBM Alpha158 benchmark (examples/benchmarks/LightGBM/
workflow_config_lightgbm_Alpha158.yaml) and LGBModel's fit defaults: 1000 boosting rounds at most,
early stopping after 50 without improvement of the l2 loss on the walk-forward validation slice
(the best round is kept). ``subsample`` is Qlib's value but, as in Qlib, does nothing without
``bagging_freq`` > 0 (LightGBM's rule); pass ``lgb_params={"bagging_freq": 1}`` to bag.

Reproducible: seeded (``seed`` is LightGBM's master seed, from which it derives the data, bagging and
feature-fraction seeds, as Qlib's ``seed`` does), ``deterministic=True`` and row-wise histograms forced, so the same data, seed and thread count give
the same trees bit for bit. ``num_threads=None`` (the default) takes the run's thread count
(``--threads``, recorded in config.json and in the model cache key). The state is the booster's own
text (``model_to_string``), so the model cache, resume and ``--workers`` store it without pickle.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np

from seqalpha.model import Model, SampleSet
from seqalpha.model.base import Log
from seqalpha.threads import pinned_threads

#: Qlib's parameters for LightGBM on Alpha158 (its benchmark yaml), with LGBModel's fit defaults.
QLIB_ALPHA158 = {"loss": "mse", "colsample_bytree": 0.8879, "learning_rate": 0.2, "subsample": 0.8789,
                 "lambda_l1": 205.6999, "lambda_l2": 580.9768, "max_depth": 8, "num_leaves": 210,
                 "num_boost_round": 1000, "early_stopping_rounds": 50}


class LightGBM(Model):
    """LightGBM regression on the current bar's factors (lags adds earlier bars); Qlib's Alpha158 parameters."""

    defaults: dict[str, Any] = {
        **QLIB_ALPHA158,
        "lags": 1,  # bars of each window the trees read: 1 = today's factors only
        "num_threads": None,  # None: the run's thread count (--threads)
        "seed": 0,
        "lgb_params": {},  # any other LightGBM parameter, e.g. {"bagging_freq": 1, "min_data_in_leaf": 50}
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        p = self.params
        for key, low in (("num_boost_round", 1), ("early_stopping_rounds", 1), ("lags", 1), ("seed", 0)):
            v = p[key]
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"lightgbm: {key} must be an int >= {low}, got {v!r}")
        v = p["num_threads"]
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
            raise ValueError(f"lightgbm: num_threads must be None (the run's --threads) or an int >= 1, got {v!r}")
        if not isinstance(p["lgb_params"], dict):
            raise ValueError(f"lightgbm: lgb_params must be a dict of LightGBM parameters, got {p['lgb_params']!r}")
        clash = sorted(set(p["lgb_params"]) & {"objective", "num_iterations", "num_boost_round", "seed"})
        if clash:
            raise ValueError(f"lightgbm: set {clash} as the model's own parameters (loss, num_boost_round, seed), "
                             "not in lgb_params")
        self.booster_text: str | None = None
        self.best_iteration = 0
        self.n_inputs = 0
        self._booster: lgb.Booster | None = None

    # ---- parameters -----------------------------------------------------------------------------
    def threads(self) -> int:
        return int(self.params["num_threads"] or pinned_threads())

    def lgb_params(self) -> dict[str, Any]:
        """The parameters LightGBM trains with: the model's, seeds, determinism and the thread count."""
        p, seed = self.params, int(self.params["seed"])
        own = {k: p[k] for k in ("colsample_bytree", "learning_rate", "subsample", "lambda_l1", "lambda_l2",
                                 "max_depth", "num_leaves")}
        # ``seed`` alone: LightGBM derives its data, bagging, feature-fraction and other seeds from it (as in Qlib's
        # run with seed=0), so seed 0 samples the columns as Qlib's LGBModel(seed=0) does.
        return {"objective": p["loss"], "verbosity": -1, **own, "seed": seed, "deterministic": True,
                "force_row_wise": True, "num_threads": self.threads(), **p["lgb_params"]}

    def inputs(self, samples: SampleSet) -> np.ndarray:
        """float32[B, lags * F]: today's factors (and earlier bars with ``lags``), NaN where missing."""
        return samples.tabular(self.params["lags"], missing=None)

    # ---- the contract ---------------------------------------------------------------------------
    def fit(self, train: SampleSet, valid: SampleSet | None, log: Log | None = None) -> dict:
        p = self.params
        if len(train) == 0:
            raise ValueError("no training samples: widen the training window or start the test later")
        params = self.lgb_params()
        x = self.inputs(train)
        dtrain = lgb.Dataset(x, label=train.targets.astype(np.float64), params={"verbosity": -1},
                             free_raw_data=True)
        sets, names = [dtrain], ["train"]
        has_valid = valid is not None and len(valid) > 0
        if has_valid:
            sets.append(lgb.Dataset(self.inputs(valid), label=valid.targets.astype(np.float64), reference=dtrain))
            names.append("valid")
        evals: dict = {}
        callbacks = [lgb.record_evaluation(evals)]
        if has_valid:  # LightGBM's early stopping skips the training set: it watches the validation slice only
            callbacks.append(lgb.early_stopping(p["early_stopping_rounds"], first_metric_only=True, verbose=False))
        try:
            booster = lgb.train(params, dtrain, num_boost_round=p["num_boost_round"], valid_sets=sets,
                                valid_names=names, callbacks=callbacks)
        except lgb.basic.LightGBMError as exc:
            raise ValueError(f"lightgbm: {exc}") from exc
        train_loss = _metric(evals, "train")
        valid_loss = _metric(evals, "valid")
        rounds = len(train_loss) or booster.current_iteration()  # lgb.train hands back the booster cut at the best
        best = booster.best_iteration if has_valid and booster.best_iteration > 0 else booster.current_iteration()
        self.best_iteration, self.n_inputs = int(best), int(x.shape[1])
        self.booster_text = booster.model_to_string(num_iteration=best)
        self._booster = None  # predictions always come from the stored text: a restored model scores the same
        history = [{"epoch": k + 1, "train_loss": train_loss[k] if k < len(train_loss) else np.nan,
                    "valid_loss": valid_loss[k] if k < len(valid_loss) else np.nan, "valid_ic": np.nan,
                    "chosen": k + 1 == best} for k in range(rounds)]
        if log is not None:
            log(f"  LightGBM seed {p['seed']}: {rounds} rounds, best {best}"
                + (f", valid l2 {valid_loss[best - 1]:.4f}" if has_valid and valid_loss else ""))
        return {"best_epoch": int(best), "epochs_run": int(rounds), "history": history}

    def booster(self) -> lgb.Booster:
        if self.booster_text is None:
            raise RuntimeError("LightGBM.predict called before fit")
        if self._booster is None:
            self._booster = lgb.Booster(model_str=self.booster_text)
        return self._booster

    def predict(self, samples: SampleSet) -> np.ndarray:
        booster = self.booster()
        x = self.inputs(samples)
        if x.shape[1] != self.n_inputs:
            raise ValueError(f"lightgbm: the model was fitted on {self.n_inputs} inputs, these samples have "
                             f"{x.shape[1]}")
        if len(x) == 0:
            return np.zeros(0, dtype=np.float64)
        return np.asarray(booster.predict(x, num_threads=self.threads()), dtype=np.float64)

    def state(self) -> dict:
        """The booster as LightGBM's own text (no pickle), its best round and input width."""
        return {"booster_text": self.booster_text, "best_iteration": self.best_iteration, "n_inputs": self.n_inputs}

    def restore(self, state: dict) -> LightGBM:
        self.booster_text = state["booster_text"]
        self.best_iteration = int(state["best_iteration"])
        self.n_inputs = int(state["n_inputs"])
        self._booster = None
        return self

    def feature_importance(self, kind: str = "gain") -> np.ndarray:
        """Per input column (lag 0's factors first): LightGBM's ``gain`` or ``split`` importance."""
        return np.asarray(self.booster().feature_importance(importance_type=kind), dtype=np.float64)


def _metric(evals: dict, name: str) -> list[float]:
    """The first metric LightGBM recorded for data set ``name`` (l2 for mse), per round."""
    values = next(iter(evals.get(name, {}).values()), [])
    return [float(v) for v in values]
