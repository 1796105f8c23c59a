"""The minimize report: before/after size and file counts, packages removed, the probes and
their verdicts, and why each kept file was kept. JSON for machines, HTML (one self-contained
file, the scan report's style) for the reviewer."""

from __future__ import annotations

import json
from typing import Any

from hardbox import resources
from hardbox.minimize.minimizer import MinimizeResult
from hardbox.report.charts import human_bytes


def to_dict(result: MinimizeResult) -> dict[str, Any]:
    ratio = result.before_size / result.after_size if result.after_size else None
    return {
        "source": {"id": result.source_id, "tags": list(result.source_tags),
                   "size": result.before_size, "files": result.before_files},
        "result": {"id": result.new_id, "tag": result.tag,
                   "size": result.after_size, "files": result.after_files},
        "shrink_ratio": round(ratio, 2) if ratio else None,
        "verified": result.verified,
        "probes": [
            {
                "argv": list(c.original.argv),
                "status": c.original.status,
                "minimized_status": c.minimized.status if c.minimized else None,
                "same_output": c.passed,
                "missing": c.missing,
            }
            for c in result.checks
        ],
        "packages": {"kept": sorted(result.databases.kept_packages),
                     "removed": sorted(result.databases.removed_packages)},
        "scan": {
            "before": result.scan_before,
            "after": result.scan_after,
            "vulnerabilities_removed": sorted(set(result.scan_before.get("vulnerabilities", []))
                                              - set(result.scan_after.get("vulnerabilities", []))),
        },
        "kept": [
            {"path": k.path, "kind": k.kind, "size": k.size, "reasons": list(k.reasons)}
            for k in result.plan.kept.values()
        ],
        "missing_libraries": {k: list(v) for k, v in result.plan.missing_libraries.items()},
        "errors": [*result.plan.errors, *result.databases.errors],
    }


def to_json(result: MinimizeResult) -> str:
    return json.dumps(to_dict(result), indent=2, sort_keys=True) + "\n"


def to_html(result: MinimizeResult) -> str:
    import jinja2  # --html only: the text report does without it


    source = (resources.templates() / "minimize.html.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["size"] = _size
    return env.from_string(source).render(r=to_dict(result))


def _size(n: int | None) -> str:
    """Sizes as the scan report prints them (the same kB/MB spelling)."""

    return "-" if n is None else human_bytes(n)
