"""Reading OSV's ``modified_id.csv`` (``<modified>,<ID>`` per line, newest first): down to
the mark and no further, a limit past which the archive is cheaper, and every malformed
list refused whole rather than trusted in part."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hardbox.scan.vulndb.modified import UnusableList, changed_since

MARK = datetime(2024, 5, 1, tzinfo=UTC)
LIST = """2024-06-03T10:00:00.123456789Z,GHSA-aaaa-bbbb-cccc
2024-06-02T00:00:00Z,PYSEC-2024-7
2024-06-02T00:00:00Z,GHSA-aaaa-bbbb-cccc
2024-05-01T00:00:00Z,PYSEC-2024-1
2024-04-01T00:00:00Z,PYSEC-2023-9
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "modified_id.csv"
    path.write_text(text)
    return path


def test_reads_down_to_the_mark(tmp_path: Path) -> None:
    changes = changed_since(_write(tmp_path, LIST), MARK, 100)
    assert changes is not None
    # Newest first, each id once; the record at the mark itself is already loaded.
    assert changes.ids == ("GHSA-aaaa-bbbb-cccc", "PYSEC-2024-7")
    assert changes.newest == datetime(2024, 6, 3, 10, 0, 0, 123456, tzinfo=UTC)


def test_nothing_above_the_mark(tmp_path: Path) -> None:
    changes = changed_since(_write(tmp_path, LIST), datetime(2024, 7, 1, tzinfo=UTC), 100)
    assert changes is not None and changes.ids == ()


def test_more_than_the_limit_asks_for_the_archive(tmp_path: Path) -> None:
    assert changed_since(_write(tmp_path, LIST), MARK, 1) is None
    assert changed_since(_write(tmp_path, LIST), MARK, 2) is not None


def test_stops_reading_at_the_mark(tmp_path: Path) -> None:
    # Lines below the mark are never read: a damaged tail costs nothing.
    changes = changed_since(_write(tmp_path, LIST + "garbage\n"), MARK, 100)
    assert changes is not None and len(changes.ids) == 2


@pytest.mark.parametrize(("line", "why"), [
    ("2024-06-05T00:00:00Z,../../etc/passwd", "expected"),
    ("2024-06-05T00:00:00Z,", "expected"),
    ("2024-06-05T00:00:00Z", "expected"),
    ("2024-06-05T00:00:00Z,ID WITH SPACES", "expected"),
    ("2024-06-05T00:00:00Z,\x1b[2JEVIL", "expected"),
    ("2024-06-05 tomorrow,GHSA-1", "not an RFC 3339 time"),
    ("2024-06-05T00:00:00,GHSA-1", "no time zone"),
    ("2024-06-05T00:00:00Z," + "A" * 600, "longer than"),
])
def test_a_malformed_line_refuses_the_list(tmp_path: Path, line: str, why: str) -> None:
    with pytest.raises(UnusableList, match=why):
        changed_since(_write(tmp_path, line + "\n" + LIST), MARK, 100)


def test_a_list_out_of_order_is_refused(tmp_path: Path) -> None:
    text = "2024-06-01T00:00:00Z,A-1\n2024-06-09T00:00:00Z,A-2\n"
    with pytest.raises(UnusableList, match="not sorted newest first"):
        changed_since(_write(tmp_path, text), MARK, 100)
