"""JUnit XML for a gate or lint decision: one ``testcase`` per rule, so CI test-report views
(GitLab's ``artifacts:reports:junit``, GitHub test-reporter actions, Jenkins) list the rules
and show the failed ones with the findings behind them.

The shape is the one those tools read (the Ant/Jenkins JUnit schema): ``testsuites`` >
``testsuite`` (name, tests, failures) > ``testcase`` (classname, name) with a ``failure``
(``message`` one line, text the findings) or, for a passing rule with notes, ``system-out``.
Written with ``xml.etree``, which escapes whatever an image or a Dockerfile puts in a title.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from hardbox.findings import Finding
from hardbox.gate.evaluate import GateResult, RuleResult


def render(result: GateResult, suite: str = "hardbox gate") -> str:
    root = ET.Element("testsuites", name=suite, tests=str(len(result.rules)), failures=str(len(result.failed_rules)))
    ts = ET.SubElement(
        root, "testsuite", name=_clean(f"{suite}: {result.image}"), tests=str(len(result.rules)),
        failures=str(len(result.failed_rules)), errors="0", skipped="0",
    )  # fmt: skip
    props = ET.SubElement(ts, "properties")
    for name, value in (("image", result.image), ("image_id", result.image_id), ("policy", result.policy)):
        ET.SubElement(props, "property", name=name, value=_clean(value))
    for rule in result.rules:
        case = ET.SubElement(ts, "testcase", classname=f"hardbox.{result.policy}", name=_clean(f"{rule.name}: {rule.description}"))
        if not rule.passed:
            n = len(rule.failing)
            failure = ET.SubElement(case, "failure", message=f"{n} finding{'s' if n != 1 else ''}: {_line(rule.failing[0])}", type="policy")
            failure.text = "\n".join(_line(f) for f in rule.failing) + _waived(rule)
        elif rule.notices or rule.excepted or rule.vex_suppressed:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(f"below threshold: {_line(f)}" for f in rule.notices) + _waived(rule)
    if result.expired_exceptions:
        err = ET.SubElement(ts, "system-err")
        err.text = "\n".join(f"expired exception: {e.describe()}" for e in result.expired_exceptions)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# Characters XML 1.0 cannot hold even escaped (§2.2 Char); an image can put them in a title.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _line(f: Finding) -> str:
    where = f"{f.path}:{f.line}" if f.path and f.line else (f.path or "")
    pkg = f" {f.package} {f.version or ''}".rstrip() if f.package else ""
    fix = f" — fix: {f.fix}" if f.fix else ""
    return _clean(f"[{f.severity.value}] {f.id}{pkg}: {f.title}{f' at {where}' if where else ''}{fix}")


def _waived(rule: RuleResult) -> str:
    lines = [f"excepted: {_line(w.finding)} ({w.by})" for w in rule.excepted]
    lines += [f"not affected: {_line(w.finding)} ({w.by})" for w in rule.vex_suppressed]
    return ("\n" + "\n".join(lines)) if lines else ""
