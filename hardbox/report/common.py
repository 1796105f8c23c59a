"""Wording shared by the human-readable reports: where a finding is, in plain words.

A finding points at a file and the layer that brought it, or at the image config, or at a
build step that made no layer (EXPOSE, ENV). Every report says it the same way.
"""

from __future__ import annotations

import re

from hardbox.findings import Finding, LayerRef

_NOP = re.compile(r"^/bin/sh -c #\(nop\)\s*")
_SHELL = re.compile(r"^/bin/sh -c\s+")
_ARGS = re.compile(r"^\|\d+\s+")


def step_text(created_by: str, limit: int = 0) -> str:
    """A history command as Dockerfile-ish text: ``#(nop) ENV X=1`` -> ``ENV X=1``,
    ``/bin/sh -c apt-get ...`` -> ``RUN apt-get ...``. Build args are dropped, because they
    may be secrets (HB-CFG-006 reports them, redacted)."""
    text = created_by.strip()
    m = _ARGS.match(text)
    if m:
        # `|2 A=1 B=2 /bin/sh -c cmd`: drop the build args (already scrubbed of secrets by
        # the scan, still noise here) and show the command.
        rest = text[m.end():]
        shell = rest.find("/bin/sh -c ")
        count = int(text[1:m.end()].strip())
        text = rest[shell:] if shell >= 0 else rest.split(" ", count)[-1]
    if _NOP.match(text):
        text = _NOP.sub("", text)
    elif _SHELL.match(text):
        text = "RUN " + _SHELL.sub("", text)
    text = " ".join(text.split())
    if limit and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def layer_text(layer: LayerRef, limit: int = 60) -> str:
    step = step_text(layer.created_by, limit)
    return f"layer {layer.index}" + (f" ({step})" if step else "")


def where(finding: Finding, limit: int = 60) -> str:
    """``/etc/ssh/ssh_host_rsa_key in layer 2 (RUN ssh-keygen -A)``, ``/app/.env:3 in layer 1
    (COPY …)``, ``Dockerfile:12``, ``image config``, ..."""
    parts = []
    if finding.package:
        parts.append(f"{finding.package} {finding.version or ''}".strip())
    if finding.path:
        parts.append(finding.path if finding.line is None else f"{finding.path}:{finding.line}")
    if finding.layer is not None:
        parts.append(("in " if parts else "") + layer_text(finding.layer, limit))
    elif finding.history_index is not None:
        parts.append(f"build step {finding.history_index}")
    elif not parts:
        parts.append("image config")
    return " ".join(parts)


# Where a vulnerability's severity came from (VulnerabilityDetail.severity_source), in words.
_SOURCES = {"cvss_v3": "CVSS v3", "cvss_v4": "CVSS v4", "cvss_v2": "CVSS v2"}
UNRATED = "unrated"


def unrated(finding: Finding) -> bool:
    """Whether the severity is hardbox's default for an advisory that carried no rating
    (scan/vulndb/severity.py): reports say "unrated", not a plain "medium"."""
    return finding.vulnerability is not None and finding.vulnerability.severity_source == "default"


def severity_label(finding: Finding) -> str:
    """``high``, or ``unrated`` for a defaulted severity."""
    return UNRATED if unrated(finding) else finding.severity.value


def cvss_text(finding: Finding) -> str:
    """``9.1 (CVSS v3)``, or "" when the severity came from no CVSS vector."""
    detail = finding.vulnerability
    if detail is None or detail.cvss_score is None:
        return ""
    version = _SOURCES.get(detail.severity_source, "CVSS")
    return f"{detail.cvss_score:.1f} ({version})"


def score_text(finding: Finding) -> str:
    """The CVSS column: ``9.1 (CVSS v3)``, ``advisory's rating`` when the advisory gave a
    word and no vector, ``unrated`` when it gave nothing; "" for a check's finding."""
    detail = finding.vulnerability
    if detail is None:
        return ""
    if detail.cvss_score is not None:
        return cvss_text(finding)
    return {"record": "advisory's rating", "default": UNRATED}.get(detail.severity_source, "")


def severity_source_text(finding: Finding) -> str:
    """Where the severity came from: ``CVSS v3 base score 9.1 (CVSS:3.1/AV:N/…)``, ``the
    advisory's own rating``, or that the advisory had none; "" for a check's finding."""
    detail = finding.vulnerability
    if detail is None or not detail.severity_source:
        return ""
    source = detail.severity_source
    if source in _SOURCES and detail.cvss_score is not None:
        vector = f" ({detail.cvss_vector})" if detail.cvss_vector else ""
        return f"{_SOURCES[source]} base score {detail.cvss_score:.1f}{vector}"
    if source == "record":
        return "the advisory's own rating"
    if source == "default":
        return f"unrated: the advisory gives no severity, counted as {finding.severity.value}"
    return source
