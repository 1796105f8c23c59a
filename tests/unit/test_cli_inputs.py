"""The vulnerability database scan, gate and sbom read, resolved one way (cli/inputs.py)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hardbox.cli.inputs import import_db_path, vuln_db
from hardbox.errors import UsageError
from hardbox.scan.vulndb.index import VulnIndex


def _default(root: Path) -> Path:
    path = root / "db" / "osv.sqlite"
    path.parent.mkdir(parents=True)
    with VulnIndex.open(path, create=True):
        pass
    return path


def test_without_a_database_scan_goes_on_and_sbom_with_vulns_stops(hardbox_root: Path) -> None:
    assert vuln_db(None, required=False) is None
    with pytest.raises(UsageError, match=r"osv.sqlite: no vulnerability database there") as err:
        vuln_db(None, required=True)
    assert "hardbox db import" in err.value.hint


def test_the_default_database_is_found(hardbox_root: Path) -> None:
    path = _default(hardbox_root)
    assert vuln_db(None, required=False) == path
    assert vuln_db(None, required=True) == path


def test_a_named_database_must_exist_even_when_optional(tmp_path: Path, hardbox_root: Path) -> None:
    _default(hardbox_root)  # a default does not stand in for a missing named one
    missing = tmp_path / "nowhere.sqlite"
    for required in (False, True):
        with pytest.raises(UsageError, match=r"nowhere\.sqlite: no vulnerability database there"):
            vuln_db(missing, required=required)
    named = _default(tmp_path)
    assert vuln_db(named, required=False) == named


def test_db_import_writes_the_default_inside_a_private_store_root(tmp_path: Path,
                                                                  hardbox_root: Path) -> None:
    assert import_db_path(tmp_path / "x.sqlite") == tmp_path / "x.sqlite"
    assert not hardbox_root.exists()  # a named index creates no store
    path = import_db_path(None)
    assert path == hardbox_root / "db" / "osv.sqlite"
    assert stat.S_IMODE(hardbox_root.stat().st_mode) == 0o700


def test_pull_choices_are_the_policies_and_hardbox_pull_sets_the_default(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse
    from typing import get_args

    from hardbox.cli import run as run_cli
    from hardbox.cli.inputs import PULL_CHOICES, add_pull_arguments, pull_policy
    from hardbox.image.source import PullPolicy

    assert get_args(PullPolicy) == PULL_CHOICES
    for value, expected in (("never", "never"), ("", "missing"), ("always", "always")):
        monkeypatch.setenv("HARDBOX_PULL", value)
        parser = argparse.ArgumentParser()
        add_pull_arguments(parser, temporary=True)
        assert pull_policy(parser.parse_args([])) == expected
        assert pull_policy(parser.parse_args(["--pull", "missing"])) == "missing"
        runs = argparse.ArgumentParser().add_subparsers()
        run_cli.register(runs)
        assert runs.choices["run"].parse_args(["img"]).pull == expected  # run spells it out
    monkeypatch.setenv("HARDBOX_PULL", "sometimes")
    parser = argparse.ArgumentParser()
    add_pull_arguments(parser)
    with pytest.raises(UsageError, match="HARDBOX_PULL='sometimes': expected one of missing"):
        pull_policy(parser.parse_args([]))
