"""A safe byte form for model states and loop state: JSON plus ``.npy`` blobs, never a pickle.

What it stores: None, bool, int, float, str, bytes, lists, tuples, dicts (any keys it can
store), numpy arrays and scalars (``.npy`` with ``allow_pickle=False``; an object array as
a list of its elements), torch tensors (as arrays; bfloat16 too), ``pd.Timestamp``,
``pd.Timedelta``, ``datetime``/``date`` and pandas ``DataFrame``/``Series``/``Index``.
Anything else is refused when encoding (``Unstorable`` names where it sits), so decoding
can only ever build these types: it imports nothing and calls no constructor named by
the bytes. Decoding trusts nothing it reads; a malformed payload raises ``ValueError``.

Layout: ``MAGIC``, an 8-byte little-endian header length, the JSON header
(``{"tree": ..., "blobs": [[offset, length], ...]}``), then the blobs.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
from typing import Any

import numpy as np

MAGIC = b"SEQALPHA-SAFE-1\n"
_TAG = "$t"


class Unstorable(TypeError):
    """A value the safe form cannot store; the message names where it sits, e.g. ``state['attrs']['est']``."""


def encode(tree: Any, root: str = "value") -> bytes:
    """The bytes of ``tree``; raises ``Unstorable`` for a value it cannot store safely (named from ``root``)."""
    blobs: list[bytes] = []
    try:
        header = {"tree": _enc(tree, blobs, root), "blobs": []}
    except RecursionError:
        raise Unstorable(f"{root}: nested too deeply to store") from None
    offset = 0
    for blob in blobs:
        header["blobs"].append([offset, len(blob)])
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    return b"".join([MAGIC, len(text).to_bytes(8, "little"), text, *blobs])


def decode(data: bytes, defer_tensors: bool = False) -> Any:
    """The tree stored in ``data`` (by ``encode``); ``ValueError`` when the bytes are not such a payload. With
    ``defer_tensors`` a torch tensor comes back as a ``DeferredTensor`` (its array, checked), so decoding does not
    import torch; ``realise`` turns them into tensors when they are needed."""
    data = memoryview(data)
    if bytes(data[:len(MAGIC)]) != MAGIC:
        raise ValueError("not a seqalpha safe payload (wrong leading bytes)")
    start = len(MAGIC) + 8
    size = int.from_bytes(data[len(MAGIC):start], "little")
    if start + size > len(data):
        raise ValueError("payload cut short (header)")
    header = json.loads(bytes(data[start:start + size]))
    body = data[start + size:]
    spans = header.get("blobs") if isinstance(header, dict) else None
    if not isinstance(spans, list) or "tree" not in header:
        raise ValueError("payload header malformed")
    blobs = []
    for span in spans:
        if not (isinstance(span, list) and len(span) == 2 and all(type(x) is int and x >= 0 for x in span)
                and span[0] + span[1] <= len(body)):
            raise ValueError("payload blob table malformed")
        blobs.append(body[span[0]:span[0] + span[1]])
    return _dec(header["tree"], blobs, defer_tensors)


class DeferredTensor:
    """A decoded tensor not made yet: its numpy array and torch dtype name (``decode(defer_tensors=True)``)."""

    __slots__ = ("array", "dtype")

    def __init__(self, array: np.ndarray, dtype: str) -> None:
        self.array, self.dtype = array, dtype

    def tensor(self) -> Any:
        return _tensor_of(self.array, self.dtype)


def realise(tree: Any) -> Any:
    """``tree`` with every ``DeferredTensor`` made into a torch tensor (torch is imported only when there is one)."""
    if isinstance(tree, DeferredTensor):
        return tree.tensor()
    if type(tree) is list:
        return [realise(x) for x in tree]
    if type(tree) is tuple:
        return tuple(realise(x) for x in tree)
    if type(tree) is dict:
        return {k: realise(x) for k, x in tree.items()}
    return tree


def storable(tree: Any, root: str = "value") -> str | None:
    """None when ``tree`` can be stored safely, else the reason (where the first unstorable value sits)."""
    try:
        encode(tree, root)
    except Unstorable as exc:
        return str(exc)
    return None


# ---- encoding --------------------------------------------------------------------------------
def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)  # keeps Fortran order; never pickles
    return buf.getvalue()


def _blob(blobs: list[bytes], data: bytes) -> int:
    blobs.append(data)
    return len(blobs) - 1


def _array(arr: np.ndarray, blobs: list[bytes], where: str) -> dict:
    if arr.dtype.hasobject:
        if arr.dtype != object:
            raise Unstorable(f"{where}: a structured array with Python objects ({arr.dtype}) cannot be stored safely")
        return {_TAG: "objarray", "shape": list(arr.shape),
                "v": [_enc(x, blobs, f"{where}[{k}]") for k, x in enumerate(arr.ravel().tolist())]}
    return {_TAG: "ndarray", "i": _blob(blobs, _npy(arr))}


def _is_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _tensor(value: Any, blobs: list[bytes], where: str) -> dict:
    import torch

    t = value.detach().cpu()
    dtype = str(t.dtype).removeprefix("torch.")
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    try:
        arr = t.contiguous().numpy()
    except (TypeError, RuntimeError) as exc:
        raise Unstorable(f"{where}: a tensor of dtype {dtype} cannot be stored ({exc})") from None
    return {_TAG: "tensor", "dtype": dtype, "i": _blob(blobs, _npy(arr))}


def _index(index: Any, blobs: list[bytes], where: str) -> dict:
    import pandas as pd

    if type(index) is pd.RangeIndex:
        return {_TAG: "range_index", "start": index.start, "stop": index.stop, "step": index.step,
                "name": _enc(index.name, blobs, f"{where}.name")}
    if isinstance(index, pd.MultiIndex):
        raise Unstorable(f"{where}: a MultiIndex cannot be stored safely")
    return {_TAG: "index", "values": _column(index, blobs, where), "name": _enc(index.name, blobs, f"{where}.name")}


def _column(values: Any, blobs: list[bytes], where: str) -> dict:
    """A Series' or Index's values: an .npy blob for a numpy dtype, else the elements and the dtype's name."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and not dtype.hasobject:
        return {"dtype": None, "data": _array(np.asarray(values), blobs, where)}
    elements = [None if _is_missing(x) else x for x in values.tolist()] if not isinstance(dtype, np.dtype) \
        else values.tolist()
    return {"dtype": str(dtype), "data": _enc(elements, blobs, where)}


