"""TorchSequenceModel: the one shared training loop. A model plugin only supplies ``build_network``.

``build_network(window, n_features, n_outputs)`` receives the input's shape: a window of
``window`` steps of ``n_features`` features, and ``n_outputs`` heads. A plugin written before
(``build_network(n_features)`` or ``build_network(n_features, n_outputs=1)``) is recognised
by its signature and called that way.

Epochs count from 1 everywhere a person reads them: the progress lines, ``history``'s
``epoch`` (training.parquet), ``best_epoch`` and the report.

The loop: mini-batches gathered from window views, Adam, a loss on the per-date targets
(z-scored or ranked labels, ``Strategy.target``) ("mse", "ic" or your own callable), early stopping on a validation slice by
loss or by IC (the best epoch's weights are kept), gradient clipping by global norm
(on by default; the share of clipped steps is recorded per epoch), seeds, and
CPU/CUDA device choice.

Losses. ``loss="mse"`` is the mean squared error against the targets. ``loss="ic"``
is minus the Pearson correlation between predictions and targets computed per date
across assets, averaged over the dates of the batch: it needs whole cross-sections
in a batch, so it trains on date-grouped batches (every sample of a date lands in
the same batch; dates are shuffled and packed up to ``batch_size`` samples). A
callable ``loss(pred, target, dates) -> scalar tensor`` plugs in your own: ``pred``
and ``target`` are float32[B], ``dates`` int64[B] date indices (for per-date losses).
``batching`` picks "random" or "date" batches; "auto" means "date" for any loss but
"mse".
"""

from __future__ import annotations

