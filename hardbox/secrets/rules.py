"""The detector set as loaded: rules, the allow-list, and matching text against them.

Cost is bounded per file by the policy's limits (applied by the file check): files over
``max_file_size`` are not read, a NUL byte in the first ``binary_probe`` bytes marks a binary,
and a rule's regex only runs on text containing one of its keywords (a plain byte search).

A secret is never kept: a ``SecretMatch`` holds a short prefix and the length (``redact``),
and so does every finding and report built from it.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections import Counter
from dataclasses import dataclass

from hardbox.findings import Severity
from hardbox.secrets.names import NameHeuristic


def redact(value: str) -> str:
    """A short prefix and the length, nothing more: ``AKIA… (20 chars)``. The prefix is at
    most a quarter of the value, so a short password keeps at most one or two characters."""
    keep = min(4, len(value) // 4)
    return f"{value[:keep]}… ({len(value)} chars)"


def placeholder(redacted: str) -> str:
    """What replaces a secret inside printed text: one word, so it never splits a command
    line differently than the original did."""
    return "<redacted:" + redacted.replace(" ", "") + ">"


def entropy(value: str) -> float:
    """Shannon entropy in bits per character: about 5 for a random token of letters and
    digits, under 1 for a filler such as ``ghp_`` and 36 ``x``."""
    if not value:
        return 0.0
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


@dataclass(frozen=True)
class SecretRule:
    """One credential format: what reports show (id, title, severity, why, fix) and how to
    find it. ``group`` is the regex group holding the secret value."""

    id: str
    title: str
    severity: Severity
    why: str
    fix: str
    keywords: tuple[bytes, ...]
    pattern: re.Pattern[bytes]
    group: int = 1
    paths: tuple[str, ...] = ()
    ignore: re.Pattern[str] | None = None
    min_entropy: float | None = None

    def applies_to(self, path: str) -> bool:
        return not self.paths or any(fnmatch.fnmatchcase(path, glob) for glob in self.paths)


@dataclass(frozen=True)
class Allowlist:
    """Values that are never reported: exact documented examples, and placeholders."""

    values: frozenset[str] = frozenset()
    patterns: tuple[re.Pattern[str], ...] = ()

    def allows(self, value: str) -> bool:
        return value in self.values or any(p.search(value) for p in self.patterns)


@dataclass(frozen=True)
class SecretMatch:
    """One secret found in some text: which rule, where (1-based line), and the redacted
    value. The raw value is not kept."""

    rule: SecretRule
    line: int
    redacted: str
    span: tuple[int, int]  # byte offsets of the value, to scrub it out of text we print


@dataclass(frozen=True)
class Verdict:
    """Why a variable's value is taken for a credential: a rule's format (``rule``), or a
    credential-named variable with a real value (``rule`` None, title ``Credential``)."""

    title: str
    severity: Severity
    redacted: str
    rule: SecretRule | None


@dataclass(frozen=True)
class SecretPolicy:
    max_file_size: int
    binary_probe: int
    max_findings_per_file: int
    skip_paths: tuple[str, ...]
    rules: tuple[SecretRule, ...]
    allow: Allowlist
    names: NameHeuristic

    def skips(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, glob) for glob in self.skip_paths)

    def placeholder_value(self, value: str) -> bool:
        """True for a value that is no credential: allow-listed, or plain (a flag, a path, a
        variable reference)."""
        return self.allow.allows(value) or self.names.plain_value(value)

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
                if not self._real(srule, value):
                    continue
                taken.append((start, end))
                line = data.count(b"\n", 0, start) + 1
                found.append((start, SecretMatch(srule, line, redact(value), m.span(srule.group))))
        found.sort(key=lambda pair: pair[0])
        return [match for _, match in found]

    def _real(self, srule: SecretRule, value: str) -> bool:
        if srule.ignore is not None and srule.ignore.search(value):
            return False
        if srule.min_entropy is not None and entropy(value) < srule.min_entropy:
            return False
        return not self.allow.allows(value)

    def _known_format(self, data: bytes) -> bool:
        return any(not srule.paths and any(k in data for k in srule.keywords)
                   and srule.pattern.search(data) for srule in self.rules)

    def find_text(self, text: str) -> list[SecretMatch]:
        return self.find(text.encode("utf-8", errors="replace"))

    def judge(self, name: str, value: str) -> Verdict | None:
        """Does variable ``name`` (ENV, ARG, LABEL, a build argument) hold a credential? A
        known format in the value says so whatever the name; else a credential-looking name
        with a value that is no placeholder."""
        matches = self.find_text(value)
        if matches:
            srule = matches[0].rule
            return Verdict(srule.title, srule.severity, matches[0].redacted, srule)
        if self._known_format(value.encode("utf-8", errors="replace")):
            return None  # a format the rules know, judged a placeholder: ghp_xxxx…, AKIA…EXAMPLE
        if self.names.secret_name(name) and not self.placeholder_value(value):
            return Verdict("Credential", Severity.HIGH, redact(value), None)
        return None

    def scrub(self, text: str) -> str:
        """``text`` with every secret the rules find replaced by its redacted form."""
        data = text.encode("utf-8", errors="replace")
        for match in sorted(self.find(data), key=lambda m: m.span, reverse=True):
            start, end = match.span
            data = data[:start] + placeholder(match.redacted).encode() + data[end:]
        return data.decode("utf-8", errors="replace")
