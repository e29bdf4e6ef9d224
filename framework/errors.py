"""seqalpha's own error types: a user's mistake, named in one line. The command line prints these without a
traceback; anything else is a bug in seqalpha (or a plugin) and keeps its traceback (``--debug`` shows it for all)."""

from __future__ import annotations


class SeqalphaError(Exception):
    """Base of the errors that describe a problem with the user's input, files or folders."""


class RunDirError(SeqalphaError, FileNotFoundError):
    """A run directory is missing or is not one."""


class RunLockError(SeqalphaError, RuntimeError):
    """A run directory is in use by another live process (its lock names the process)."""


class ClusterError(SeqalphaError, RuntimeError):
    """The Dask cluster cannot run the work: unreachable, misconfigured, or its workers see other code."""


class ModelOutputError(SeqalphaError, ValueError):
    """A model returned scores that cannot be used: the wrong shape, NaN or infinity."""


class PredictError(SeqalphaError, ValueError):
    """seqalpha predict cannot decide as asked: an asof outside the data or before any model, bad holdings."""