import copy
import inspect
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from ..registry import did_you_mean
from ..threads import apply_torch
from .base import Log, Model
from .samples import SampleSet

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def pick_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when available, else CPU; 'cpu'/'cuda'/'cuda:1' are taken as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def pearson_by_date(pred: torch.Tensor, target: torch.Tensor, dates: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of ``pred`` and ``target`` within each date: float[D] over dates with >= 2 samples
    and non-constant values on both sides (differentiable in ``pred``)."""
    _, inv, counts = torch.unique(dates, return_inverse=True, return_counts=True)
    d = len(counts)
    p, y = pred.float(), target.float()
    n = counts.to(p.dtype)
    mp = torch.zeros(d, dtype=p.dtype, device=p.device).index_add_(0, inv, p) / n
    my = torch.zeros(d, dtype=p.dtype, device=p.device).index_add_(0, inv, y) / n
    pc, yc = p - mp[inv], y - my[inv]
    cov = torch.zeros(d, dtype=p.dtype, device=p.device).index_add_(0, inv, pc * yc)
    vp = torch.zeros(d, dtype=p.dtype, device=p.device).index_add_(0, inv, pc * pc)
    vy = torch.zeros(d, dtype=p.dtype, device=p.device).index_add_(0, inv, yc * yc)
    ok = (counts >= 2) & (vy > 1e-12) & (vp > 1e-12)
    return cov[ok] / torch.sqrt(vp[ok] * vy[ok])


def mse_loss(pred: torch.Tensor, target: torch.Tensor, dates: torch.Tensor) -> torch.Tensor:
    """Mean squared error (dates unused)."""
    return torch.mean((pred - target) ** 2)


def ic_loss(pred: torch.Tensor, target: torch.Tensor, dates: torch.Tensor) -> torch.Tensor:
    """Minus the mean per-date Pearson correlation (0 when no date has a usable cross-section)."""
    corr = pearson_by_date(pred, target, dates)
    return -corr.mean() if len(corr) else (pred * 0.0).sum()


LOSSES: dict[str, LossFn] = {"mse": mse_loss, "ic": ic_loss}
EARLY_STOP = ("loss", "ic")
BATCHING = ("auto", "random", "date")


def date_batches(t: np.ndarray, batch_size: int, rng: np.random.Generator | None = None) -> Iterator[np.ndarray]:
    """Index arrays that keep each date's samples together: dates (shuffled when ``rng`` is given) packed
    into batches of at most ``batch_size`` samples, or one date when a date alone is larger."""
    if len(t) == 0:
        return
    order = np.argsort(t, kind="stable")
    starts = np.flatnonzero(np.r_[True, t[order][1:] != t[order][:-1]])
    ends = np.r_[starts[1:], len(t)]
    groups = np.arange(len(starts)) if rng is None else rng.permutation(len(starts))
    batch: list[np.ndarray] = []
    size = 0
    for g in groups:
        n = ends[g] - starts[g]
        if batch and size + n > batch_size:
            yield np.concatenate(batch)
            batch, size = [], 0
        batch.append(order[starts[g]:ends[g]])
        size += n
    if batch:
        yield np.concatenate(batch)


def _check_numbers(name: str, p: dict) -> None:
    """Refuse training settings that cannot be right (epochs=0 would report metrics of an untrained network)."""
    def whole(key: str, low: int, none_ok: bool = False) -> None:
        v = p[key]
        if (v is None and none_ok) or (isinstance(v, int) and not isinstance(v, bool) and v >= low):
            return
        raise ValueError(f"{name}: {key} must be an int >= {low}{' or None' if none_ok else ''}, got {v!r}")

    def number(key: str, low: float, high: float | None = None, low_open: bool = False, none_ok: bool = False):
        v = p[key]
        if v is None and none_ok:
            return
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and \
            (v > low if low_open else v >= low) and (high is None or v < high)
        if not ok:
            span = f"{'>' if low_open else '>='} {low}" + (f" and < {high}" if high is not None else "")
            raise ValueError(f"{name}: {key} must be a number {span}{' or None' if none_ok else ''}, got {v!r}")

    for key, low in (("epochs", 1), ("batch_size", 1), ("hidden_size", 1), ("num_layers", 1), ("patience", 0)):
        whole(key, low)
    whole("seed", -2**63)
    whole("max_train_samples", 1, none_ok=True)
    number("lr", 0.0, low_open=True)
    number("weight_decay", 0.0)
    number("dropout", 0.0, 1.0)
    number("clip_norm", 0.0, none_ok=True)


def takes_shape(build_network: Callable[..., nn.Module]) -> bool:
    """Whether a (bound) ``build_network`` takes the input's shape ``(window, n_features, n_outputs)``; False for
    the old forms ``(n_features)`` and ``(n_features, n_outputs=1)``."""
    params = list(inspect.signature(build_network).parameters.values())
    if "window" in [p.name for p in params] or any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]) >= 3


class TorchSequenceModel(Model):
    """Base class for torch models over windows float32[B, L, F] -> scores [B]."""

    defaults: dict[str, Any] = {
        "hidden_size": 32,
        "num_layers": 1,
        "dropout": 0.0,
        "lr": 1e-3,
        "weight_decay": 0.0,
        "batch_size": 512,
        "epochs": 20,
        "patience": 4,
        "clip_norm": 3.0,  # global gradient norm; None or 0 disables clipping
        "loss": "mse",  # "mse", "ic" or a callable loss(pred, target, dates) -> scalar tensor
        "early_stop": "loss",  # keep the epoch with the lowest validation "loss" or the highest validation "ic"
        "batching": "auto",  # "random", "date" (whole dates per batch) or "auto" ("date" unless loss is "mse")
        "seed": 0,
        "device": "auto",
        "max_train_samples": None,  # sub-sample training set per epoch (None = all)
        "aux_horizons": None,  # e.g. [2, 5]: extra heads trained on the labels at those horizons (TCTS's idea)
        "aux_weight": 0.5,  # weight of the auxiliary heads' mean loss beside the main head's
        "warm_start": False,  # each walk-forward refit starts from the previous model's weights
        "warm_epochs": None,  # epochs of a warm-started refit (None: a quarter of ``epochs``, at least 1)
    }

    def build_network(self, window: int, n_features: int, n_outputs: int) -> nn.Module:
        """Return a module mapping float32[B, window, n_features] to float32[B] (``n_outputs`` 1) or
        [B, n_outputs]: one column per head, the main one first (``aux_horizons``). The old forms
        ``build_network(n_features)`` and ``build_network(n_features, n_outputs=1)`` are still called that way
        (the first works for everything but auxiliary horizons)."""
        raise NotImplementedError

    @property
    def n_outputs(self) -> int:
        return 1 + len(self.params["aux_horizons"] or ())

    def _network(self, n_features: int) -> nn.Module:
        """A new network for windows of ``self.window`` steps (set by ``fit``) of ``n_features`` features."""
        if takes_shape(self.build_network):
            window = getattr(self, "window", None)
            if window is None:
                raise RuntimeError(f"{type(self).__name__}: no window to build the network for (fit sets it)")
            return self.build_network(window, n_features, self.n_outputs)
        if self.n_outputs == 1:
            return self.build_network(n_features)
        return self.build_network(n_features, n_outputs=self.n_outputs)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output as [B, n_outputs]."""
        out = self.network(x)
        return out[:, None] if out.ndim == 1 else out

    def check_params(self, params: dict) -> None:
        """Refuse a subclass's own parameter values (raise ValueError); called by ``__init__``. Override this rather
        than ``__init__``: a model whose ``__init__`` is TorchSequenceModel's keeps its device known without torch
        (model/card.py), so a cached run need not import torch."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        p = self.params
        if not callable(p["loss"]) and p["loss"] not in LOSSES:
            raise ValueError(f"{type(self).__name__}: unknown loss {p['loss']!r}.{did_you_mean(p['loss'], LOSSES)} "
                             f"Use one of {sorted(LOSSES)} or a callable loss(pred, target, dates)")
        if p["early_stop"] not in EARLY_STOP:
            raise ValueError(f"{type(self).__name__}: early_stop must be one of {EARLY_STOP}, got {p['early_stop']!r}")
        if p["batching"] not in BATCHING:
            raise ValueError(f"{type(self).__name__}: batching must be one of {BATCHING}, got {p['batching']!r}")
        _check_numbers(type(self).__name__, p)
        aux = p["aux_horizons"]
        if aux is not None:
            if not isinstance(aux, (list, tuple)) or not all(isinstance(h, int) and not isinstance(h, bool) and h >= 1
                                                            for h in aux):
                raise ValueError(f"{type(self).__name__}: aux_horizons must be a list of horizons in bars, e.g. "
                                 f"[2, 5]; got {aux!r}")
            if aux and not takes_shape(self.build_network) and \
                    "n_outputs" not in inspect.signature(self.build_network).parameters:
                raise ValueError(f"{type(self).__name__}: aux_horizons needs a network with several heads, but its "
                                 "build_network takes no n_outputs")
        self.check_params(p)
        self.network: nn.Module | None = None
        apply_torch()  # the run's thread count (torch may have been imported after pin_threads)
        self.device = pick_device(p["device"])
        self.history: list[dict] = []

    # ---- pieces of the loop a subclass may reuse -----------------------------------------------
    @property
    def loss_fn(self) -> LossFn:
        """The training loss: loss(pred, target, dates) -> scalar tensor."""
        loss = self.params["loss"]
        return loss if callable(loss) else LOSSES[loss]

    @property
    def batches_by_date(self) -> bool:
        """Whether training batches keep each date's cross-section together."""
        mode = self.params["batching"]
        return mode == "date" or (mode == "auto" and self.params["loss"] != "mse")

    def _tensor(self, samples: SampleSet, idx: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(samples.windows(idx)).to(self.device, non_blocking=True)

    def _batches(self, samples: SampleSet, batch_size: int, rng: np.random.Generator | None) -> Iterator[np.ndarray]:
        if self.batches_by_date:
            return date_batches(samples.t, batch_size, rng)
        return samples.batches(batch_size, rng)

    def _evaluate(self, samples: SampleSet) -> tuple[float, float]:
        """(validation loss, validation IC): the loss over the whole slice, IC as the mean per-date Pearson
        correlation of predictions with the raw labels (the targets when labels are absent)."""
        pred = torch.from_numpy(self.predict(samples)).to(self.device)
        target = torch.from_numpy(samples.targets).to(self.device)
        dates = torch.from_numpy(samples.t).to(self.device)
        with torch.no_grad():
            loss = float(self.loss_fn(pred, target, dates))
            truth = samples.labels if samples.labels is not None else samples.targets
            corr = pearson_by_date(pred, torch.from_numpy(np.asarray(truth, dtype=np.float32)).to(self.device), dates)
        return loss, float(corr.mean()) if len(corr) else float("nan")

    # ---- the loop ------------------------------------------------------------------------------
    def fit(self, train: SampleSet, valid: SampleSet | None, log: Log | None = None) -> dict:
        p = self.params
        if len(train) == 0:
            raise ValueError("no training samples: widen the training window or start the test later")
        torch.manual_seed(p["seed"])
        rng = np.random.default_rng(p["seed"])
        warm = bool(p["warm_start"]) and self.network is not None  # restored from the previous refit
        if warm and (self.n_features, getattr(self, "window", train.window)) != (train.n_features, train.window):
            raise ValueError(f"{type(self).__name__}: a warm start needs the same features and window as the "
                             "previous fit")
        if not warm:
            self.n_features = train.n_features
            self.window = train.window
            self.network = self._network(train.n_features).to(self.device)
        epochs = (p["warm_epochs"] or max(1, p["epochs"] // 4)) if warm else p["epochs"]
        opt = torch.optim.Adam(self.network.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
        clip = p["clip_norm"]
        loss_fn = self.loss_fn
        has_valid = valid is not None and len(valid) > 0
        by_ic = p["early_stop"] == "ic" and has_valid
        best, best_state, best_epoch, stale = np.inf, None, 0, 0
        self.history = []
        aux_weight = float(p["aux_weight"]) if self.n_outputs > 1 else 0.0
        for epoch in range(1, epochs + 1):  # counted from 1, as people count
            t0 = time.perf_counter()
            self.network.train()
            losses, norms, clipped, steps = [], [], 0, 0
            pool = train
            if p["max_train_samples"] and len(train) > p["max_train_samples"]:
                pool = train.subset(rng.choice(len(train), p["max_train_samples"], replace=False))
            for idx in self._batches(pool, p["batch_size"], rng):
                x = self._tensor(pool, idx)
                y = torch.from_numpy(pool.targets[idx]).to(self.device)
                d = torch.from_numpy(pool.t[idx]).to(self.device)
                opt.zero_grad(set_to_none=True)
                out = self._forward(x)
                loss = loss_fn(out[:, 0], y, d)
                if aux_weight:
                    aux = torch.from_numpy(pool.aux_targets[idx]).to(self.device)
                    loss = loss + aux_weight * torch.stack([loss_fn(out[:, k + 1], aux[:, k], d)
                                                            for k in range(aux.shape[1])]).mean()
                loss.backward()
                norm = torch.nn.utils.clip_grad_norm_(self.network.parameters(), clip if clip else float("inf"))
                clipped += int(bool(clip) and float(norm) > clip)
                norms.append(float(norm))
                opt.step()
                losses.append(loss.item())
                steps += 1
            valid_loss, valid_ic = self._evaluate(valid) if has_valid else (float("nan"), float("nan"))
            record = {"epoch": epoch, "train_loss": float(np.mean(losses)), "valid_loss": valid_loss,
                      "valid_ic": valid_ic, "clip_rate": clipped / max(steps, 1),
                      "grad_norm": float(np.mean(norms)) if norms else float("nan"),
                      "seconds": time.perf_counter() - t0}
            self.history.append(record)
            if log is not None:
                log(f"  {type(self).__name__} seed {p['seed']} epoch {epoch}/{epochs}{' (warm)' if warm else ''}: train loss "
                         f"{record['train_loss']:.4f}, valid loss {valid_loss:.4f}, valid IC {valid_ic:.4f} "
                         f"({record['seconds']:.1f}s)")
            if by_ic:
                score = -valid_ic if np.isfinite(valid_ic) else np.inf
            else:
                score = valid_loss if np.isfinite(valid_loss) else record["train_loss"]
            if score < best - 1e-7 or best_state is None:
                best, best_epoch, stale = score, epoch, 0
                best_state = copy.deepcopy(self.network.state_dict())
            else:
                stale += 1
                if has_valid and stale >= p["patience"]:
                    break
        if best_state is not None:
            self.network.load_state_dict(best_state)
        for r in self.history:
            r["chosen"] = r["epoch"] == best_epoch
        return {"best_epoch": best_epoch, "epochs_run": len(self.history), "history": self.history,
                "clip_rate": float(np.mean([r["clip_rate"] for r in self.history]))}

    def predict(self, samples: SampleSet) -> np.ndarray:
        if self.network is None:
            raise RuntimeError(f"{type(self).__name__}.predict called before fit")
        self.network.eval()
        out = np.empty(len(samples), dtype=np.float32)
        with torch.no_grad():
            for idx in samples.batches(self.params["batch_size"] * 4):
                out[idx] = self._forward(self._tensor(samples, idx))[:, 0].float().cpu().numpy()
        return out

    # ---- the rest of the model contract ---------------------------------------------------------
    def state(self) -> dict:
        """Attributes but the network, which is stored as a CPU state_dict (restorable on any device)."""
        attrs = {k: v for k, v in vars(self).items() if k not in ("params", "device", "network")}
        network = None if self.network is None else {k: v.detach().cpu() for k, v in self.network.state_dict().items()}
        return {"attrs": attrs, "network": network}

    def restore(self, state: dict) -> TorchSequenceModel:
        vars(self).update(state["attrs"])
        if state["network"] is not None:
            self.network = self._network(self.n_features).to(self.device)  # every head, aux_horizons included
            self.network.load_state_dict(state["network"])
            self.network.eval()
        return self

    def diagnostics(self, samples: SampleSet) -> dict:
        """{"gradient_flow": float[L]}: |d loss / d input| per window step (see gradient_flow.py)."""
        if self.network is None:
            return {}
        from .gradient_flow import gradient_flow

        return {"gradient_flow": gradient_flow(self, samples)}
