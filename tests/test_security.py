"""Security: nothing seqalpha reads back runs code (no pickles), a shared cache can be signed, the cache command
deletes only its own entries and asks first, run folders stay under runs/, and cluster clients speak TLS."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqalpha import Model, Strategy, hookimpl, run_backtest, safe_codec
from seqalpha.backtest.checkpoint import Checkpoint, CheckpointMismatch
from seqalpha.cli import main
from seqalpha.errors import ClusterError
from seqalpha.model import cache_entry
from seqalpha.model.cache import FORMAT, MARKER, ModelCache
from seqalpha.strategy import StrategyError

ROOT = Path(__file__).resolve().parents[1]
SECRET = "sekrit-7f3a9c-do-not-print"


def _pwn(path: str) -> None:
    """What a planted pickle runs when it is loaded: it leaves a file behind."""
    Path(path).write_text("code ran")


class Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return _pwn, (self.marker,)


class Holder:
    """An object the safe form does not store (like an sklearn estimator a model builds in __init__)."""

    def __init__(self) -> None:
        self.coef = None


class HeldRidge(Model):
    """Ridge on the last step whose fitted coefficients live in a Holder object."""

    defaults = {"alpha": 1.0}

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.est = Holder()

    def fit(self, train, valid):
        x = np.c_[train.last_step(), np.ones(len(train))]
        self.est.coef = np.linalg.solve(x.T @ x + self.params["alpha"] * np.eye(x.shape[1]), x.T @ train.targets)
        return {}

    def predict(self, samples):
        return np.c_[samples.last_step(), np.ones(len(samples))] @ self.est.coef


class Held:
    @staticmethod
    @hookimpl
    def register_models(register):
        register("held_ridge", HeldRidge)


class Small(Strategy):
    data = "synthetic?assets=12&days=160"
    model = "linear"
    window = 5
    horizon = 1
    rebalance = "W"
    retrain = "2MS"
    min_train_bars = 60
    portfolio_params = {"k": 3}


def _run(**kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = run_backtest(Small, progress=False, **kw)
    return res, [str(w.message) for w in caught]


@pytest.fixture(scope="module")
def filled_cache(tmp_path_factory):
    """A cache folder holding the entries of one run of Small, and that run's metrics."""
    folder = tmp_path_factory.mktemp("template") / "cache"
    before = os.environ.get("SEQALPHA_CACHE_DIR")
    os.environ["SEQALPHA_CACHE_DIR"] = str(folder)
    try:
        res = run_backtest(Small, progress=False)
    finally:
        if before is None:
            os.environ.pop("SEQALPHA_CACHE_DIR")
        else:
            os.environ["SEQALPHA_CACHE_DIR"] = before
    assert res.metrics["n_cache_hits"] == 0 and len(list(folder.rglob("*.model"))) == res.metrics["n_retrains"]
    return folder, res.metrics


def _forged(key: str, encoding: str, payload: bytes, secret: bytes | None) -> bytes:
    """An entry as someone who can write to the cache would plant it: any encoding, any digest."""
    header = {"format": FORMAT, "key": key, "encoding": encoding,
              "digest": cache_entry.digest(key, FORMAT, encoding, payload, secret)}
    return cache_entry.MAGIC + json.dumps(header).encode() + b"\n" + payload


# ---- 1. a planted model-cache entry runs no code ------------------------------------------------------------

PLANTS = {
    # a "safe" entry whose payload is a pickle, with a correct sha256: the safe decoder refuses it
    "pickle_payload_in_a_safe_entry": dict(encoding="safe", secret=None, env_key=None, opt_in=False),
    # an entry that says it is a pickle, correct sha256, and a model that did not opt in
    "pickle_entry_without_opt_in": dict(encoding="pickle", secret=None, env_key=None, opt_in=False),
    # a signed cache (SEQALPHA_CACHE_KEY) and a model that opted in: a forger without the key writes a sha256 ...
    "forged_plain_digest_in_a_signed_cache": dict(encoding="pickle", secret=None, env_key=SECRET, opt_in=True),
    # ... or signs with another key
    "forged_with_another_key": dict(encoding="pickle", secret=b"not-the-key", env_key=SECRET, opt_in=True),
    # an old-format pickle (format 3, right digest) where an entry would be: never read
    "old_format_pickle_file": dict(encoding="legacy", secret=None, env_key=None, opt_in=False),
}


