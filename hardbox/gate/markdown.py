"""The Markdown summary of a gate or lint decision, for a pull-request comment or a CI job
summary (``$GITHUB_STEP_SUMMARY``): the verdict, a table of rules, then each failed rule with
the findings behind it and how to fix them. Text from the image or the Dockerfile is escaped
with the scan report's ``md`` (GitHub renders inline HTML). Long lists are capped.
"""

from __future__ import annotations

from hardbox.findings import Finding
from hardbox.gate.evaluate import GateResult


def md(text: object) -> str:
    """The scan report's Markdown escaping (loaded on use: ``hardbox lint`` needs no scanner)."""
    from hardbox.report.markdown import md as escape

    return escape(text)

MAX_FINDINGS_PER_RULE = 50


def render(result: GateResult, title: str = "hardbox gate") -> str:
    verdict = "✅ passed" if result.passed else f"❌ failed ({len(result.failed_rules)} of {len(result.rules)} rules)"
    out = [f"## {md(title)}: {md(result.image)} — {verdict}", "",
           f"Policy **{md(result.policy)}** ({md(result.policy_source)})", "",
           "| Rule | Result | Findings |", "| --- | --- | --- |"]  # fmt: skip
    for rule in result.rules:
        mark = "✅ pass" if rule.passed else "❌ fail"
        n_waived = len(rule.excepted) + len(rule.vex_suppressed)
        extra = f" ({n_waived} waived)" if n_waived else ""
        out.append(f"| {md(rule.description)} | {mark} | {len(rule.failing)}{extra} |")
    for rule in result.failed_rules:
        out += ["", f"### ❌ {md(rule.description)}", ""]
        out += [f"- {_item(f)}" for f in rule.failing[:MAX_FINDINGS_PER_RULE]]
        if len(rule.failing) > MAX_FINDINGS_PER_RULE:
            out.append(f"- … and {len(rule.failing) - MAX_FINDINGS_PER_RULE} more (see the JSON or SARIF report)")
    waived = [(w, "excepted") for r in result.rules for w in r.excepted] + [
        (w, "not affected (VEX)") for r in result.rules for w in r.vex_suppressed
    ]
    if waived:
        out += ["", "### Waived", ""]
        out += [f"- {what}: {_item(w.finding, fix=False)} — {md(w.by)}" for w, what in waived[:MAX_FINDINGS_PER_RULE]]
    notices = [f for r in result.rules for f in r.notices]
    if notices:
        out += ["", "<details><summary>Below the threshold</summary>", ""]
        out += [f"- {_item(f)}" for f in notices[:MAX_FINDINGS_PER_RULE]]
        out += ["", "</details>"]
    if result.expired_exceptions:
        out += ["", "### Expired exceptions (no longer applied)", ""]
        out += [f"- {md(e.describe())}: {md(e.reason)}" for e in result.expired_exceptions]
    return "\n".join(out) + "\n"


def _item(f: Finding, fix: bool = True) -> str:
    where = f.detail if f.extra.get("source") == "dockerfile" else (f.path or "")
    pkg = f" {md(f.package)} {md(f.version or '')}".rstrip() if f.package else ""
    text = f"**{f.severity.value}** {md(f.id)}{pkg}: {md(f.title)}"
    if where:
        text += f" at {md(where)}"
    if fix and f.fix:
        text += f" — fix: {md(f.fix)}"
    return text
