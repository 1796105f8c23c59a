"""Golden files for every reporter, from a real scan of the multi-layer sample image.

Digests, the short image id, timestamps and temporary paths change with every build of the
image, so they are replaced by placeholders before comparing; everything else must match
byte for byte. ``HARDBOX_UPDATE_GOLDEN=1`` rewrites the golden files (review the diff).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import scanimages
from conftest import need_tool

from hardbox.report import REPORTERS
from hardbox.scan.result import ScanResult

# Building the sample image (umoci, openssl) and scanning it takes ~10 s once per session.
pytestmark = pytest.mark.slow

GOLDEN = Path(__file__).parent / "golden"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[ScanResult, Path]:
    need_tool("umoci", "openssl")
    result, work = scanimages.sample_scan(tmp_path_factory)
    assert isinstance(result, ScanResult)
    return result, work


def normalise(text: str, result: ScanResult, work: Path) -> str:
    text = text.replace(str(work), "<tmp>")
    text = _DIGEST.sub("sha256:<digest>", text)
    text = text.replace(result.image.short_id, "<short-id>")
    return _TIME.sub("<time>", text)


@pytest.mark.parametrize("fmt", sorted(REPORTERS))
def test_golden(fmt: str, sample: tuple[ScanResult, Path]) -> None:
    result, work = sample
    reporter = REPORTERS[fmt]()
    text = normalise(reporter.render(result), result, work)
    golden = GOLDEN / f"sample.{reporter.extension}"
    if os.environ.get("HARDBOX_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"{golden} missing: run with HARDBOX_UPDATE_GOLDEN=1"
    assert text == golden.read_text(), f"{fmt} report changed: HARDBOX_UPDATE_GOLDEN=1 to accept"


@pytest.mark.parametrize("fmt", sorted(REPORTERS))
def test_no_secret_value_in_any_report(fmt: str, sample: tuple[ScanResult, Path]) -> None:
    text = REPORTERS[fmt]().render(sample[0])
    leaked = [s for s in scanimages.SECRETS if s in text]
    assert not leaked
    assert "<redacted:<" not in text  # scrubbing twice must not redact the placeholder


def test_same_image_and_db_give_identical_bytes(sample: tuple[ScanResult, Path]) -> None:
    """A second, independent scan (fresh store) of the same image and database."""
    result, work = sample
    again = scanimages.scan_ref(result.image.name, work / "store-again", Path(str(result.vuln_db)))
    assert isinstance(again, ScanResult)
    for fmt, cls in REPORTERS.items():
        assert cls().render(again) == cls().render(result), fmt