@pytest.mark.parametrize("plant", list(PLANTS))
def test_a_planted_cache_entry_never_runs_code(filled_cache, tmp_path, monkeypatch, plant):
    template, metrics = filled_cache
    case = PLANTS[plant]
    marker = tmp_path / "code-ran"
    evil = pickle.dumps({"state": Evil(marker), "info": {}})
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(Evil(probe)))
    assert probe.exists()  # the payload is live: unpickling it runs code

    cache = tmp_path / "cache"
    shutil.copytree(template, cache)
    planted = []
    for path in sorted(cache.rglob("*.model")):
        key = path.stem
        if case["encoding"] == "legacy":
            path.unlink()
            path = path.with_suffix(".pkl")
            path.write_bytes(pickle.dumps({"format": 3, "digest": hashlib.sha256(evil).hexdigest(), "payload": evil}))
        else:
            path.write_bytes(_forged(key, case["encoding"], evil, case["secret"]))
        planted.append(path)
    monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(cache))
    if case["env_key"]:
        monkeypatch.setenv("SEQALPHA_CACHE_KEY", case["env_key"])
    else:
        monkeypatch.delenv("SEQALPHA_CACHE_KEY", raising=False)
    res, said = _run(model_params={"unsafe_pickle_cache": True} if case["opt_in"] else {})

    assert not marker.exists(), "a planted cache entry ran code"
    assert res.metrics["n_cache_hits"] == 0 and res.metrics["ic"] == metrics["ic"]  # refitted, same numbers
    if case["encoding"] != "legacy":  # each planted entry is named in a warning, and refitted
        for path in planted:
            assert any(str(path) in line and "refitting" in line for line in said), (path, said)
    assert not marker.exists()


def test_a_signed_cache_refuses_entries_without_its_key(tmp_path, monkeypatch):
    """With SEQALPHA_CACHE_KEY, entries carry an HMAC: one written without the key or with another is refused."""
    cache = ModelCache(tmp_path)
    model = Model()
    model.coef = np.arange(3.0)
    key = "ab" * 32

    def stored_with(secret: str | None) -> None:
        if secret is None:
            monkeypatch.delenv("SEQALPHA_CACHE_KEY", raising=False)
        else:
            monkeypatch.setenv("SEQALPHA_CACHE_KEY", secret)
        assert cache.store(key, model, {"history": []})

    def loaded_with(secret: str | None):
        if secret is None:
            monkeypatch.delenv("SEQALPHA_CACHE_KEY", raising=False)
        else:
            monkeypatch.setenv("SEQALPHA_CACHE_KEY", secret)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hit = cache.load(key, Model, {})
        return hit, " ".join(str(w.message) for w in caught)

    stored_with(SECRET)
    hit, _ = loaded_with(SECRET)
    np.testing.assert_array_equal(hit[0].coef, model.coef)
    assert SECRET.encode() not in cache.path(key).read_bytes()
    hit, said = loaded_with("another-key")
    assert hit is None and "does not match its digest signed with SEQALPHA_CACHE_KEY" in said and key in said
    hit, said = loaded_with(None)
    assert hit is None and "is signed with a key (SEQALPHA_CACHE_KEY) that is not set here" in said
    stored_with(None)  # an unsigned entry, e.g. written by someone without the key
    hit, said = loaded_with(SECRET)
    assert hit is None and "is not signed with SEQALPHA_CACHE_KEY" in said
    assert loaded_with(None)[0] is not None  # without a key, a plain digest is accepted (it catches damage only)
    other = "cd" * 32  # an entry copied to another key's path is refused too
    cache.path(other).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(cache.path(key), cache.path(other))
    assert loaded_with(None)[0] is not None
    with pytest.warns(RuntimeWarning, match="another key"):
        assert cache.load(other, Model, {}) is None


