"""VEX input: statements that a vulnerability does not affect this image.

Two standard formats, detected from the document itself:
- OpenVEX (openvex/spec, v0.2.0; v0.0.x spelled ``vulnerability`` as a plain string): each
  of ``statements`` names a ``vulnerability`` (``name`` and ``aliases``), ``products`` (by
  ``@id``/``identifiers.purl``, optionally narrowed to ``subcomponents``) and a ``status``.
  ``not_affected`` and ``fixed`` mean the finding does not apply.
- CycloneDX VEX (CycloneDX 1.4+ ``vulnerabilities``): each names an ``id``, the components it
  ``affects`` (``ref``: a purl or a bom-ref) and an ``analysis.state``; ``not_affected`` and
  ``false_positive`` mean the finding does not apply.

A statement applies to a vulnerability finding when the ids (or aliases) meet, and the
statement names the finding's package — compared as purls: type, namespace and name, and the
version when the statement gives one. A product that is not a package purl (the image itself,
``pkg:oci/…``, or a bom-ref this file cannot resolve) covers every package of the image.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from hardbox import jsondoc
from hardbox.errors import InputError
from hardbox.findings import Finding, Kind
from hardbox.named_input import require_file_or_dir
from hardbox.resources import policies

_OPENVEX_NOT_AFFECTING = frozenset({"not_affected", "fixed"})
_CDX_NOT_AFFECTING = frozenset({"not_affected", "false_positive"})
_MAX_BYTES = 32 << 20


@dataclass(frozen=True)
class VexStatement:
    vulnerability: str
    aliases: tuple[str, ...]
    products: tuple[str, ...]  # purls or refs; empty = the whole document's subject
    status: str
    justification: str
    source: str
    format: str = "openvex"  # or "cyclonedx"

    @property
    def not_affecting(self) -> bool:
        states = _OPENVEX_NOT_AFFECTING if self.format == "openvex" else _CDX_NOT_AFFECTING
        return self.status in states

    def applies_to(self, finding: Finding, purl: str | None) -> bool:
        if finding.kind is not Kind.VULNERABILITY:
            return False
        ids = {self.vulnerability, *self.aliases}
        finding_ids = {finding.id, *finding.aliases}
        if not ids & finding_ids:
            return False
        return not self.products or any(_product_covers(p, purl) for p in self.products)

    def describe(self) -> str:
        why = f" ({self.justification})" if self.justification else ""
        return f"VEX {self.source}: {self.vulnerability} {self.status}{why}"


def _product_covers(product: str, purl: str | None) -> bool:
    try:
        want = PackageURL.from_string(product)
    except ValueError:
        return True  # a bom-ref or the image's own name: the statement is about this image
    if want.type == "oci":
        return True
    if purl is None:
        return False
    try:
        have = PackageURL.from_string(purl)
    except ValueError:
        return False
    same = (want.type, want.namespace, want.name) == (have.type, have.namespace, have.name)
    return same and (want.version is None or want.version == have.version)


def load_vex(path: str | Path) -> tuple[VexStatement, ...]:
    p = require_file_or_dir(path, "VEX")
    try:
        raw = p.read_bytes()
    except OSError as err:
        raise InputError(f"VEX {p}: cannot read: {err.strerror or err}") from None
    if len(raw) > _MAX_BYTES:
        raise InputError(f"VEX {p}: larger than {_MAX_BYTES} bytes")
    try:
        doc = jsondoc.loads(raw)
    except jsondoc.TooDeep as err:
        raise InputError(f"VEX {p}: {err}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"VEX {p}: not JSON ({err})") from None
    if not isinstance(doc, dict):
        raise InputError(f"VEX {p}: not a JSON object")
    if "statements" in doc and "openvex" in str(doc.get("@context", "")):
        _validate(doc, "openvex.schema.json", p)
        return _openvex(doc, str(p))
    if doc.get("bomFormat") == "CycloneDX":
        _validate(doc, "cyclonedx-vex.schema.json", p)
        return _cyclonedx(doc, str(p))
    raise InputError(f"VEX {p}: neither OpenVEX (@context openvex, statements) nor CycloneDX (bomFormat)")


@lru_cache(maxsize=2)
def _schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((policies() / "gate" / name).read_text(encoding="utf-8"))
    return loaded


def _validate(doc: dict[str, Any], schema_name: str, path: Path) -> None:
    """Check every field the loaders read against the format's schema (policies/gate/), so a
    wrongly typed field is one line naming it, before any image is read."""
    import jsonschema  # only when a VEX document is given

    errors = list(jsonschema.Draft202012Validator(_schema(schema_name)).iter_errors(doc))
    if not errors:
        return
    best = jsonschema.exceptions.best_match(errors) or errors[0]
    where = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in best.absolute_path).lstrip(".")
    message = best.message if len(best.message) <= 200 else best.message[:200] + "…"
    raise InputError(f"VEX {path}: {where or '(document)'}: {message}",
                     hint="see docs/gate.md; OpenVEX v0.2.0 and CycloneDX 1.4+ VEX are read")


def _openvex(doc: dict[str, Any], source: str) -> tuple[VexStatement, ...]:
    out = []
    for i, st in enumerate(_list(doc, "statements", source)):
        where = f"{source}: statements[{i}]"
        vuln = st.get("vulnerability") if isinstance(st, dict) else None
        aliases: tuple[str, ...] = ()
        if isinstance(vuln, str):
            name = vuln
        elif isinstance(vuln, dict) and isinstance(vuln.get("name"), str):
            name, aliases = vuln["name"], tuple(str(a) for a in vuln.get("aliases") or ())
        else:
            raise InputError(f"VEX {where}: vulnerability has no name")
        status = st.get("status")
        if not isinstance(status, str):
            raise InputError(f"VEX {where}: no status")
        products: list[str] = []
        for prod in st.get("products") or ():
            if isinstance(prod, str):  # v0.0.x: products were plain strings
                products.append(prod)
            elif isinstance(prod, dict):
                subs = [s.get("@id", "") for s in prod.get("subcomponents") or () if isinstance(s, dict)]
                top = prod.get("@id") or (prod.get("identifiers") or {}).get("purl", "")
                products.extend(s for s in subs if s) if subs else products.append(str(top))
        out.append(VexStatement(name, aliases, tuple(products), status, str(st.get("justification", "")), source))
    return tuple(out)


def _cyclonedx(doc: dict[str, Any], source: str) -> tuple[VexStatement, ...]:
    out = []
    for i, v in enumerate(_list(doc, "vulnerabilities", source)):
        where = f"{source}: vulnerabilities[{i}]"
        if not isinstance(v, dict) or not isinstance(v.get("id"), str):
            raise InputError(f"VEX {where}: no id")
        analysis = v.get("analysis") or {}
        state = analysis.get("state", "") if isinstance(analysis, dict) else ""
        refs = tuple(str(a.get("ref", "")) for a in v.get("affects") or () if isinstance(a, dict) and a.get("ref"))
        aliases = tuple(str(r["id"]) for r in v.get("references") or () if isinstance(r, dict) and r.get("id"))
        justification = str(analysis.get("justification", ""))
        out.append(VexStatement(v["id"], aliases, refs, state, justification, source, "cyclonedx"))
    return tuple(out)


def _list(doc: dict[str, Any], key: str, source: str) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise InputError(f"VEX {source}: {key} is not a list")
    return value

