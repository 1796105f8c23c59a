"""SHA-256 for the start-up paths (`hardbox run`, `hardbox exec`) without hashlib.

CPython's built-in implementation (``_sha2`` since 3.12, ``_sha256`` before) is what
hashlib itself falls back to; hashlib first loads OpenSSL's libcrypto and its providers,
~4-5 ms of start-up for a digest of a few KiB (bench/RESULTS.md, "Start-up budget").
"""

from __future__ import annotations

try:
    from _sha2 import sha256 as _builtin_sha256  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    try:
        from _sha256 import sha256 as _builtin_sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
    except ImportError:  # an interpreter built without them: hashlib, when asked
        _builtin_sha256 = None


def sha256_hex(data: bytes) -> str:
    """The hex SHA-256 of ``data``."""
    if _builtin_sha256 is not None:
        return str(_builtin_sha256(data).hexdigest())
    import hashlib

    return hashlib.sha256(data).hexdigest()
