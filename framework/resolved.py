"""ResolvedRun: the one object that says what a run is, made once by ``resolve_run`` and consumed by every entry point.

``run_backtest``, the ``--workers`` fan-out, sweep tasks and sweep ``--resume``, ``seqalpha
audit`` and checkpoints all take their configuration from it, never rebuilding it their own
way. Each field is either *identity* (it decides the run's numbers: it enters the checkpoint
fingerprint and ``identity_digest``) or *recorded* (written down only: moving the cache folder
or renaming the strategy file does not break ``--resume``). Its JSON form (``as_json``, through
the one serialiser in ``canonical.py``) is the body of ``config.json``.

The user's environment (``SEQALPHA_CACHE_DIR``) is read here, once, on the client; seqalpha
never writes ``os.environ``. Paths are made absolute here, once. ``SEQALPHA_TRACKING_URI`` is not a
field: the command line reads it once into its options (seqalpha/tracking/settings.py), since tracking
changes no number and no file of the run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .canonical import canonical, digest, strategy_code_version
from .strategy import Strategy, StrategyError
from .threads import DEFAULT_THREADS, check_threads

IDENTITY = "identity"
RECORDED = "recorded"


def _identity(**kw):
    return field(metadata={"kind": IDENTITY}, **kw)


def _recorded(**kw):
    return field(metadata={"kind": RECORDED}, **kw)


@dataclass(frozen=True)
class ResolvedRun:
    """Everything that decides a run's numbers (identity fields) and what is only written down (recorded)."""

    strategy: str = _identity()  # the Strategy class's name
    params: dict = _identity()  # every strategy parameter, custom ones included (``cache`` is recorded only)
    custom_params: dict = _identity()  # the strategy's own parameters (also in params), shown apart
    model: str = _identity()  # the registered model name
    model_params: dict = _identity()  # effective: the model's defaults, the strategy's model_params, the seed
    factory_params: dict = _identity()  # what the model factory is called with (model_params as given, + seed)
    aux_horizons: tuple = _identity()  # auxiliary label horizons the model trains on
    embargo: int = _identity()  # bars between the last training sample and the retrain: max(horizon, aux)
    warm_start: bool = _identity()  # each refit starts from the previous one (retrains depend on each other)
    members: tuple = _identity()  # the seeds of the models one retrain fits
    data: str = _identity()  # the data URI (or "panel:NAME" for a Panel passed from Python)
    data_digest: str | None = _identity(default=None)  # sha256 of the loaded panel; None until loaded
    # {"policy": data_policy, "scan": the data-quality scan's digest (None until the data is loaded)}
    data_quality: dict = _identity(default_factory=dict)
    features: dict = _identity(default_factory=dict)  # feature_set, factors, normalize, window, and names once built
    threads: int = _identity(default=DEFAULT_THREADS)
    code: dict = _identity(default_factory=dict)  # {"strategy": sha256, "model": sha256}: source, not paths
    # a blend's members (framework/backtest/blend.py): name, weight, overrides, model, parameters, features, code
    blend: tuple = _identity(default=())
    cache: bool = _recorded(default=True)  # the strategy's cache setting
    cache_dir: str | None = _recorded(default=None)  # the model cache folder used (absolute), None without one
    feature_key: str | None = _recorded(default=None)  # the feature store's entry (features/KK/KEY.features), if any
    strategy_file: str | None = _recorded(default=None)
    plugin_files: tuple = _recorded(default=())  # --plugins-dir files loaded for this run (absolute paths)
    versions: dict = _recorded(default_factory=dict)  # seqalpha, numpy, pandas, torch, vectorbt
    seed: int = _recorded(default=0)
    unsafe_pickle_cache: bool = _recorded(default=False)  # model_params' opt-in to pickled cache entries (split off)
    # Not serialised: the live objects the run uses.
    instance: Any = field(default=None, compare=False, repr=False, metadata={"kind": None})
    registries: Any = field(default=None, compare=False, repr=False, metadata={"kind": None})
    plugin_objects: tuple = field(default=(), compare=False, repr=False, metadata={"kind": None})
    member_runs: tuple = field(default=(), compare=False, repr=False, metadata={"kind": None})  # a blend's members
    # the model's factory: the imported one, or a model/card.py CardFactory that answers without importing it
    factory: Any = field(default=None, compare=False, repr=False, metadata={"kind": None})

    # ---- forms ---------------------------------------------------------------------------------
    def fields_of(self, kind: str) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.metadata.get("kind") == kind}

    def identity(self) -> dict[str, Any]:
        """The identity fields, canonical (what checkpoints and run comparisons match on)."""
        ident = canonical(self.fields_of(IDENTITY))
        ident["params"].pop("cache", None)  # recorded: where models come from changes no number
        if not ident["blend"]:  # not a blend: the identity (and its digest) of a run before blends existed
            ident.pop("blend")
        return ident

    def identity_digest(self, with_data: bool = True) -> str:
        """sha256 of the identity; ``with_data=False`` leaves out the panel's digest (known only once loaded)."""
        ident = self.identity()
        if not with_data:
            ident.pop("data_digest", None)
            ident["data_quality"] = {k: v for k, v in ident["data_quality"].items() if k != "scan"}
            ident["features"] = {k: v for k, v in ident["features"].items() if k not in ("names", "universe")}
        return digest(ident)

    def as_json(self) -> dict[str, Any]:
        """The canonical JSON form: every identity and recorded field, and the digests (config.json's body)."""
        out = canonical({**self.fields_of(IDENTITY), **self.fields_of(RECORDED)})
        if not out["blend"]:
            out.pop("blend")
        out["identity"] = self.identity_digest(with_data=False)
        return out

    # ---- after the data is loaded ---------------------------------------------------------------
    def with_data(self, panel, feature_names: list[str], digest: str | None = None,
                  feature_key: str | None = None, universe=None, quality_digest: str | None = None) -> ResolvedRun:
        """This run with the loaded panel's digest (``digest`` when already taken), the built feature names, the
        feature store's key of its features (None when they were computed in memory), the data-quality scan's digest
        (``quality_digest``) and, when a cross-sectional expression ranks within the strategy's (T, N) ``universe``
        mask, that mask's digest."""
        features = {**self.features, "names": list(feature_names)}
        if universe is not None:
            import numpy as np

            from .util import hash_arrays

            h = hashlib.sha256()
            hash_arrays(h, np.asarray(universe, dtype=bool))
            features["universe"] = h.hexdigest()
        quality = {**self.data_quality, "scan": quality_digest} if quality_digest else self.data_quality
        return dataclasses.replace(self, data_digest=digest or panel_digest(panel), feature_key=feature_key,
                                   features=features, data_quality=quality)

    @property
    def model_entry(self):
        return self.registries.models.get(self.model)


