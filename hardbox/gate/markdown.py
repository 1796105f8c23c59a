"""The Markdown summary of a gate or lint decision, for a pull-request comment or a CI job
summary (``$GITHUB_STEP_SUMMARY``): the verdict, a table of rules, then each failed rule with
the findings behind it and how to fix them. Findings are written by the one Markdown writer
(``hardbox.report.markdown``: escaping, one line per finding, capped lists), so a finding
reads as it does in the scan report.
"""

from __future__ import annotations

from hardbox.gate.evaluate import GateResult
from hardbox.report.markdown import finding_item, finding_list, md

MAX_FINDINGS_PER_RULE = 50


def render(result: GateResult, title: str = "hardbox gate") -> str:
    verdict = "✅ passed" if result.passed else f"❌ failed ({len(result.failed_rules)} of {len(result.rules)} rules)"
    out = [f"## {md(title)}: {md(result.image)} — {verdict}", "",
           f"Policy **{md(result.policy)}** ({md(result.policy_source)})", "",
           "| Rule | Result | Findings |", "| --- | --- | --- |"]  # fmt: skip
    for rule in result.rules:
        mark = "✅ pass" if rule.passed else "❌ fail"
        n_waived = len(rule.excepted) + len(rule.vex_suppressed)
        waived_note = f" ({n_waived} waived)" if n_waived else ""
        out.append(f"| {md(rule.description)} | {mark} | {len(rule.failing)}{waived_note} |")
    for rule in result.failed_rules:
        out += ["", f"### ❌ {md(rule.description)}", ""]
        out += finding_list([finding_item(f) for f in rule.failing], MAX_FINDINGS_PER_RULE)
    waived = [(w, "excepted") for r in result.rules for w in r.excepted] + [
        (w, "not affected (VEX)") for r in result.rules for w in r.vex_suppressed
    ]
    if waived:
        out += ["", "### Waived", ""]
        out += finding_list([f"{what}: {finding_item(w.finding, fix=False)} — {md(w.by)}" for w, what in waived],
                            MAX_FINDINGS_PER_RULE)  # fmt: skip
    notices = [f for r in result.rules for f in r.notices]
    if notices:
        out += ["", "<details><summary>Below the threshold</summary>", ""]
        out += finding_list([finding_item(f) for f in notices], MAX_FINDINGS_PER_RULE)
        out += ["", "</details>"]
    if result.expired_exceptions:
        out += ["", "### Expired exceptions (no longer applied)", ""]
        out += [f"- {md(e.describe())}: {md(e.reason)}" for e in result.expired_exceptions]
    return "\n".join(out) + "\n"