def test_a_state_the_cache_cannot_store_safely_is_not_cached_unless_opted_in(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SEQALPHA_CACHE_KEY", raising=False)
    plain, said = _run(model="held_ridge", plugins=[Held])
    assert any("model 'held_ridge' is not cached" in s and "entry['state']['est']" in s and "Holder" in s
               and "unsafe_pickle_cache=True" in s for s in said), said
    assert not list((tmp_path / "cache").rglob("*.model"))
    again, _ = _run(model="held_ridge", plugins=[Held])
    assert again.metrics["n_cache_hits"] == 0

    opted = {"unsafe_pickle_cache": True}
    first, said = _run(model="held_ridge", plugins=[Held], model_params=opted)
    assert any("unsafe_pickle_cache=True" in s and "runs any code it holds" in s and "SEQALPHA_CACHE_KEY" in s
               for s in said), said
    entries = list((tmp_path / "cache").rglob("*.model"))
    assert entries and all(b'"encoding": "pickle"' in p.read_bytes()[:400] for p in entries)
    hit, _ = _run(model="held_ridge", plugins=[Held], model_params=opted)
    assert hit.metrics["n_cache_hits"] == hit.metrics["n_retrains"]
    pd.testing.assert_frame_equal(hit.scores, plain.scores)  # the opt-in changes no number
    refused, said = _run(model="held_ridge", plugins=[Held])  # a pickled entry is not read without the opt-in
    assert refused.metrics["n_cache_hits"] == 0 and any("is a pickle" in s for s in said)


def test_the_pickle_opt_in_is_not_part_of_the_cache_key(tmp_path, monkeypatch):
    """A model whose state is stored safely is stored safely with the opt-in too, under the same key."""
    monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(tmp_path / "cache"))
    first, _ = _run()
    hit, _ = _run(model_params={"unsafe_pickle_cache": True})
    assert hit.metrics["n_cache_hits"] == hit.metrics["n_retrains"] == first.metrics["n_retrains"]
    assert all(b'"encoding": "safe"' in p.read_bytes()[:400] for p in (tmp_path / "cache").rglob("*.model"))


def test_workers_refuse_a_model_the_cache_cannot_store_safely(tmp_path, register_plugin):
    from seqalpha.resolved import resolve_run
    from seqalpha.sweep.fanout import run_on_cluster
    from seqalpha.sweep.storable import check_models_travel

    register_plugin(Held(), name="held-for-workers")

    class HeldSmall(Small):
        model = "held_ridge"

    with pytest.raises(StrategyError, match=r"--workers moves fitted models through the model cache.*"
                                            r"state\(\)\['est'\]: \S*Holder cannot be stored"):
        run_on_cluster(HeldSmall, {}, None, tmp_path / "out", None, 1)  # refused before the client is used
    check_models_travel(resolve_run(HeldSmall, {"model_params": {"unsafe_pickle_cache": True}}))  # the opt-in
    check_models_travel(resolve_run(Small))  # a model stored safely travels


# ---- 2. the key never leaves the environment -------------------------------------------------------------------

