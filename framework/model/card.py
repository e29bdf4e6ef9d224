"""Model cards: what a run needs to know of a lazily registered model, kept so a cached run need not import it.

A model registered by import path (``"package.module:Name"``, registry.py) is imported the
first time a run needs its defaults, its seed parameter or its code version, and importing
the built-in ones imports torch (about half of a cached run's time). After that import the
run writes a *card* into the model cache folder (a signed entry like a model's,
cache_entry.py): the target, the defaults, the code versions, the torch device rule, and
the path and sha256 of every source file those answers come from. A later run answers from
the card, without importing, only when every file still has its digest and the target's
modules still resolve to the same files; any doubt means importing as before.

A card is written only when the answers are a function of those files: the ``defaults`` of
every class in the factory's MRO must be literals (or ``{**Parent.defaults, ...}``) in the
class body, and equal the imported value. A model whose defaults are computed (from the
environment, another package, ``torch.cuda``) gets no card and is imported every run.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import importlib.util
import inspect
import sys
from glob import glob
from pathlib import Path
from typing import Any

from ..canonical import code_version as canonical_code_version
from ..canonical import digest, is_library
from ..errors import SeqalphaError

CARD_FORMAT = 1


class CardMismatch(SeqalphaError):
    """A model card whose answers the imported model contradicts."""


class CardFactory:
    """A lazily registered model factory answered from its card: ``defaults`` and the code versions without
    importing; calling it imports the factory (``Entry.factory``) and builds the model."""

    def __init__(self, entry: Any, card: dict) -> None:
        self.entry, self.card = entry, card
        self.__doc__ = card.get("doc") or None
        self.__qualname__ = self.__name__ = entry.target.partition(":")[2]

    @property
    def defaults(self) -> dict:
        return copy.deepcopy(self.card["defaults"])

    def __call__(self, **params: Any) -> Any:
        factory = self.entry.factory
        if getattr(factory, "defaults", None) != self.card["defaults"]:  # a card that does not hold (planted?)
            raise CardMismatch(f"model {self.entry.name!r}: its card in the model cache says other defaults than "
                               f"{self.entry.target} has: clear the cache (`seqalpha cache --clear`)")
        return factory(**params)

    def code_version(self, with_samples: bool) -> str:
        """The code version of ``canonical.code_version(factory)``, or with the SampleSet code (the cache key's)."""
        return self.card["code_key" if with_samples else "code"]

    def device(self, params: dict) -> str | None:
        """``str(model.device)`` of ``factory(**params)`` when it is known without torch, else None (build it)."""
        if self.card.get("device_rule") != "torch_sequence":
            return None
        return torch_free_device({**self.card["defaults"], **params}.get("device"))


def torch_free_device(name: Any) -> str | None:
    """What ``pick_device(name)`` names, when that is known without importing torch: "cpu", or "auto" on a machine
    with no GPU device nodes (NVIDIA, WSL, ROCm) at all; None otherwise (ask torch)."""
    if name == "cpu":
        return "cpu"
    if name == "auto" and sys.platform.startswith("linux") and not any(
            glob(pattern) for pattern in ("/dev/nvidia*", "/dev/dxg", "/dev/kfd")):
        return "cpu"
    return None


# ---- the card's key and its files ------------------------------------------------------------
def card_key(target: str) -> str:
    """The cache key of the card of ``target`` (one per target and Python; its content is checked on reading)."""
    return digest({"kind": "model-card", "format": CARD_FORMAT, "target": target,
                   "python": list(sys.version_info[:3]), "executable": sys.executable})


def file_digest(path: str) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _origin(module: str) -> str | None:
    """The file ``module`` is (or would be) loaded from, without importing it (its parent packages may be)."""
    loaded = sys.modules.get(module)
    if loaded is not None:
        spec = getattr(loaded, "__spec__", None)
        return getattr(spec, "origin", None) or getattr(loaded, "__file__", None)
    try:
        spec = importlib.util.find_spec(module)
    except Exception:
        return None
    return None if spec is None else spec.origin


def _files_hold(files: list) -> bool:
    """Whether every (module, path, sha256) still resolves to that path and that content."""
    for module, path, sha in files:
        if _origin(module) != path or file_digest(path) != sha:
            return False
    return True


# ---- static defaults -------------------------------------------------------------------------
class _NotStatic(Exception):
    pass


def _class_node(module: Any, qualname: str) -> ast.ClassDef:
    try:
        body = ast.parse(inspect.getsource(module)).body
    except (OSError, TypeError, SyntaxError) as exc:
        raise _NotStatic from exc
    node = None
    for part in qualname.split("."):
        node = next((n for n in body if isinstance(n, ast.ClassDef) and n.name == part), None)
        if node is None:
            raise _NotStatic
        body = node.body
    return node


def static_defaults(factory: type) -> dict:
    """The ``defaults`` of a class as its source writes them (literals, ``{**Parent.defaults, ...}``), following the
    MRO; raises _NotStatic when they are computed."""
    mro = [c for c in inspect.getmro(factory) if c is not object]
    by_name = {c.__name__: c for c in mro}
    memo: dict[type, dict] = {}

    def of(cls: type) -> dict:
        if cls in memo:
            return memo[cls]
        if is_library(cls.__module__):
            raise _NotStatic
        node = _class_node(sys.modules.get(cls.__module__), cls.__qualname__)
        value = None
        for stmt in node.body:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] \
                if isinstance(stmt, ast.AnnAssign) and stmt.value is not None else []
            if any(isinstance(t, ast.Name) and t.id == "defaults" for t in targets):
                value = stmt.value
            elif any(not isinstance(t, ast.Name) for t in targets):
                raise _NotStatic  # e.g. defaults["x"] = ...: not a plain assignment
        if value is None:
            later = mro[mro.index(cls) + 1:]
            parent = next((c for c in later if "defaults" in vars(c)), None)
            if parent is None:
                raise _NotStatic
            memo[cls] = of(parent)
        else:
            memo[cls] = evaluate(value)
        return memo[cls]

    def evaluate(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = evaluate(node.operand)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise _NotStatic
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [evaluate(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Dict):
            out: dict = {}
            for k, v in zip(node.keys, node.values):
                if k is None:
                    if not (isinstance(v, ast.Attribute) and v.attr == "defaults" and isinstance(v.value, ast.Name)
                            and v.value.id in by_name):
                        raise _NotStatic
                    out.update(of(by_name[v.value.id]))
                else:
                    out[evaluate(k)] = evaluate(v)
            return out
        raise _NotStatic

    return of(factory)


# ---- writing and reading ---------------------------------------------------------------------
def make_card(entry: Any, factory: Any) -> dict | None:
    """The card of a lazily registered ``factory`` just imported, or None when its answers are not a function of its
    source files (see the module docstring)."""
    from .cache import code_version as key_code_version
    from .samples import SampleSet

    if not inspect.isclass(factory) or not isinstance(getattr(factory, "defaults", None), dict):
        return None
    if getattr(factory, "blend", False):  # a blend is resolved by the run from its class (model/blend.py is_blend)
        return None
    try:
        static = static_defaults(factory)
    except (_NotStatic, RecursionError):
        return None
    defaults = factory.defaults
    if type(static) is not dict or repr(static) != repr(defaults) or static != defaults:
        return None
    code, code_key = canonical_code_version(factory), key_code_version(factory)
    if code is None or code_key is None:
        return None
    module = entry.target.partition(":")[0]
    names = dict.fromkeys([module, *(c.__module__ for c in inspect.getmro(factory) if not is_library(c.__module__)),
                           SampleSet.__module__])
    files = []
    for name in names:
        path = _origin(name)
        sha = file_digest(path) if path else None
        if not path or not path.endswith(".py") or sha is None:
            return None
        files.append([name, path, sha])
    return {"format": CARD_FORMAT, "target": entry.target, "defaults": copy.deepcopy(defaults), "code": code,
            "code_key": code_key, "device_rule": _device_rule(factory), "files": files,
            "doc": getattr(factory, "__doc__", None) or "", "versions": _versions()}


def _device_rule(factory: type) -> str | None:
    """"torch_sequence" when the model's device is TorchSequenceModel's ``pick_device(params["device"])``: a subclass
    that changes neither ``__init__`` nor ``device``."""
    if "seqalpha.model.torch_sequence" not in sys.modules:
        return None
    from .torch_sequence import TorchSequenceModel

    if not issubclass(factory, TorchSequenceModel):
        return None
    for cls in inspect.getmro(factory):
        if cls is TorchSequenceModel:
            return "torch_sequence"
        if "__init__" in vars(cls) or "device" in vars(cls) or "__new__" in vars(cls):
            return None
    return None


def _versions() -> dict:
    from ..resolved import versions

    return versions()


def model_factory(entry: Any, cache: Any | None) -> Any:
    """What a run uses as ``entry``'s factory: a CardFactory when the model cache ``cache`` (a ModelCache, or None
    for no cache) holds a card of it whose files all still hold; else the factory is imported and its card
    written (a CardFactory again), or, when it can have no card, the factory itself."""
    if cache is None or not getattr(entry, "lazy", False):
        return entry.factory
    key = card_key(entry.target)
    tree = cache.load_tree(key)
    if (isinstance(tree, dict) and tree.get("format") == CARD_FORMAT and tree.get("target") == entry.target
            and isinstance(tree.get("files"), list) and isinstance(tree.get("defaults"), dict)
            and tree.get("versions") == _versions() and _files_hold(tree["files"])):
        return CardFactory(entry, tree)
    factory = entry.factory
    card = make_card(entry, factory)
    if card is None:
        return factory
    cache.store_tree(key, card)  # False (nothing stored) in a folder that cannot be written
    return CardFactory(entry, card)  # the same answers; this run records its parameter check like the next ones


def checked_key(factory: CardFactory, params: dict) -> str:
    """The cache key that records that ``factory(**params)`` was built without error (run.py's parameter check): a
    function of the card's code and of the parameters, so a run with the same ones need not build the model."""
    return digest({"kind": "params-checked", "format": CARD_FORMAT, "target": factory.entry.target,
                   "code": factory.card["code_key"], "defaults": factory.card["defaults"], "params": params})


def factory_code_version(factory: Any, with_samples: bool = False) -> str | None:
    """The code version of a factory, from its card when it has one."""
    if isinstance(factory, CardFactory):
        return factory.code_version(with_samples)
    if with_samples:
        from .cache import code_version as key_code_version

        return key_code_version(factory)
    return canonical_code_version(factory)
