"""TorchSequenceModel: the one shared training loop. A model plugin only supplies ``build_network``.

The loop: mini-batches gathered from window views, Adam, MSE on per-date z-scored
labels, early stopping on a validation slice (best epoch's weights kept), gradient
clipping by global norm (on by default; how often it clipped is recorded), seeds,
and CPU/CUDA device choice.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from .model import Model
from .samples import SampleSet


def pick_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when available, else CPU; 'cpu'/'cuda'/'cuda:1' are taken as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


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
        "clip_norm": 3.0,  # None or 0 disables clipping
        "seed": 0,
        "device": "auto",
        "max_train_samples": None,  # sub-sample training set per epoch (None = all)
    }

    def build_network(self, n_features: int) -> nn.Module:
        """Return a module mapping float32[B, L, F] to float32[B]."""
        raise NotImplementedError

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.network: nn.Module | None = None
        self.device = pick_device(self.params["device"])
        self.history: list[dict] = []

    def _tensor(self, samples: SampleSet, idx: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(samples.windows(idx)).to(self.device, non_blocking=True)

    def _loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.mean((pred - target) ** 2)

    def _evaluate(self, samples: SampleSet) -> float:
        assert self.network is not None
        self.network.eval()
        total, n = 0.0, 0
        with torch.no_grad():
            for idx in samples.batches(self.params["batch_size"] * 4):
                target = torch.from_numpy(samples.targets[idx]).to(self.device)
                loss = self._loss(self.network(self._tensor(samples, idx)), target)
                total += float(loss) * len(idx)
                n += len(idx)
        return total / max(n, 1)

    def fit(self, train: SampleSet, valid: SampleSet | None) -> dict:
        p = self.params
        if len(train) == 0:
            raise ValueError("no training samples: widen the training window or start the test later")
        torch.manual_seed(p["seed"])
        rng = np.random.default_rng(p["seed"])
        self.network = self.build_network(train.n_features).to(self.device)
        opt = torch.optim.Adam(self.network.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
        clip = p["clip_norm"]
        best, best_state, best_epoch, stale = np.inf, None, -1, 0
        self.history = []
        for epoch in range(p["epochs"]):
            t0 = time.perf_counter()
            self.network.train()
            losses, clipped, steps = [], 0, 0
            pool = train
            if p["max_train_samples"] and len(train) > p["max_train_samples"]:
                pool = train.subset(rng.choice(len(train), p["max_train_samples"], replace=False))
            for idx in pool.batches(p["batch_size"], rng):
                x = self._tensor(pool, idx)
                y = torch.from_numpy(pool.targets[idx]).to(self.device)
                opt.zero_grad(set_to_none=True)
                loss = self._loss(self.network(x), y)
                loss.backward()
                if clip:
                    norm = torch.nn.utils.clip_grad_norm_(self.network.parameters(), clip)
                    clipped += int(norm > clip)
                opt.step()
                losses.append(loss.item())
                steps += 1
            valid_loss = self._evaluate(valid) if valid is not None and len(valid) else float("nan")
            record = {"epoch": epoch, "train_loss": float(np.mean(losses)), "valid_loss": valid_loss,
                      "clip_rate": clipped / max(steps, 1), "seconds": time.perf_counter() - t0}
            self.history.append(record)
            score = valid_loss if np.isfinite(valid_loss) else record["train_loss"]
            if score < best - 1e-7:
                best, best_epoch, stale = score, epoch, 0
                best_state = copy.deepcopy(self.network.state_dict())
            else:
                stale += 1
                if valid is not None and len(valid) and stale >= p["patience"]:
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
                out[idx] = self.network(self._tensor(samples, idx)).float().cpu().numpy()
        return out
