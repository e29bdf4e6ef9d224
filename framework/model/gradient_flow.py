"""Gradient flow through time: how strongly each step of the input window still moves a trained model's loss.

A recurrent net whose gradients vanish shows a curve that falls to ~0 a few lags
back; one that remembers keeps weight on old steps. Computed after each retrain and
saved as ``gradient_flow.parquet`` (retrain_date, lag, grad_norm, model).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import numpy as np
import torch

from .samples import SampleSet

if TYPE_CHECKING:
    from .torch_sequence import TorchSequenceModel


def gradient_flow(model: TorchSequenceModel, samples: SampleSet, n: int = 512, seed: int = 0) -> np.ndarray:
    """float[L]: the norm over features of d loss / d input at each window step, averaged over up to ``n``
    samples (drawn with ``seed``); index = lag, 0 = the last (most recent) step.

    The loss is the model's own training loss on the drawn samples, times their number,
    so each sample contributes the gradient of its own share of the loss (not 1/n of
    it). Without targets (prediction samples) the gradient of the score itself is used.
    """
    if model.network is None:
        raise RuntimeError("gradient_flow needs a fitted model")
    if len(samples) == 0:
        return np.zeros(samples.window)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(samples), min(n, len(samples)), replace=False))
    x = torch.from_numpy(samples.windows(idx)).to(model.device).requires_grad_(True)
    net = model.network
    was_training = net.training
    net.eval()
    # cuDNN RNNs only run backward in training mode; the native kernels do it in eval mode too.
    flags = torch.backends.cudnn.flags(enabled=False) if x.is_cuda else contextlib.nullcontext()
    try:
        with flags, torch.enable_grad():
            pred = net(x)
            pred = pred[:, 0] if pred.ndim == 2 else pred  # the main head
            if samples.targets is not None:
                target = torch.from_numpy(samples.targets[idx]).to(model.device)
                dates = torch.from_numpy(samples.t[idx]).to(model.device)
                objective = model.loss_fn(pred, target, dates) * len(idx)
            else:
                objective = pred.sum()
            (grad,) = torch.autograd.grad(objective, x)
    finally:
        net.train(was_training)
    per_step = grad.detach().float().norm(dim=2).mean(dim=0).cpu().numpy()  # [L], step 0 = oldest
    return per_step[::-1].astype(np.float64).copy()
