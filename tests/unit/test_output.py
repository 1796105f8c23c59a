"""Report writing: atomic for files, in place for devices and pipes (never renamed over);
a set of reports is rendered and checked whole before any of it is written."""

from __future__ import annotations

import argparse
import os
import stat
import threading
from pathlib import Path

import pytest

from hardbox.cli.output import add_report_arguments, report_targets, write_output, write_reports
from hardbox.errors import InputError, UsageError


def test_regular_file_is_replaced_atomically(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "report.json"
    write_output(str(target), "first\n")
    inode = target.stat().st_ino
    write_output(str(target), "second\n")
    assert target.read_text() == "second\n"
    assert target.stat().st_ino != inode  # a new file renamed into place
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]  # no temp left


def test_dev_null_stays_a_device() -> None:
    before = os.stat("/dev/null")
    write_output("/dev/null", "discarded\n")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert after.st_ino == before.st_ino


def test_a_fifo_is_written_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    write_output(str(fifo), "through the pipe\n")
    reader.join(timeout=10)
    assert received == ["through the pipe\n"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_stdout_dash(capsys: pytest.CaptureFixture[str]) -> None:
    write_output("-", "to stdout\n")
    assert capsys.readouterr().out == "to stdout\n"


def _args(**targets: str | None) -> argparse.Namespace:
    return argparse.Namespace(**{fmt: targets.get(fmt) for fmt in ("json", "sarif", "markdown")})


def test_report_targets_are_the_flags_given_and_at_most_one_on_stdout() -> None:
    assert report_targets(_args(json="a.json", sarif="-"), ("json", "sarif", "markdown")) == {
        "json": "a.json", "sarif": "-"}
    with pytest.raises(UsageError, match="only one format can be written to stdout"):
        report_targets(_args(json="-", markdown="-"), ("json", "sarif", "markdown"))


def test_write_reports_writes_every_report_and_says_when_one_went_to_stdout(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    targets = {"json": str(tmp_path / "out" / "r.json"), "markdown": "-"}
    to_stdout = write_reports(targets, {"json": lambda: "{}\n", "markdown": lambda: "# r\n",
                                        "sarif": lambda: pytest.fail("not asked for")})
    assert to_stdout is True
    assert (tmp_path / "out" / "r.json").read_text() == "{}\n"
    assert capsys.readouterr().out == "# r\n"
    assert write_reports({"json": str(tmp_path / "r2.json")}, {"json": lambda: "{}\n"}) is False


def test_a_failing_renderer_writes_nothing(tmp_path: Path) -> None:
    def broken() -> str:
        raise ValueError("renderer bug")

    targets = {"json": str(tmp_path / "r.json"), "sarif": str(tmp_path / "r.sarif")}
    with pytest.raises(ValueError, match="renderer bug"):
        write_reports(targets, {"json": lambda: "{}\n", "sarif": broken})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", ["under-a-file/r.sarif", "a-directory"])
def test_an_unwritable_destination_writes_no_report_at_all(tmp_path: Path, bad: str) -> None:
    (tmp_path / "under-a-file").write_text("a file, not a directory")
    (tmp_path / "a-directory").mkdir()
    targets = {"json": str(tmp_path / "ok.json"), "sarif": str(tmp_path / bad)}
    with pytest.raises(InputError, match="cannot write the report"):
        write_reports(targets, {"json": lambda: "{}\n", "sarif": lambda: "{}\n"})
    assert not (tmp_path / "ok.json").exists()


def test_report_flags_and_targets_come_from_one_mapping() -> None:
    reports = {"json": "the JSON", "junit": "the JUnit XML"}
    parser = argparse.ArgumentParser()
    add_report_arguments(parser, reports)
    args = parser.parse_args(["--junit", "-", "--json", "out.json"])
    assert report_targets(args, reports) == {"json": "out.json", "junit": "-"}
    assert "the JUnit XML" in parser.format_help()
