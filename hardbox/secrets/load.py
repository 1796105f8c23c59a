"""Finding and loading the rules file: the shipped ``policies/secrets/rules.yaml``, or the
file ``$HARDBOX_SECRET_RULES`` names (a site's own rule set, and how the tests prove that a
rule added to the file reaches scan and lint alike).

A file the user names is validated against ``_SCHEMA``; the shipped one is validated by the
test suite instead (importing jsonschema costs a quarter second on every scan). Either is
loaded once per process, and again only when the file changes.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any, AnyStr

import yaml

from hardbox.errors import InputError
from hardbox.findings import Severity
from hardbox.resources import policies
from hardbox.secrets.names import NameHeuristic
from hardbox.secrets.rules import Allowlist, SecretPolicy, SecretRule

RULES_ENV = "HARDBOX_SECRET_RULES"

_STRINGS = {"type": "array", "items": {"type": "string"}}
_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "limits", "names", "rules"],
    "additionalProperties": False,
    "properties": {
        "version": {"const": 1},
        "limits": {
            "type": "object",
            "additionalProperties": False,
            "required": ["max_file_size", "binary_probe", "max_findings_per_file"],
            "properties": {
                "max_file_size": {"type": "integer", "minimum": 1},
                "binary_probe": {"type": "integer", "minimum": 1},
                "max_findings_per_file": {"type": "integer", "minimum": 1},
            },
        },
        "skip_paths": _STRINGS,
        "allow": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"values": _STRINGS, "patterns": _STRINGS},
        },
        "names": {
            "type": "object",
            "additionalProperties": False,
            "required": ["secret", "public", "pointer", "plain_values"],
            "properties": {
                "secret": {**_STRINGS, "minItems": 1},
                "public": _STRINGS,
                "pointer": _STRINGS,
                "plain_values": {"type": "string"},
            },
        },
        "rules": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "title", "severity", "keywords", "regex", "why", "fix"],
                "properties": {
                    "id": {"type": "string", "pattern": "^HB-SEC-[0-9]{3}$"},
                    "title": {"type": "string", "minLength": 1},
                    "severity": {"enum": [s.value for s in Severity]},
                    "keywords": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
                    "regex": {"type": "string"},
                    "group": {"type": "integer", "minimum": 0},
                    "paths": _STRINGS,
                    "ignore": {"type": "string"},
                    "min_entropy": {"type": "number", "minimum": 0},
                    "why": {"type": "string", "minLength": 1},
                    "fix": {"type": "string", "minLength": 1},
                },
            },
        },
    },
}


def shipped_rules_path() -> Path:
    return policies() / "secrets" / "rules.yaml"


def load_policy(path: Path | None = None) -> SecretPolicy:
    """The rule set at ``path``, else at ``$HARDBOX_SECRET_RULES``, else the shipped one. An
    unusable file is an ``InputError`` naming it and what is wrong."""
    if path is None:
        named = os.environ.get(RULES_ENV)
        if not named:
            return _shipped_policy()
        path = Path(named)
    try:
        st = path.stat()
    except OSError as err:
        raise InputError(f"{path}: cannot read the secret rules: {err.strerror}",
                         hint=f"check the path (or unset {RULES_ENV})") from None
    return _named_policy(str(path), st.st_mtime_ns, st.st_size)


@functools.cache
def _shipped_policy() -> SecretPolicy:
    source = shipped_rules_path()
    return parse_policy(source.read_text(encoding="utf-8"), "policies/secrets/rules.yaml", validate=False)


@functools.lru_cache(maxsize=8)
def _named_policy(path: str, mtime_ns: int, size: int) -> SecretPolicy:
    # Keyed by the file's mtime and size too: an edited file is read again.
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read the secret rules: {err}") from None
    return parse_policy(text, path)


def parse_policy(text: str, source: str, *, validate: bool = True) -> SecretPolicy:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InputError(f"{source}: not valid YAML: {err}".splitlines()[0]) from None
    if validate:
        import jsonschema  # only when validating: a profile-cache hit imports none of it

        try:
            jsonschema.validate(doc, _SCHEMA)
        except jsonschema.ValidationError as err:
            where = "/".join(str(p) for p in err.absolute_path) or "(top)"
            raise InputError(f"{source}: {where}: {err.message}") from None
    rules: list[SecretRule] = []
    seen: set[str] = set()
    for i, item in enumerate(doc["rules"]):
        if item["id"] in seen:
            raise InputError(f"{source}: rules/{i}: duplicate id {item['id']}")
        seen.add(item["id"])
        where = f"{source}: rules/{i} ({item['id']})"
        pattern = _compile(item["regex"].encode(), where)
        group = item.get("group", 1 if pattern.groups else 0)
        if group > pattern.groups:
            raise InputError(f"{where}: no capture group {group}")
        rules.append(SecretRule(
            id=item["id"], title=item["title"], severity=Severity(item["severity"]),
            why=" ".join(item["why"].split()), fix=" ".join(item["fix"].split()),
            keywords=tuple(k.encode() for k in item["keywords"]), pattern=pattern, group=group,
            paths=tuple(item.get("paths", ())),
            ignore=_compile(item["ignore"], where) if "ignore" in item else None,
            min_entropy=item.get("min_entropy"),
        ))
    allow = doc.get("allow") or {}
    names = doc["names"]
    limits = doc["limits"]
    return SecretPolicy(
        max_file_size=limits["max_file_size"],
        binary_probe=limits["binary_probe"],
        max_findings_per_file=limits["max_findings_per_file"],
        skip_paths=tuple(doc.get("skip_paths", ())),
        rules=tuple(rules),
        allow=Allowlist(
            frozenset(allow.get("values", ())),
            tuple(_compile(p, f"{source}: allow/patterns") for p in allow.get("patterns", ())),
        ),
        names=NameHeuristic(
            secret=frozenset(t.lower() for t in names["secret"]),
            public=frozenset(t.lower() for t in names.get("public", ())),
            pointer=frozenset(t.lower() for t in names.get("pointer", ())),
            plain_values=_compile(names["plain_values"], f"{source}: names/plain_values"),
        ),
    )


def _compile(regex: AnyStr, where: str) -> re.Pattern[AnyStr]:
    try:
        return re.compile(regex)
    except re.error as err:
        raise InputError(f"{where}: bad regex: {err}") from None