def test_the_cache_key_is_never_written_or_printed(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SEQALPHA_CACHE_KEY", SECRET)
    strategy = tmp_path / "small.py"
    strategy.write_text("from tests.test_security import Small as _S\n\n\nclass KeyCheck(_S):\n    pass\n")
    monkeypatch.syspath_prepend(str(ROOT))
    out = tmp_path / "run"
    assert main(["run", str(strategy), "--out", str(out), "-v", "--set", "model_params={'unsafe_pickle_cache': True}"]) == 0
    assert main(["run", str(strategy), "--out", str(tmp_path / "run2"), "-v"]) == 0  # from the cache
    assert main(["report", str(out)]) == 0
    assert main(["cache"]) == 0
    printed = capsys.readouterr()
    assert "SEQALPHA_CACHE_KEY" in printed.err  # the opt-in's warning names the variable ...
    assert SECRET not in printed.out + printed.err  # ... never its value
    config = json.loads((out / "config.json").read_text())
    assert "unsafe_pickle_cache" in json.dumps(config) and SECRET not in json.dumps(config)
    files = [p for p in [*tmp_path.rglob("*")] if p.is_file()]
    assert any(p.name == "report.html" for p in files) and any(p.suffix == ".model" for p in files)
    leaked = [str(p) for p in files if SECRET.encode() in p.read_bytes()]
    assert not leaked, leaked


# ---- 3. checkpoints are never unpickled either ----------------------------------------------------------------

def test_a_planted_checkpoint_segment_never_runs_code(tmp_path):
    marker = tmp_path / "code-ran"
    evil = pickle.dumps({"fingerprint": "fp", "next_bar": 1, "state": Evil(marker)})
    folder = tmp_path / "checkpoint"
    ckpt = Checkpoint(folder, "fp")
    ckpt.save(10, {"rows": [pd.DataFrame({"t": [1, 2], "score": [0.5, np.nan]})], "now": pd.Series([1.0], ["A"]),
                   "decisions": [(3, np.zeros(4))], "when": [{"date": pd.Timestamp("2020-01-02")}]})
    loaded = Checkpoint(folder, "fp").load()
    pd.testing.assert_frame_equal(loaded[1]["rows"][0], pd.DataFrame({"t": [1, 2], "score": [0.5, np.nan]}))
    assert loaded[1]["decisions"][0][0] == 3 and loaded[1]["when"][0]["date"] == pd.Timestamp("2020-01-02")
    segment = folder / "segment-00000.state"
    for data in (evil,  # a bare pickle
                 segment.read_bytes()[:30] + hashlib.sha256(evil).hexdigest().encode() + b"\n" + evil):  # right digest
        segment.write_bytes(data)
        with pytest.raises(CheckpointMismatch, match="segment-00000.state is damaged"):
            Checkpoint(folder, "fp").load()
    (folder / "segment-00000.pkl").write_bytes(evil)  # the old layout: not read at all
    segment.unlink()
    assert Checkpoint(folder, "fp").load() is None
    assert not marker.exists()


def test_a_value_a_checkpoint_cannot_store_stops_checkpoints_with_a_warning(tmp_path):
    ckpt = Checkpoint(tmp_path, "fp")
    ckpt.save(10, {"rows": [1]})
    with pytest.warns(RuntimeWarning, match=r"checkpoints of this run stop at segment 1: checkpoint\['state'\]"):
        ckpt.save(20, {"rows": [1, Holder()]})
    ckpt.save(30, {"rows": [1, Holder(), 3]})
    assert Checkpoint(tmp_path, "fp").load() == (10, {"rows": [1]})  # resume goes back to the last good segment


def test_the_safe_form_stores_what_states_hold_and_refuses_the_rest():
    torch = pytest.importorskip("torch")
    tree = {"coef": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "n": 3, "x": [1.5, float("nan"), None, "s"],
            "np": [np.float32(0.1), np.int64(7), np.bool_(True), np.datetime64("2020-01-01")],
            "net": {"w": torch.randn(2, 2), "half": torch.ones(2, dtype=torch.bfloat16), "steps": torch.tensor(5)},
            "frame": pd.DataFrame({"date": pd.to_datetime(["2020-01-01", "2020-01-02"]).as_unit("us"),
                                   "asset": ["A", None], "w": [0.5, np.nan]}),
            "when": pd.Timestamp("2020-01-02 09:30", tz="Asia/Shanghai"), "pair": (1, "a"), "keys": {1: "one"},
            "day": dt.date(2020, 1, 1), "tree_model": "tree 0\nsplit ...", "raw": b"\x00\x01"}
    back = safe_codec.decode(safe_codec.encode(tree))
    np.testing.assert_array_equal(back["coef"], tree["coef"])
    assert back["coef"].flags.f_contiguous and back["coef"].flags.writeable
    assert back["np"][0].dtype == np.float32 and back["np"][0] == tree["np"][0] and back["np"][3] == tree["np"][3]
    for k in tree["net"]:
        assert back["net"][k].dtype == tree["net"][k].dtype and torch.equal(back["net"][k], tree["net"][k])
    pd.testing.assert_frame_equal(back["frame"], tree["frame"])
    assert back["when"] == tree["when"] and str(back["when"].tz) == "Asia/Shanghai"
    assert {k: back[k] for k in ("n", "pair", "keys", "day", "tree_model", "raw")} == \
        {k: tree[k] for k in ("n", "pair", "keys", "day", "tree_model", "raw")}
    assert back["x"][:1] == [1.5] and np.isnan(back["x"][1]) and back["x"][2:] == [None, "s"]
    with pytest.raises(safe_codec.Unstorable, match=r"model\['est'\]: \S*Holder"):
        safe_codec.encode({"est": Holder()}, "model")
    with pytest.raises(ValueError, match="not a seqalpha safe payload"):
        safe_codec.decode(pickle.dumps({"a": 1}))


# ---- 4. run folders stay under runs/ ---------------------------------------------------------------------------

def test_the_default_run_folder_of_a_strange_class_name_stays_under_runs(tmp_path, monkeypatch, capsys):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(ROOT))
    strategy = work / "odd.py"
    strategy.write_text("from tests.test_security import Small as _S\n\nOdd = type('../../Escaped', (_S,), {})\n")
    assert main(["run", str(strategy), "-q"]) == 0
    made = sorted(p.name for p in (work / "runs").iterdir())
    assert len(made) == 1 and made[0].startswith("Escaped-"), made
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "cache"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b"]
    (tmp_path / "a" / "Escaped-20200101-000000").mkdir()  # --resume looks under runs/ only
    assert main(["run", str(strategy), "-q", "--resume"]) == 0
    assert not list((tmp_path / "a" / "Escaped-20200101-000000").iterdir())


