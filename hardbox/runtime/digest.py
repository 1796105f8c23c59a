"""SHA-256 for the start-up paths (`hardbox run`, `hardbox exec`) without hashlib.

CPython's built-in implementation (``_sha2`` since 3.12, ``_sha256`` before) is what
hashlib itself falls back to; hashlib first loads OpenSSL's libcrypto and its providers,
~4-5 ms of start-up for a digest of a few KiB (bench/RESULTS.md, "Start-up budget").
"""

from __future__ import annotations

import sys

# The module this interpreter has, asked first: a failed import costs a search of sys.path.
_NAMES = ("_sha2", "_sha256") if sys.version_info >= (3, 12) else ("_sha256", "_sha2")
try:
    _builtin_sha256 = __import__(_NAMES[0]).sha256
except ImportError:
    try:
        _builtin_sha256 = __import__(_NAMES[1]).sha256
    except ImportError:  # an interpreter built without them: hashlib, when asked
        _builtin_sha256 = None


def sha256_hex(data: bytes) -> str:
    """The hex SHA-256 of ``data``."""
    if _builtin_sha256 is not None:
        return str(_builtin_sha256(data).hexdigest())
    import hashlib

    return hashlib.sha256(data).hexdigest()
