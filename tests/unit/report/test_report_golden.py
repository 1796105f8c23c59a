"""Golden files for every reporter, rendered from a committed scan result.

The goldens are rendered from ``tests/fixtures/report/sample-scan.json`` (the JSON report of
the multi-layer sample image, read back into the real ``ScanResult``), as syft's format
snapshots are: so they hold whatever host builds the sample, whose layer bytes depend on the
jinja2 and busybox installed there. ``HARDBOX_UPDATE_GOLDENS=1`` rewrites the goldens from the
fixture (review the diff); ``HARDBOX_UPDATE_FIXTURE=1`` rewrites the fixture from a live scan
of the sample image (then update the goldens).

The live scan is still checked: its report must have the fixture's structure (the same keys,
findings, packages and layers), not its bytes.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from helpers import scanimages
from helpers.cli import need_tool

from hardbox import resources
from hardbox.report import REPORTERS
from hardbox.scan.result import ScanResult, from_dict

GOLDEN = Path(__file__).parent / "golden"
FIXTURE = Path(__file__).parents[2] / "fixtures" / "report" / "sample-scan.json"
# Where the fixture says the sample's work directory was (image name, database path).
FIXTURE_WORK = "/tmp/sample"


def fixture_result() -> ScanResult:
    return from_dict(json.loads(FIXTURE.read_text()))


def _assets_checked(html: str) -> str:
    """The HTML report with its inlined stylesheet and script checked against the shipped
    templates/report.css and report.js and replaced by a marker: the golden holds the markup
    the report renders, not a second copy of the two files."""
    templates = Path(str(resources.templates()))
    for tag, name in (("style", "report.css"), ("script", "report.js")):
        inlined = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.S)
        assert inlined == [(templates / name).read_text(encoding="utf-8")], f"{name} is not inlined as shipped"
        html = html.replace(f"<{tag}>{inlined[0]}</{tag}>", f"<{tag}>/* templates/{name}, inlined */</{tag}>")
    return html


@pytest.mark.parametrize("fmt", sorted(REPORTERS))
def test_golden(fmt: str) -> None:
    reporter = REPORTERS[fmt]()
    text = reporter.render(fixture_result())
    if fmt == "html":
        text = _assets_checked(text)
    golden = GOLDEN / f"sample.{reporter.extension}"
    if os.environ.get("HARDBOX_UPDATE_GOLDENS") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"{golden} missing: run with HARDBOX_UPDATE_GOLDENS=1"
    assert text == golden.read_text(), f"{fmt} report changed: HARDBOX_UPDATE_GOLDENS=1 to accept"


def test_the_fixture_reads_back_to_the_same_json() -> None:
    """``from_dict`` loses nothing the JSON report holds: the goldens render what a scan had."""
    assert REPORTERS["json"]().render(fixture_result()) == FIXTURE.read_text()


def _structure(doc: Any) -> Any:
    """The shape of a JSON report without its host-dependent values: keys all the way down,
    each finding's identity and each package's name and version, the layer count."""
    return {
        "keys": _keys(doc),
        "findings": sorted(_identity(f) for f in doc["findings"]),
        "packages": sorted((p["ecosystem"], p["name"], p["layer_index"]) for p in doc["packages"]),
        "layers": [(la["index"], la["packages"], la["findings"]) for la in doc["image"]["layers"]],
        "risk": doc["risk"]["grade"],
        "summary": doc["summary"],
    }


def _identity(f: dict[str, Any]) -> tuple[Any, ...]:
    layer = -1 if f["layer_index"] is None else f["layer_index"]
    return (f["id"], f["kind"], f["severity"], f["package"] or "", f["path"] or "", layer, sorted(f.get("extra", {})))


def _keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _keys(v) for k, v in value.items() if k not in ("extra", "os")}
    if isinstance(value, list):
        return [_keys(v) for v in value[:1]]
    return type(value).__name__ if value is not None else None


@pytest.mark.slow  # builds the sample image (umoci, openssl) and scans it: ~10 s
def test_a_live_scan_has_the_fixture_structure(tmp_path_factory: pytest.TempPathFactory) -> None:
    need_tool("umoci", "openssl")
    result, work = scanimages.sample_scan(tmp_path_factory)
    assert isinstance(result, ScanResult)
    text = REPORTERS["json"]().render(result).replace(str(work), FIXTURE_WORK)
    if os.environ.get("HARDBOX_UPDATE_FIXTURE") == "1":
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        FIXTURE.write_text(text)
    live, fixed = json.loads(text), json.loads(FIXTURE.read_text())
    assert _structure(live) == _structure(fixed)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", sorted(REPORTERS))
def test_no_secret_value_in_any_report(fmt: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    need_tool("umoci", "openssl")
    result, _ = scanimages.sample_scan(tmp_path_factory)
    assert isinstance(result, ScanResult)
    text = REPORTERS[fmt]().render(result)
    leaked = [s for s in scanimages.SECRETS if s in text]
    assert not leaked
    assert "<redacted:<" not in text  # scrubbing twice must not redact the placeholder


@pytest.mark.slow
def test_same_image_and_db_give_identical_bytes(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A second, independent scan (fresh store) of the same image and database."""
    need_tool("umoci", "openssl")
    result, work = scanimages.sample_scan(tmp_path_factory)
    assert isinstance(result, ScanResult)
    again = scanimages.scan_ref(result.image.name, work / "store-again", Path(str(result.vuln_db)))
    assert isinstance(again, ScanResult)
    for fmt, cls in REPORTERS.items():
        assert cls().render(again) == cls().render(result), fmt


def test_terminal_summary_leads_with_what_to_fix_first() -> None:
    """`hardbox scan`'s summary ranks as the reports do: an upgrade is one line among the
    single findings, in the order priorities.fix_first gives."""
    from hardbox.cli.scan import summary
    from hardbox.report.priorities import fix_first
    from hardbox.scan.upgrades import Upgrade

    result = fixture_result()
    ranked = fix_first(result, 5)
    lines = summary(result, []).splitlines()[3:8]
    assert len(lines) == 5 and any(isinstance(item, Upgrade) for item in ranked)
    for line, item in zip(lines, ranked, strict=True):
        if isinstance(item, Upgrade):
            assert line.split()[1:2] == ["upgrade"] and item.summary().removeprefix("upgrade ") in line
        else:
            assert line.split()[1] == item.id and item.title in line
