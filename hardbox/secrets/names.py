"""Does a variable's name say it holds a credential, and is its value plainly none?

A name is split into lower-case tokens at ``_``, ``-``, ``.`` and lower-to-upper case changes
(``DB_PASSWORD`` and ``dbPassword`` → db, password), as BuildKit's ``SecretsUsedInArgOrEnv``
check splits it. It is secret-looking when one token is a secret token (``password``,
``token``, ``key``…), no token qualifies it as public (``GPG_KEY`` is a release-signing key
fingerprint, ``PUBLIC_KEY`` is public) and its last token does not say it names where the
secret is or something about it (``PASSWORD_FILE``, ``TOKEN_URL``, ``API_KEY_ID``). A
qualifier counts anywhere, a pointer only last: ``USER_PASSWORD`` is a password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SPLIT = re.compile(r"[_\-.\s]+|(?<=[a-z0-9])(?=[A-Z])")


def name_tokens(name: str) -> list[str]:
    return [t.lower() for t in _SPLIT.split(name) if t]


@dataclass(frozen=True)
class NameHeuristic:
    secret: frozenset[str]  # a token that says "credential"
    public: frozenset[str]  # anywhere: the value is public or identifies a key, not the key
    pointer: frozenset[str]  # last: the value names where the secret is, or a property of it
    plain_values: re.Pattern[str]  # values that hold no credential whatever the name

    def secret_name(self, name: str) -> bool:
        tokens = name_tokens(name)
        return (bool(tokens) and any(t in self.secret for t in tokens)
                and not any(t in self.public for t in tokens) and tokens[-1] not in self.pointer)

    def plain_value(self, value: str) -> bool:
        return self.plain_values.fullmatch(value.strip()) is not None