def _is_missing(x: Any) -> bool:
    import pandas as pd

    return x is pd.NA or x is pd.NaT or (isinstance(x, float) and x != x)


def _enc(v: Any, blobs: list[bytes], where: str) -> Any:
    if v is None or type(v) in (bool, str):
        return v
    if type(v) is int:
        return v
    if type(v) is float:
        return v if v == v and v not in (float("inf"), float("-inf")) else {_TAG: "float", "v": repr(v)}
    if isinstance(v, np.generic):
        if v.dtype.kind in "biu" or (v.dtype.kind == "f" and v.dtype.itemsize <= 8):  # exact as a Python number
            return {_TAG: "np", "dtype": v.dtype.str, "v": _enc(v.item(), blobs, where)}
        if v.dtype.hasobject:
            raise Unstorable(f"{where}: a numpy object scalar cannot be stored safely")
        return {_TAG: "np0", "i": _blob(blobs, _npy(np.asarray(v)))}
    if type(v) is np.ndarray:
        return _array(v, blobs, where)
    if type(v) is bytes:
        return {_TAG: "bytes", "i": _blob(blobs, v)}
    if type(v) is list:
        return [_enc(x, blobs, f"{where}[{k}]") for k, x in enumerate(v)]
    if type(v) is tuple:
        return {_TAG: "tuple", "v": [_enc(x, blobs, f"{where}[{k}]") for k, x in enumerate(v)]}
    if type(v) is dict:
        if all(type(k) is str for k in v) and _TAG not in v:
            return {k: _enc(x, blobs, f"{where}[{k!r}]") for k, x in v.items()}
        return {_TAG: "dict", "items": [[_enc(k, blobs, f"{where} key"), _enc(x, blobs, f"{where}[{k!r}]")]
                                        for k, x in v.items()]}
    if _is_tensor(v):
        return _tensor(v, blobs, where)
    return _pandas_or_time(v, blobs, where)


