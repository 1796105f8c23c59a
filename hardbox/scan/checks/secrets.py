"""Secrets in file contents: well-known credential formats, matched with bounded cost.

The rule set is data (policies/secrets/rules.yaml), validated against ``_SCHEMA``: a user's
file when it loads, the shipped one by the test suite. Cost is bounded per file by the
policy's limits: files over ``max_file_size`` are not read, a NUL byte in the first ``binary_probe`` bytes marks a binary and skips it, and a
rule's regex only runs on files containing one of its keywords (a plain byte search).

A secret is never written out: a ``SecretMatch`` keeps only a short prefix and the length
(``redact``), and so does every finding and report built from it. A file that a later layer
deleted is still scanned, because its bytes still ship in the earlier layer's tar.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from hardbox.errors import InputError
from hardbox.findings import Finding, Kind, SecretDetail, Severity
from hardbox.resources import policies
from hardbox.scan.checks import Check, CheckOptions, ImageContext, Rule
from hardbox.scan.walk import ImageFile

_SEVERITIES = [s.value for s in Severity]

_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "limits", "rules"],
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
        "skip_paths": {"type": "array", "items": {"type": "string"}},
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
                    "severity": {"enum": _SEVERITIES},
                    "keywords": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                    "regex": {"type": "string"},
                    "group": {"type": "integer", "minimum": 0},
                    "paths": {"type": "array", "items": {"type": "string"}},
                    "ignore": {"type": "string"},
                    "why": {"type": "string", "minLength": 1},
                    "fix": {"type": "string", "minLength": 1},
                },
            },
        },
    },
}


def redact(value: str) -> str:
    """A short prefix and the length, nothing more: ``AKIA… (20 chars)``. The prefix is at
    most a quarter of the value, so a short password keeps at most one or two characters."""
    keep = min(4, len(value) // 4)
    return f"{value[:keep]}… ({len(value)} chars)"


def placeholder(redacted: str) -> str:
    """What replaces a secret inside printed text: one word, so it never splits a command
    line differently than the original did."""
    return "<redacted:" + redacted.replace(" ", "") + ">"


@dataclass(frozen=True)
class SecretRule:
    rule: Rule
    keywords: tuple[bytes, ...]
    pattern: re.Pattern[bytes]
    group: int
    paths: tuple[str, ...]
    ignore: re.Pattern[str] | None

    def applies_to(self, path: str) -> bool:
        return not self.paths or any(fnmatch.fnmatchcase(path, glob) for glob in self.paths)


@dataclass(frozen=True)
class SecretMatch:
    """One secret found in some text: which rule, where (1-based line), and the redacted
    value. The raw value is not kept."""

    rule: SecretRule
    line: int
    redacted: str
    span: tuple[int, int]  # byte offsets of the value, to scrub it out of text we print


@dataclass(frozen=True)
class SecretPolicy:
    max_file_size: int
    binary_probe: int
    max_findings_per_file: int
    skip_paths: tuple[str, ...]
    rules: tuple[SecretRule, ...]

    def skips(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, glob) for glob in self.skip_paths)

    def find(self, data: bytes, path: str | None = None) -> list[SecretMatch]:
        """Every secret in ``data``; when ``path`` is given, rules limited to other paths are
        not run. Overlapping matches keep the first rule (the more specific one comes first in
        the rule file: a GCP key file is not also reported as a bare private key)."""
        taken: list[tuple[int, int]] = []
        found: list[tuple[int, SecretMatch]] = []
        for srule in self.rules:
            if path is not None and not srule.applies_to(path):
                continue
            if path is None and srule.paths:
                continue
            if not any(k in data for k in srule.keywords):
                continue
            for m in srule.pattern.finditer(data):
                start, end = m.span()
                if any(start < e and s < end for s, e in taken):
                    continue
                value = m.group(srule.group).decode("utf-8", errors="replace")
                if srule.ignore is not None and srule.ignore.search(value):
                    continue
                taken.append((start, end))
                line = data.count(b"\n", 0, start) + 1
                found.append((start, SecretMatch(srule, line, redact(value), m.span(srule.group))))
        found.sort(key=lambda pair: pair[0])
        return [match for _, match in found]

    def find_text(self, text: str) -> list[SecretMatch]:
        return self.find(text.encode("utf-8", errors="replace"))

    def scrub(self, text: str) -> str:
        """``text`` with every secret the rules find replaced by its redacted form."""
        data = text.encode("utf-8", errors="replace")
        for match in sorted(self.find(data), key=lambda m: m.span, reverse=True):
            start, end = match.span
            data = data[:start] + placeholder(match.redacted).encode() + data[end:]
        return data.decode("utf-8", errors="replace")


def load_policy(path: Path | None = None) -> SecretPolicy:
    """The shipped rule set, or the one at ``path``; an unusable file is an ``InputError``
    naming it and what is wrong."""
    if path is None:
        return _shipped_policy()
    return _parse_policy(path.read_text(encoding="utf-8"), str(path))


@functools.cache
def _shipped_policy() -> SecretPolicy:
    # The shipped rules are validated against the schema by the test suite
    # (test_secrets.py), not on every scan: importing jsonschema costs a quarter second.
    source = policies() / "secrets" / "rules.yaml"
    return _parse_policy(source.read_text(encoding="utf-8"), "policies/secrets/rules.yaml", validate=False)


def _parse_policy(text: str, source: str, *, validate: bool = True) -> SecretPolicy:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InputError(f"{source}: not valid YAML: {err}".splitlines()[0]) from None
    if validate:
        import jsonschema

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
        try:
            pattern = re.compile(item["regex"].encode())
            ignore = re.compile(item["ignore"]) if "ignore" in item else None
        except re.error as err:
            raise InputError(f"{source}: rules/{i} ({item['id']}): bad regex: {err}") from None
        group = item.get("group", 1 if pattern.groups else 0)
        if group > pattern.groups:
            raise InputError(f"{source}: rules/{i} ({item['id']}): no capture group {group}")
        rule = Rule(
            id=item["id"],
            title=item["title"],
            severity=Severity(item["severity"]),
            kind=Kind.SECRET,
            why=" ".join(item["why"].split()),
            fix=" ".join(item["fix"].split()),
        )
        keywords = tuple(k.encode() for k in item["keywords"])
        rules.append(SecretRule(rule, keywords, pattern, group, tuple(item.get("paths", ())), ignore))
    limits = doc["limits"]
    return SecretPolicy(
        max_file_size=limits["max_file_size"],
        binary_probe=limits["binary_probe"],
        max_findings_per_file=limits["max_findings_per_file"],
        skip_paths=tuple(doc.get("skip_paths", ())),
        rules=tuple(rules),
    )


class SecretCheck(Check):
    """Scans the contents of every regular file, in every layer, for the policy's rules."""

    name = "checks/secrets"

    def __init__(self, image: ImageContext, options: CheckOptions) -> None:
        super().__init__(image, options)
        self.policy = load_policy()
        self._findings: list[Finding] = []
        # Files not read, by reason, for the scan notes: bounded cost is visible, not silent.
        self.skipped: dict[str, int] = {"too large": 0, "binary": 0, "unreadable": 0}

    @classmethod
    def rules(cls) -> tuple[Rule, ...]:
        return tuple(srule.rule for srule in load_policy().rules)

    def wants(self, path: str) -> bool:
        return self.options.secrets and not self.policy.skips(path)

    def visit(self, file: ImageFile) -> None:
        if not file.is_file or file.size == 0:
            return
        if file.size > self.policy.max_file_size:
            self.skipped["too large"] += 1
            return
        try:
            data = file.read_bytes(self.policy.max_file_size)
        except (OSError, ValueError):
            self.skipped["unreadable"] += 1
            return
        if b"\0" in data[: self.policy.binary_probe]:
            self.skipped["binary"] += 1
            return
        matches = self.policy.find(data, file.path)
        for match in matches[: self.policy.max_findings_per_file]:
            self._findings.append(_file_finding(file, match, len(matches)))

    def findings(self) -> list[Finding]:
        return list(self._findings)


def _file_finding(file: ImageFile, match: SecretMatch, total: int) -> Finding:
    rule = match.rule.rule
    detail = f"{rule.title} at line {match.line} of {file.path}: {match.redacted}."
    secret = SecretDetail(match.redacted, matches_in_file=total if total > 1 else None)
    if file.hidden_by is not None:
        verb = "deleted" if file.deleted else "replaced"
        detail += (
            f" A later layer ({file.hidden_by.index}) {verb} the file, but it still ships in"
            f" layer {file.layer.index}: anyone with the image can extract it."
        )
        secret = replace(secret, hidden_by=file.hidden_by.diff_id, deleted=file.deleted)
    return rule.finding(detail, path=file.path, layer=file.layer, line=match.line, secret=secret)

