"""Dask clusters for seqalpha: a local one with no set-up, or an existing one, each worker one run at a time.

A worker advertises the resource ``seqalpha_run=1`` and gets ``nthreads`` = the threads a run
uses, so it runs one run (or one fit) at a time with all its threads. Workers started by hand
should be started the same way (``dask worker ADDR --nthreads T --resources seqalpha_run=1``);
without the resource, each worker thread runs its own single-threaded task.

Worker processes get ``WORKER_ENV`` instead of Dask's default pre-spawn environment. Dask sets
``MALLOC_TRIM_THRESHOLD_=65536``, which turns off glibc's adaptive thresholds so every large
tensor is mapped and unmapped again; and tasks run in a thread, whose malloc arena behaves the
same way. Measured here, 30 LSTM training steps took 0.30 s in the main process and 0.69 s in a
default Dask worker (0.68 s in a process with that variable, 0.59 s in a second thread); with
``MALLOC_ARENA_MAX=1`` and no trim threshold, 0.26-0.30 s in the worker. Hand-started workers
want the same: ``DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON='{"MALLOC_ARENA_MAX": 1}'``.

Security. A local cluster listens on 127.0.0.1 only (its dashboard too). A scheduler of
your own should listen on a private address and use TLS: ``--scheduler tls://HOST:PORT``
connects with Dask's own TLS configuration, ``distributed.comm.tls.ca-file``,
``.client.cert`` and ``.client.key`` (a Dask yaml file, or ``DASK_DISTRIBUTED__COMM__TLS__*``
environment variables); a ``tls://`` address without it is refused before connecting.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ClusterError
from ..strategy import StrategyError

RESOURCE = "seqalpha_run"


def worker_env(threads: int) -> dict[str, int]:
    """The environment a worker process starts with: one malloc arena, no trim threshold, pinned pools."""
    return {"MALLOC_ARENA_MAX": 1, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads}


#: A scheduler address: PROTOCOL://HOST[:PORT] (or HOST:PORT, which Dask reads as tcp); HOST a name, an IPv4
#: address or an IPv6 address in brackets.
_ADDRESS = re.compile(r"^(?:(?P<scheme>[a-z][a-z0-9+]*)://)?(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+)"
                      r"(?::(?P<port>\d{1,5}))?$")
SCHEMES = ("tcp", "tls", "ucx", "ws", "wss")


def check_scheduler_address(address: object) -> str:
    """The --scheduler address as given, or a one-line refusal before any connection is tried: it must read
    tcp://HOST:PORT (tls://, ucx://, ws://, wss:// alike; HOST:PORT means tcp) with a port in 1..65535."""
    text = address.strip() if isinstance(address, str) else ""
    match = _ADDRESS.match(text)
    scheme = match and (match["scheme"] or "tcp")
    port = match and match["port"]
    if not match or scheme not in SCHEMES or (port is not None and not 0 < int(port) < 65536) \
            or (match["scheme"] is None and port is None):
        raise StrategyError(f"--scheduler {address!r} is not a Dask scheduler address: write tcp://HOST:PORT "
                            f"(e.g. tcp://10.0.0.5:8786; also {', '.join(s + '://' for s in SCHEMES[1:])})")
    return text


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None, threads: int = 1) -> Iterator[Any]:
    """A client of a new local cluster of ``workers`` processes, or of the scheduler at ``scheduler``."""
    if scheduler is not None:
        scheduler = check_scheduler_address(scheduler)
    from distributed import Client, LocalCluster

    if scheduler:
        security = client_security(scheduler)
        try:
            client = Client(scheduler, timeout="10s", security=security)
        except OSError as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        with client:
            yield client
        return
    if not isinstance(workers, int) or workers < 1:
        raise StrategyError(f"--workers must be a positive number of processes, got {workers!r}")
    import dask

    with _environ_kept(), dask.config.set({"distributed.nanny.pre-spawn-environ": worker_env(threads)}), \
            LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True, resources={RESOURCE: 1},
                         host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        yield client


@contextlib.contextmanager
def _environ_kept() -> Iterator[None]:
    """Dask's nannies write their workers' variables into this process's environment before each spawn; put it
    back as it was when the cluster closes (seqalpha leaves the user's environment as it found it)."""
    before = dict(os.environ)
    try:
        yield
    finally:
        for key in set(os.environ) - set(before):
            os.environ.pop(key, None)
        os.environ.update(before)


_TLS_SETTINGS = {"tls_ca_file": "ca-file", "tls_client_cert": "client.cert", "tls_client_key": "client.key"}


def client_security(scheduler: str) -> Any:
    """The client's ``distributed.Security`` from Dask's configuration (``distributed.comm.tls.*``: a yaml file or
    ``DASK_DISTRIBUTED__COMM__TLS__...`` variables); a ``tls://`` scheduler without a CA, a certificate and a key,
    or with a file that is not there, is refused in one line naming the setting."""
    from distributed.security import Security

    security = Security()
    if not scheduler.startswith("tls://"):
        return security
    for attr, setting in _TLS_SETTINGS.items():
        value = getattr(security, attr, None)
        env = "DASK_DISTRIBUTED__COMM__TLS__" + setting.upper().replace("-", "_").replace(".", "__")
        if not value:
            raise StrategyError(f"--scheduler {scheduler} needs Dask's TLS configuration: distributed.comm.tls."
                                f"{setting} is not set (in a Dask yaml file, or {env}); see README, Running on a "
                                "cluster")
        if "-----BEGIN" not in value and not Path(value).expanduser().is_file():
            raise StrategyError(f"--scheduler {scheduler}: distributed.comm.tls.{setting} names {value!r}, which is "
                                "not a file")
    return security


def placement(client: Any, threads: int) -> tuple[dict | None, int]:
    """(resources to submit with, threads per task): one run per worker with ``threads`` threads when every
    worker advertises the resource; else no resources and one thread per task."""
    workers = client.scheduler_info()["workers"]
    if workers and all(RESOURCE in w.get("resources", {}) for w in workers.values()):
        return {RESOURCE: 1}, threads
    return None, 1