def _pandas_or_time(v: Any, blobs: list[bytes], where: str) -> Any:
    pd = sys.modules.get("pandas")
    if pd is not None:
        if v is pd.NaT:
            return {_TAG: "nat"}
        if v is pd.NA:
            return {_TAG: "na"}
        if type(v) is pd.Timestamp:
            return {_TAG: "timestamp", "v": int(v.value), "unit": v.unit, "tz": None if v.tz is None else str(v.tz)}
        if type(v) is pd.Timedelta:
            return {_TAG: "timedelta", "v": int(v.value), "unit": v.unit}
        if type(v) is pd.DataFrame:
            if not v.columns.is_unique:
                raise Unstorable(f"{where}: a DataFrame with repeated column names cannot be stored")
            return {_TAG: "frame", "index": _index(v.index, blobs, f"{where}.index"),
                    "columns": _index(v.columns, blobs, f"{where}.columns"),
                    "data": [_column(v[c], blobs, f"{where}[{c!r}]") for c in v.columns]}
        if type(v) is pd.Series:
            return {_TAG: "series", "index": _index(v.index, blobs, f"{where}.index"),
                    "name": _enc(v.name, blobs, f"{where}.name"), "data": _column(v, blobs, where)}
        if isinstance(v, pd.Index):
            return _index(v, blobs, where)
    if type(v) is dt.datetime:
        return {_TAG: "datetime", "v": v.isoformat()}
    if type(v) is dt.date:
        return {_TAG: "date", "v": v.isoformat()}
    raise Unstorable(f"{where}: {type(v).__module__}.{type(v).__qualname__} cannot be stored safely (store arrays, "
                     "numbers, str, lists and dicts of them)")


# ---- decoding --------------------------------------------------------------------------------
def _load_npy(blob: memoryview) -> np.ndarray:
    arr = np.lib.format.read_array(io.BytesIO(blob), allow_pickle=False)
    return arr if arr.flags.writeable else arr.copy()


def _blob_at(node: dict, blobs: list) -> memoryview:
    i = node.get("i")
    if type(i) is not int or not 0 <= i < len(blobs):
        raise ValueError("payload refers to a blob it does not have")
    return blobs[i]


def _dec(node: Any, blobs: list, defer: bool = False) -> Any:
    if node is None or type(node) in (bool, int, float, str):
        return node
    if type(node) is list:
        return [_dec(x, blobs, defer) for x in node]
    if type(node) is not dict:
        raise ValueError(f"payload holds an unexpected {type(node).__name__}")
    if _TAG not in node:
        return {k: _dec(x, blobs, defer) for k, x in node.items()}
    tag = node[_TAG]
    if tag == "float":
        if node.get("v") not in ("nan", "inf", "-inf"):
            raise ValueError("payload holds a malformed float")
        return float(node["v"])
    if tag == "np":
        dtype = np.dtype(node["dtype"])
        if dtype.kind not in "biuf" or dtype.itemsize > 8:
            raise ValueError("payload holds a malformed numpy scalar")
        return dtype.type(_dec(node["v"], blobs, defer))
    if tag == "np0":
        return _load_npy(_blob_at(node, blobs))[()]
    if tag == "ndarray":
        return _load_npy(_blob_at(node, blobs))
    if tag == "objarray":
        out = np.empty(len(node["v"]), dtype=object)
        out[:] = [_dec(x, blobs, defer) for x in node["v"]] if node["v"] else []
        return out.reshape([int(s) for s in node["shape"]])
    if tag == "bytes":
        return bytes(_blob_at(node, blobs))
    if tag == "tuple":
        return tuple(_dec(x, blobs, defer) for x in node["v"])
    if tag == "dict":
        return {_hashable(_dec(k, blobs, defer)): _dec(x, blobs, defer) for k, x in node["items"]}
    if tag == "tensor":
        return _dec_tensor(node, blobs, defer)
    return _dec_pandas_or_time(tag, node, blobs)


