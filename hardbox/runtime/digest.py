"""SHA-256 for the start-up paths (`hardbox run`, `hardbox exec`) without hashlib.

CPython's built-in implementation (``_sha2`` since 3.12, ``_sha256`` before) is what
hashlib itself falls back to; hashlib first loads OpenSSL's libcrypto and its providers,
~4-5 ms of start-up for a digest of a few KiB (bench/RESULTS.md, "Start-up budget").
"""

from __future__ import annotations

import importlib


def sha256_hex(data: bytes) -> str:
    """The hex SHA-256 of ``data``."""
    for name in ("_sha2", "_sha256"):
        try:
            return str(importlib.import_module(name).sha256(data).hexdigest())
        except ImportError:
            continue
    import hashlib  # an interpreter built without them

    return hashlib.sha256(data).hexdigest()