# ---- 5. `seqalpha cache` deletes only its own entries, and asks first ----------------------------------------

def _filled(folder: Path, n: int = 2) -> ModelCache:
    cache = ModelCache(folder)
    model = Model()
    model.coef = np.ones(3)
    for k in range(n):
        assert cache.store(f"{k:02d}" * 32, model, {})
    return cache


def _cache_cli(monkeypatch, capsys, folder: Path, *args: str, tty: bool = False, answer: str = ""):
    monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(folder))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: tty, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt="": answer)
    code = main(["cache", *args])
    return code, capsys.readouterr()


def test_cache_refuses_a_negative_age(tmp_path, monkeypatch, capsys):
    cache = _filled(tmp_path)
    for age in ("-5", "nan"):
        code, printed = _cache_cli(monkeypatch, capsys, tmp_path, "--older-than", age, "--yes")
        assert code == 2 and "--older-than must be a number of days >= 0" in printed.err
    assert len(cache.entries()) == 2


def test_cache_deletes_nothing_from_a_folder_that_is_not_a_cache(tmp_path, monkeypatch, capsys):
    notes = tmp_path / "ab" / "notes.pkl"
    notes.parent.mkdir()
    notes.write_bytes(pickle.dumps("my notes"))
    code, printed = _cache_cli(monkeypatch, capsys, tmp_path, "--clear", "--yes")
    assert code == 2 and "is not a seqalpha model cache" in printed.err and "ab/notes.pkl" in printed.err
    assert notes.exists()
    # a marked cache deletes its entries only, never another file put in it
    cache = _filled(tmp_path / "real")
    (tmp_path / "real" / "00" / "notes.txt").write_text("mine")
    assert _cache_cli(monkeypatch, capsys, tmp_path / "real", "--clear", "--yes")[0] == 0
    assert cache.entries() == [] and (tmp_path / "real" / "00" / "notes.txt").exists()


def test_a_cache_from_before_the_marker_is_recognised_only_when_every_file_is_an_entry(tmp_path, monkeypatch,
                                                                                        capsys):
    old = tmp_path / "old"
    for k in range(3):
        key = f"{k:02d}" * 32
        (old / key[:2]).mkdir(parents=True)
        (old / key[:2] / f"{key}.pkl").write_bytes(pickle.dumps({"format": 3}, protocol=5))
    assert len(ModelCache(old).entries()) == 3  # old entries are listed (and never read)
    (old / "00" / "stray.bin").write_bytes(b"x")
    code, printed = _cache_cli(monkeypatch, capsys, old, "--clear", "--yes")
    assert code == 2 and "00/stray.bin" in printed.err and len(ModelCache(old).entries()) == 3
    (old / "00" / "stray.bin").unlink()
    code, printed = _cache_cli(monkeypatch, capsys, old, "--clear", "--yes")
    assert code == 0 and "removed 3 model(s)" in printed.out and (old / MARKER).is_file()
    assert ModelCache(old).entries() == []


def test_cache_asks_on_a_terminal_and_needs_yes_elsewhere(tmp_path, monkeypatch, capsys):
    cache = _filled(tmp_path)
    code, printed = _cache_cli(monkeypatch, capsys, tmp_path, "--clear")  # a script: no terminal
    assert code == 2 and "without confirmation (not a terminal): add --yes" in printed.err
    assert len(printed.err.strip().splitlines()) == 1 and len(cache.entries()) == 2
    code, printed = _cache_cli(monkeypatch, capsys, tmp_path, "--clear", tty=True, answer="n")
    assert code == 0 and "nothing deleted" in printed.out and len(cache.entries()) == 2
    code, printed = _cache_cli(monkeypatch, capsys, tmp_path, "--clear", tty=True, answer="y")
    assert code == 0 and "removed 2 model(s)" in printed.out and cache.entries() == []


# ---- 6. a cluster over TLS ---------------------------------------------------------------------------------------

