"""Issue 16 item 1: an import can never leave a database the gate trusts but that checks
nothing. OSV YAML records are read (the PyPA advisory-database publishes YAML), an import
that finds no advisory is an error naming what it saw, and a first import that fails leaves
no database file behind.

The YAML records below are written in the layout the PyPA advisory-database publishes
(github.com/pypa/advisory-database, ``vulns/<package>/PYSEC-*.yaml``): top-level ``id``,
``details``, ``aliases``, unquoted ``modified``/``published`` timestamps, ``affected`` with
``package.purl``, ``ranges`` and quoted ``versions``. They are written here, not copied.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hardbox.errors import InputError
from hardbox.scan.vulndb.importer import NoAdvisories, import_into, import_paths
from hardbox.scan.vulndb.index import VulnIndex

PYSEC_JINJA2 = """\
id: PYSEC-2019-217
details: In Pallets Jinja before 2.10.1, str.format_map allows a sandbox escape.
aliases:
- CVE-2019-10906
- GHSA-462w-v97r-4m45
modified: 2021-07-05T00:01:22.043149Z
published: 2019-04-07T00:29:00Z
references:
- type: ARTICLE
  url: https://example.invalid/jinja2-sandbox
affected:
- package:
    name: jinja2
    ecosystem: PyPI
    purl: pkg:pypi/jinja2
  ranges:
  - type: ECOSYSTEM
    events:
    - introduced: '0'
    - fixed: 2.10.1
  versions:
  - '2.0'
  - '2.10'
  - 2.9.6
"""

PYSEC_URLLIB3 = """\
id: PYSEC-2021-108
details: The urllib3 library before 1.26.4 omits SSL certificate validation in some cases.
aliases:
- CVE-2021-28363
modified: 2021-06-15T02:03:21.123456Z
published: 2021-03-15T18:15:00Z
affected:
- package:
    name: urllib3
    ecosystem: PyPI
    purl: pkg:pypi/urllib3
  ranges:
  - type: ECOSYSTEM
    events:
    - introduced: 1.26.0
    - fixed: 1.26.4
"""

BILLION_LAUGHS = """\
id: PYSEC-BOMB
modified: 2021-06-15T02:03:21Z
a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: [*c, *c, *c, *c, *c, *c, *c, *c, *c]
affected: []
"""


@pytest.fixture
def index(tmp_path: Path) -> VulnIndex:
    return VulnIndex.open(tmp_path / "db" / "osv.sqlite", create=True)


def _pypa_checkout(root: Path) -> Path:
    """A folder shaped like a PyPA advisory-database checkout."""
    (root / "vulns" / "jinja2").mkdir(parents=True)
    (root / "vulns" / "urllib3").mkdir(parents=True)
    (root / "vulns" / "jinja2" / "PYSEC-2019-217.yaml").write_text(PYSEC_JINJA2)
    (root / "vulns" / "urllib3" / "PYSEC-2021-108.yml").write_text(PYSEC_URLLIB3)
    (root / "README.md").write_text("# PyPI advisory database\n")
    return root


def test_pypa_yaml_records_import_and_match(tmp_path: Path, index: VulnIndex) -> None:
    report = import_paths([_pypa_checkout(tmp_path / "advisory-database")], index)
    assert report.counts["added"] == 2 and report.counts["skipped"] == 0
    (jinja,) = index.lookup(["PyPI"], "Jinja2")
    assert jinja.id == "PYSEC-2019-217"
    assert jinja.aliases == ("CVE-2019-10906", "GHSA-462w-v97r-4m45")
    # The unquoted YAML timestamp is read as the OSV timestamp, not lost or mangled.
    assert jinja.modified.isoformat() == "2021-07-05T00:01:22.043149+00:00"
    assert [a.id for a in index.lookup(["PyPI"], "urllib3")] == ["PYSEC-2021-108"]


def test_a_named_yaml_file_imports(tmp_path: Path, index: VulnIndex) -> None:
    single = tmp_path / "PYSEC-2021-108.yaml"
    single.write_text(PYSEC_URLLIB3)
    assert import_paths([single], index).counts["added"] == 1


def test_hostile_yaml_is_skipped_as_damage(tmp_path: Path, index: VulnIndex) -> None:
    folder = _pypa_checkout(tmp_path / "feed")
    (folder / "vulns" / "bomb.yaml").write_text(BILLION_LAUGHS)
    (folder / "vulns" / "two.yaml").write_text(PYSEC_URLLIB3 + "---\n" + PYSEC_URLLIB3)
    (folder / "vulns" / "deep.yaml").write_text("[" * 5000 + "]" * 5000)
    (folder / "vulns" / "tab.yaml").write_text("id: X\n\tmodified: 1\n")
    report = import_paths([folder], index)
    assert report.counts["added"] == 2
    reasons = {Path(s.where).name: s.reason for s in report.skipped}
    assert "aliases are not allowed" in reasons["bomb.yaml"]
    assert reasons["two.yaml"].startswith("not YAML:")
    assert set(reasons) == {"bomb.yaml", "two.yaml", "deep.yaml", "tab.yaml"}
    assert all("\n" not in r for r in reasons.values())


def test_a_folder_without_records_is_an_error_naming_what_it_saw(tmp_path: Path, index: VulnIndex) -> None:
    folder = tmp_path / "checkout"
    folder.mkdir()
    for i in range(12):
        (folder / f"notes-{i}.txt").write_text("not an advisory")
    with pytest.raises(NoAdvisories) as err:
        import_paths([folder], index)
    assert str(err.value) == f"{folder}: 0 advisories in 12 files (no .json/.yaml/.zip OSV records)"
    assert isinstance(err.value, InputError)  # exit 2
    assert index.status()["imports"] == []  # rolled back: nothing recorded


def test_records_that_are_all_malformed_find_nothing(tmp_path: Path, index: VulnIndex) -> None:
    folder = tmp_path / "feed"
    folder.mkdir()
    (folder / "a.json").write_text('{"id": "X-1"}')
    (folder / "b.yaml").write_text("id: X-2\nmodified: yesterday\n")
    with pytest.raises(NoAdvisories, match=r"0 advisories in 2 files \(2 records skipped, first: "):
        import_paths([folder], index)


def test_reimporting_what_is_loaded_is_not_empty(tmp_path: Path, index: VulnIndex) -> None:
    folder = _pypa_checkout(tmp_path / "feed")
    import_paths([folder], index)
    assert import_paths([folder], index).counts["unchanged"] == 2


def test_a_failed_first_import_leaves_no_database(tmp_path: Path) -> None:
    db = tmp_path / "db" / "osv.sqlite"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NoAdvisories):
        import_into(db, [empty])
    assert not db.exists()
    assert sorted(p.name for p in db.parent.iterdir()) == []  # no temporary left either
    import_into(db, [_pypa_checkout(tmp_path / "feed")])
    with VulnIndex.open(db) as index:
        assert index.live_advisories() == 2
    # A later failure changes nothing in the published database.
    with pytest.raises(NoAdvisories):
        import_into(db, [empty])
    with VulnIndex.open(db) as index:
        assert index.live_advisories() == 2 and len(index.status()["imports"]) == 2
