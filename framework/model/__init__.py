"""Models: the contract plugins implement (base.py), the torch training loop, seed ensembles, the model cache.

Importing this package does not import torch; ``TorchSequenceModel`` loads it when asked for.
"""

from .base import Model, as_model, fit_model, takes_seed, unknown_params
from .cache import ModelCache, cache_dir
from .ensemble import SeedEnsemble
from .samples import SampleSet

__all__ = ["Model", "ModelCache", "SampleSet", "SeedEnsemble", "TorchSequenceModel", "as_model", "cache_dir",
           "fit_model", "takes_seed", "unknown_params"]


def __getattr__(name: str):
    if name == "TorchSequenceModel":
        from .torch_sequence import TorchSequenceModel

        return TorchSequenceModel
    raise AttributeError(f"module 'seqalpha.model' has no attribute {name!r}")
