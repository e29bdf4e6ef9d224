"""The bytes of one model-cache entry: a header line (format, key, encoding, digest), then the payload.

The digest covers the format, the key, the encoding and the payload, and is checked before
the payload is decoded. It is a sha256 (catches damage), or, when ``SEQALPHA_CACHE_KEY`` is
set, an HMAC-SHA256 with that key: then an entry written without the key, with another key,
or moved to another key's path is refused, so a shared cache cannot be forged by someone
who can write to it but does not have the key. The key itself is never written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os

MAGIC = b"SEQALPHA-MODEL-CACHE-ENTRY\n"
KEY_ENV = "SEQALPHA_CACHE_KEY"
ENCODINGS = ("safe", "pickle")  # safe_codec bytes, or a pickle (only with the unsafe_pickle_cache opt-in)
_MAX_HEADER = 4096


class EntryRejected(ValueError):
    """An entry that is not what this cache wrote under this key; the message says why (for a warning)."""


def signing_key() -> bytes | None:
    """``$SEQALPHA_CACHE_KEY`` as bytes, or None when unset or empty."""
    value = os.environ.get(KEY_ENV)
    return value.encode() if value else None


def digest(key: str, fmt: int, encoding: str, payload: bytes, secret: bytes | None) -> str:
    """``sha256:<hex>``, or ``hmac-sha256:<hex>`` with ``secret``, over the entry's identity and payload."""
    head = json.dumps(["seqalpha-model-cache", fmt, key, encoding]).encode() + b"\0"
    if secret is None:
        return "sha256:" + hashlib.sha256(head + payload).hexdigest()
    return "hmac-sha256:" + hmac.new(secret, head + payload, hashlib.sha256).hexdigest()


def pack(key: str, fmt: int, encoding: str, payload: bytes) -> bytes:
    """The bytes of an entry, signed with ``$SEQALPHA_CACHE_KEY`` when it is set."""
    header = {"format": fmt, "key": key, "encoding": encoding,
              "digest": digest(key, fmt, encoding, payload, signing_key())}
    return MAGIC + json.dumps(header).encode() + b"\n" + payload


def unpack(data: bytes, key: str, fmt: int) -> tuple[str, bytes]:
    """(encoding, payload) of an entry whose digest checks out; ``EntryRejected`` otherwise. Nothing but the
    header line (JSON) is read before the check."""
    if not data.startswith(MAGIC):
        raise EntryRejected("is not a model cache entry of this version (wrong leading bytes)")
    end = data.find(b"\n", len(MAGIC), len(MAGIC) + _MAX_HEADER)
    if end < 0:
        raise EntryRejected("has no header line (cut short, or not an entry)")
    try:
        header = json.loads(data[len(MAGIC):end])
    except ValueError:
        header = None
    if not isinstance(header, dict) or not all(isinstance(header.get(k), str) for k in ("key", "encoding", "digest")):
        raise EntryRejected("has a malformed header")
    if header.get("format") != fmt:
        raise EntryRejected(f"was written in cache format {header.get('format')!r}, not {fmt}")
    if header["key"] != key or header["encoding"] not in ENCODINGS:
        raise EntryRejected("was written under another key (moved or planted)")
    payload = data[end + 1:]
    secret = signing_key()
    kind = header["digest"].split(":", 1)[0]
    if secret is None and kind == "hmac-sha256":
        raise EntryRejected(f"is signed with a key ({KEY_ENV}) that is not set here")
    if secret is not None and kind != "hmac-sha256":
        raise EntryRejected(f"is not signed with {KEY_ENV} (written without the key, or planted)")
    if not hmac.compare_digest(header["digest"], digest(key, fmt, header["encoding"], payload, secret)):
        if secret is None:
            raise EntryRejected("does not match its digest (changed after it was written)")
        raise EntryRejected(f"does not match its digest signed with {KEY_ENV} (written with another key, or "
                            "changed after it was written)")
    return header["encoding"], payload
