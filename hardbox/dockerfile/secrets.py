"""Does an ARG/ENV name or value look like a secret?

Names: split at ``_``/``-``/``.`` into tokens (``DB_PASSWORD`` → db, password); a name is
secret-looking when a token is one of ``_SECRET_TOKENS`` and none is one of ``_ALLOW_TOKENS``
— ``GPG_KEY`` (the python image's release-signing key fingerprint), ``KEY_FILE`` (a path)
and ``PUBLIC_KEY`` are not secrets. BuildKit's own ``SecretsUsedInArgOrEnv`` check splits
names the same way.

Values: well-known credential formats, each documented by its issuer, so a match is
strong evidence whatever the variable is called.
"""

from __future__ import annotations

import re

_SECRET_TOKENS = frozenset(
    {"password", "passwd", "pwd", "pass", "passphrase", "secret", "token", "apikey",
     "credential", "credentials", "key", "privatekey"}
)  # fmt: skip
_ALLOW_TOKENS = frozenset(
    {"public", "pub", "gpg", "pgp", "fingerprint", "file", "path", "dir", "url", "name", "id",
     "user", "username", "version", "length", "size", "type", "host", "server", "method", "fp"}
)  # fmt: skip

_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private key", re.compile(r"-----BEGIN ([A-Z]+ )?PRIVATE KEY-----")),
    ("AWS access key id", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("GitHub fine-grained token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{60,}\b")),
    ("GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b")),
    ("Stripe secret key", re.compile(r"\b[sr]k_live_[A-Za-z0-9]{20,}\b")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("npm token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("PyPI token", re.compile(r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}")),
    ("password in a URL", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@$]+@", re.I)),
)


def secret_name(name: str) -> bool:
    tokens = {t for t in re.split(r"[_\-.]+", name.lower()) if t}
    return bool(tokens & _SECRET_TOKENS) and not tokens & _ALLOW_TOKENS


def secret_format(value: str) -> str | None:
    """The kind of credential ``value`` holds, or None."""
    for label, pattern in _FORMATS:
        if pattern.search(value):
            return label
    return None