def _certificates(folder: Path) -> dict[str, str]:
    """A throwaway CA and one certificate for 127.0.0.1 signed by it (PEM files)."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "seqalpha test CA")])

    def certificate(subject, public_key, *extensions):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(public_key)
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(hours=1)))
        for extension in extensions:
            builder = builder.add_extension(extension, critical=False)
        return builder.sign(ca_key, hashes.SHA256())

    ca = certificate(ca_name, ca_key.public_key(), x509.BasicConstraints(ca=True, path_length=None))
    cert = certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), key.public_key(),
                       x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]))
    pem = serialization.Encoding.PEM
    files = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    files["ca"].write_bytes(ca.public_bytes(pem))
    files["cert"].write_bytes(cert.public_bytes(pem))
    files["key"].write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return {k: str(v) for k, v in files.items()}


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    """A scheduler and one in-process worker on tls://127.0.0.1 only, with certificates made for the test."""
    from distributed import LocalCluster
    from distributed.security import Security

    certs = _certificates(tmp_path_factory.mktemp("tls"))
    security = Security(tls_ca_file=certs["ca"], tls_scheduler_cert=certs["cert"], tls_scheduler_key=certs["key"],
                        tls_worker_cert=certs["cert"], tls_worker_key=certs["key"], tls_client_cert=certs["cert"],
                        tls_client_key=certs["key"], require_encryption=True)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tls", host="127.0.0.1",
                      security=security, dashboard_address=None) as cluster:
        yield cluster.scheduler_address, certs


def _client_config(certs: dict[str, str]) -> dict[str, str]:
    return {"distributed.comm.tls.ca-file": certs["ca"], "distributed.comm.tls.client.cert": certs["cert"],
            "distributed.comm.tls.client.key": certs["key"]}


def test_a_tls_scheduler_is_reached_with_dasks_own_tls_configuration(tls_cluster, tmp_path, monkeypatch, capsys):
    import dask

    from seqalpha.sweep.cluster import dask_client

    address, certs = tls_cluster
    assert address.startswith("tls://127.0.0.1:")
    with pytest.raises(StrategyError, match="needs Dask's TLS configuration: distributed.comm.tls.ca-file is not "
                                            "set .*DASK_DISTRIBUTED__COMM__TLS__CA_FILE"):
        with dask_client(None, address, 1):
            pass
    with dask.config.set({**_client_config(certs), "distributed.comm.tls.client.key": str(tmp_path / "gone.pem")}):
        with pytest.raises(StrategyError, match="client.key names .*gone.pem', which is not a file"):
            with dask_client(None, address, 1):
                pass
    with dask.config.set(_client_config(certs)):
        with dask_client(None, address, 1) as client:
            assert client.submit(sum, [1, 2], pure=False).result(timeout=30) == 3
        # the whole command: `seqalpha run --scheduler tls://...` fits on the TLS worker, runs here from the cache
        monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.syspath_prepend(str(ROOT))
        strategy = tmp_path / "small.py"
        strategy.write_text("from tests.test_security import Small as _S\n\n\nclass OverTls(_S):\n    pass\n")
        assert main(["run", str(strategy), "--scheduler", address, "--threads", "1", "-q",
                     "--out", str(tmp_path / "run")]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["n_cache_hits"] == metrics["n_retrains"] > 0  # every model was fitted on the TLS worker
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler"):  # plain TCP to a TLS scheduler
        with dask_client(None, address.replace("tls://", "tcp://"), 1):
            pass


@pytest.mark.slow
def test_the_tls_configuration_can_come_from_the_environment(tls_cluster, tmp_path):
    """DASK_DISTRIBUTED__COMM__TLS__* variables, read by a fresh `seqalpha run --scheduler tls://` process."""
    address, certs = tls_cluster
    strategy = tmp_path / "small.py"
    strategy.write_text(textwrap.dedent("""
        from tests.test_security import Small as _S


        class OverTlsEnv(_S):
            pass
    """))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "SEQALPHA_CACHE_DIR": str(tmp_path / "c"),
           "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": certs["ca"],
           "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": certs["cert"],
           "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": certs["key"]}
    done = subprocess.run([sys.executable, "-m", "seqalpha.cli", "run", str(strategy), "--scheduler", address,
                           "--threads", "1", "-q", "--out", str(tmp_path / "run")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["n_cache_hits"] == metrics["n_retrains"] > 0