def panel_digest(panel) -> str:
    """sha256 of a panel's dates, assets, fields, values, universe and benchmark (everything a run can read)."""
    import numpy as np

    from .util import hash_arrays

    h = hashlib.sha256()
    h.update(repr(list(panel.fields)).encode())
    h.update("|".join(map(str, panel.assets)).encode())
    bench = None if panel.benchmark is None else np.asarray(panel.benchmark, dtype=np.float64)
    hash_arrays(h, panel.dates.asi8, panel.values, panel.universe, bench)
    return h.hexdigest()


def _installed(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    """Releases of seqalpha and the libraries that compute its numbers (read without importing them)."""
    import numpy as np

    return {"seqalpha": _installed("seqalpha"), "numpy": np.__version__, "pandas": _installed("pandas"),
            "torch": _installed("torch"), "vectorbt": _installed("vectorbt"), "lightgbm": _installed("lightgbm")}


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """$SEQALPHA_CACHE_DIR, else ~/.cache/seqalpha/models, made absolute."""
    env = (os.environ if environ is None else environ).get("SEQALPHA_CACHE_DIR")
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "seqalpha" / "models").resolve()


def resolve_run(strategy: Strategy | type[Strategy], overrides: Mapping[str, Any] | None = None, data: Any = None,
                *, threads: int = DEFAULT_THREADS, plugins: Iterable[object] = (), plugin_files: Iterable[str] = (),
                cache_dir: str | Path | None = None, fits_from: str | Path | None = None,
                environ: Mapping[str, str] | None = None) -> ResolvedRun:
    """The run of ``strategy`` with ``overrides`` on ``data``: parameters checked, the model's effective
    parameters merged, the plugins for this run collected, the cache folder chosen (``cache_dir``, else
    ``$SEQALPHA_CACHE_DIR``, else ~/.cache/seqalpha/models; none when ``cache=False`` unless ``fits_from`` names
    the folder of this run's own fan-out fits), code versions taken. No data is loaded here."""
    from .model import takes_seed
    from .model.cache import ModelCache, split_cache_options
    from .model.card import factory_code_version, model_factory
    from .plugins import collect_registries, run_manager, strategy_plugins

    overrides = dict(overrides or {})
    if isinstance(strategy, type):
        instance = strategy(**overrides)
    elif overrides:
        raise StrategyError("pass parameter overrides with a Strategy class, not an instance")
    else:
        instance = strategy
    try:
        check_threads(threads)
    except ValueError as exc:
        raise StrategyError(str(exc)) from None
    plugins, plugin_files = tuple(plugins), tuple(plugin_files)
    plugin_objects = (*plugins, *strategy_plugins(instance))
    registries = collect_registries(run_manager(*plugin_objects))
    entry = registries.models.get(instance.model)
    if fits_from is not None:
        folder: Path | None = Path(fits_from).resolve()
    elif instance.cache:
        folder = Path(cache_dir).expanduser().resolve() if cache_dir is not None else default_cache_dir(environ)
    else:
        folder = None
    factory = model_factory(entry, ModelCache(folder) if folder is not None and instance.cache else None)
    factory_params, unsafe_pickle = split_cache_options(dict(instance.model_params))  # the cache's option only
    if takes_seed(factory) and "seed" not in factory_params:
        factory_params["seed"] = instance.seed
    effective = {**(getattr(factory, "defaults", None) or {}), **factory_params}
    aux = effective.get("aux_horizons") or ()
    if not isinstance(aux, (list, tuple)) or not all(isinstance(h, int) and not isinstance(h, bool) and h >= 1
                                                    for h in aux):  # checked before the embargo is taken from it
        raise StrategyError(f"model_params: aux_horizons must be a list of horizons in bars, e.g. [2, 5]; got {aux!r}")
    aux = tuple(aux)
    lags = effective.get("lags")  # tabular models (lightgbm, mlp) read the window's last ``lags`` rows
    if isinstance(lags, int) and not isinstance(lags, bool) and lags > instance.window:
        raise StrategyError(f"model_params: lags={lags} reads {lags} bars of each window, but window={instance.window}: "
                            f"set window >= {lags}")
    from .backtest.trainer import member_seeds

    data = data if data is not None else instance.data
    label = data if isinstance(data, str) else data.meta.get("uri", f"panel:{data.name}")
    params = instance.params()
    module = sys.modules.get(type(instance).__module__)
    file = getattr(module, "__file__", None)
    run = ResolvedRun(
        strategy=type(instance).__name__,
        params=params,
        custom_params={n: getattr(instance, n) for n in type(instance).own_param_names()},
        model=instance.model, model_params=effective, factory_params=factory_params, aux_horizons=aux,
        embargo=max((instance.horizon, *aux)), warm_start=bool(effective.get("warm_start")),
        members=tuple(member_seeds(instance, factory)) if instance.seeds else (factory_params.get("seed",
                                                                                                   instance.seed),),
        data=label, data_quality={"policy": instance.data_policy},
        features={"feature_set": instance.feature_set, "factors": instance.factors, "normalize": instance.normalize,
                  "window": instance.window,
                  "expressions": [[n, e] for n, e in instance.expressions.items()],  # in order: names are columns
                  # only when on: the identity of every run without it stays what it was
                  **({"market_context": instance.market_context} if instance.market_context is not None else {})},
        threads=threads,
        code={"strategy": strategy_code_version(type(instance)), "model": factory_code_version(factory)},
        cache=bool(instance.cache), cache_dir=None if folder is None else str(folder),
        strategy_file=str(Path(file).resolve()) if file else None,
        plugin_files=tuple(str(Path(p).resolve()) for p in plugin_files),
        versions=versions(), seed=instance.seed, unsafe_pickle_cache=unsafe_pickle,
        instance=instance, registries=registries, plugin_objects=tuple(plugin_objects), factory=factory)
    from .model.blend import is_blend

    if not is_blend(factory):
        return run
    from .backtest.blend import resolve_members  # each member resolved as a run of its own

    return resolve_members(run, data, threads=threads, plugins=plugins, plugin_files=tuple(plugin_files),
                           cache_dir=cache_dir, fits_from=fits_from, environ=environ)