def _hashable(key: Any) -> Any:
    hash(key)  # a list as a key is malformed: TypeError
    return key


def _dec_tensor(node: dict, blobs: list, defer: bool = False) -> Any:
    arr = _load_npy(_blob_at(node, blobs))
    dtype = node.get("dtype")
    if not isinstance(dtype, str):
        raise ValueError("payload holds a tensor without a dtype")
    if dtype == "bfloat16":
        if arr.dtype != np.int16:
            raise ValueError("payload holds a tensor whose dtype does not match its array")
    elif arr.dtype.kind not in "biufc" or str(arr.dtype) != _NUMPY_OF.get(dtype, dtype):
        raise ValueError("payload holds a tensor whose dtype does not match its array")
    return DeferredTensor(arr, dtype) if defer else _tensor_of(arr, dtype)


#: torch dtype names whose numpy dtype has another name
_NUMPY_OF = {"float": "float32", "double": "float64", "half": "float16", "long": "int64", "int": "int32",
             "short": "int16", "complex64": "complex64", "complex128": "complex128"}


def _tensor_of(arr: np.ndarray, dtype: str) -> Any:
    import torch

    if dtype == "bfloat16":
        return torch.from_numpy(arr).view(torch.bfloat16)
    t = torch.from_numpy(arr)
    if str(t.dtype).removeprefix("torch.") != dtype:
        raise ValueError("payload holds a tensor whose dtype does not match its array")
    return t


def _dec_column(node: dict, blobs: list) -> Any:
    import pandas as pd

    values = _dec(node["data"], blobs)
    if node["dtype"] is None:
        if not isinstance(values, np.ndarray):
            raise ValueError("payload column malformed")
        return values
    if not isinstance(values, list):
        raise ValueError("payload column malformed")
    if node["dtype"] == "object":
        out = np.empty(len(values), dtype=object)
        out[:] = values if values else []
        return out
    return pd.array(values, dtype=pd.api.types.pandas_dtype(node["dtype"]))


def _dec_index(node: Any, blobs: list) -> Any:
    import pandas as pd

    if not isinstance(node, dict):
        raise ValueError("payload index malformed")
    name = _dec(node["name"], blobs)
    if node.get(_TAG) == "range_index":
        return pd.RangeIndex(int(node["start"]), int(node["stop"]), int(node["step"]), name=name)
    if node.get(_TAG) != "index":
        raise ValueError("payload index malformed")
    return pd.Index(_dec_column(node["values"], blobs), name=name, copy=False)


def _dec_pandas_or_time(tag: str, node: dict, blobs: list) -> Any:
    import pandas as pd

    if tag == "nat":
        return pd.NaT
    if tag == "na":
        return pd.NA
    if tag == "timestamp":
        ts = pd.Timestamp(int(node["v"]), unit="ns", tz="UTC" if node["tz"] else None)
        ts = ts.tz_convert(str(node["tz"])) if node["tz"] else ts
        return ts.as_unit(str(node["unit"])) if node.get("unit") else ts
    if tag == "timedelta":
        td = pd.Timedelta(int(node["v"]), unit="ns")
        return td.as_unit(str(node["unit"])) if node.get("unit") else td
    if tag in ("index", "range_index"):
        return _dec_index(node, blobs)
    if tag == "frame":
        columns = _dec_index(node["columns"], blobs)
        data = [_dec_column(c, blobs) for c in node["data"]]
        if len(data) != len(columns):
            raise ValueError("payload frame malformed")
        index = _dec_index(node["index"], blobs)
        frame = pd.DataFrame({k: pd.Series(v, index=index, copy=False) for k, v in enumerate(data)}, index=index)
        frame.columns = columns
        return frame
    if tag == "series":
        return pd.Series(_dec_column(node["data"], blobs), index=_dec_index(node["index"], blobs),
                         name=_dec(node["name"], blobs), copy=False)
    if tag == "datetime":
        return dt.datetime.fromisoformat(str(node["v"]))
    if tag == "date":
        return dt.date.fromisoformat(str(node["v"]))
    raise ValueError(f"payload holds an unknown kind {tag!r}")
