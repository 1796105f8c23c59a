"""Replay the seed corpus (tests/fuzz/corpus/<parser>/…): the inputs that broke hardbox
(issue 16) and the hostile shapes the fuzzers start from, each through the command a user
would run, under the same contract as the fuzzers (fuzzkit.check) plus the store check.

Cases whose defect another engineer is fixing are strict xfails naming the issue item: when
the fix lands the case passes, the xfail turns red, and the marker is to be deleted.
"""

from __future__ import annotations

import functools
import gzip
import os
import shlex
from collections.abc import Callable
from pathlib import Path

import fuzzkit
import layouts
import pytest
from storecheck import assert_consistent

pytestmark = [pytest.mark.fuzz]

CORPUS = Path(__file__).parent / "corpus"

# The corpus holds the known defects themselves: no tolerance for them here.
check = functools.partial(fuzzkit.check, tolerate_known=False)

# case id -> issue 16 item being fixed elsewhere (see the module docstring).
OPEN: dict[str, str] = {}  # none open: every corpus case meets the contract


def _files(parser: str) -> list[str]:
    return sorted(p.name for p in (CORPUS / parser).iterdir() if p.is_file())


def _lines(parser: str) -> list[str]:
    return [line for f in _files(parser) for line in (CORPUS / parser / f).read_text().splitlines() if line]


def _case(parser: str, name: str) -> object:
    case_id = f"{parser}/{name}"
    return pytest.param(parser, name, id=case_id, marks=_marks(case_id))


def _marks(case_id: str) -> list[pytest.MarkDecorator]:
    if case_id not in OPEN:
        return []
    why = OPEN[case_id]
    reason = f"issue 16 {why}: being fixed" if why.startswith("item") else f"{why}: reported, not yet fixed"
    return [pytest.mark.xfail(strict=True, reason=reason)]


def _import(target: str, root: Path, parser: str) -> None:
    check(parser, fuzzkit.run_cli(["image", "import", target], root=root), allowed=(0, 2))
    assert_consistent(root)


@pytest.mark.parametrize(("parser", "name"), [_case("oci-layout", n) for n in _files("oci-layout")])
def test_oci_layout(parser: str, name: str, tiny_image, tmp_path: Path, store_root: Path) -> None:  # type: ignore[no-untyped-def]
    role = name.rsplit(".", 2)[-2]  # deep-nesting.index.json -> index
    layout = layouts.copy_layout(tiny_image.layout, tmp_path / "layout")
    layouts.replace_in_layout(layout, **{role: (CORPUS / parser / name).read_bytes()})
    _import(str(layout), store_root, "corpus oci-layout")
    _import(f"oci-archive:{layouts.tar_dir(layout, tmp_path / 'oci.tar')}", store_root, "corpus oci-layout")


@pytest.mark.parametrize(("parser", "name"), [_case("docker-archive", n) for n in _files("docker-archive")])
def test_docker_archive(parser: str, name: str, tiny_archives, tmp_path: Path, store_root: Path) -> None:  # type: ignore[no-untyped-def]
    data = (CORPUS / parser / name).read_bytes()
    out = tmp_path / "archive.tar"
    if name.endswith(".manifest.json"):
        layouts.rewrite_docker_archive(tiny_archives["docker-archive"], out, manifest_json=data)
    else:
        layouts.rewrite_docker_archive(tiny_archives["docker-archive"], out, config=data)
    _import(f"docker-archive:{out}", store_root, "corpus docker-archive")


@pytest.mark.parametrize(("parser", "name"), [_case("layer-tar", n) for n in _files("layer-tar")])
def test_layer_tar(parser: str, name: str, tiny_image, tmp_path: Path, store_root: Path) -> None:  # type: ignore[no-untyped-def]
    blob = (CORPUS / parser / name).read_bytes()
    layout = layouts.copy_layout(tiny_image.layout, tmp_path / "layout")
    if name.endswith(".gz") and blob[:2] != b"\x1f\x8b":
        blob = gzip.compress(blob)
    layouts.replace_in_layout(layout, layers=[blob])
    planted = Path("/tmp/hardbox-fuzz-owned")
    planted.unlink(missing_ok=True)
    _import(str(layout), store_root, "corpus layer-tar")
    assert not planted.exists(), f"{name} wrote outside the store"


@pytest.mark.parametrize(("parser", "name"), [_case("profile", n) for n in _files("profile")])
def test_profile(parser: str, name: str, store_root: Path, stored_tiny: str) -> None:
    path = str(CORPUS / parser / name)
    check("corpus profile", fuzzkit.run_cli(["profile", "validate", path], root=store_root))
    out = fuzzkit.run_cli(["run", "--profile", path, "--explain", stored_tiny, "/bin/true"], root=store_root)
    check("corpus profile", out, allowed=(0, 125))


_GATE_FLAG = {"gate-policy": "--policy", "exceptions": "--exceptions", "vex": "--vex"}


@pytest.mark.parametrize(
    ("parser", "name"), [_case(p, n) for p in ("gate-policy", "exceptions", "vex") for n in _files(p)]
)
def test_gate_inputs(parser: str, name: str, store_root: Path, tiny_dir: Path) -> None:
    argv = ["gate", f"dir:{tiny_dir}", _GATE_FLAG[parser], str(CORPUS / parser / name)]
    out = fuzzkit.run_cli(argv, root=store_root)
    check(f"corpus {parser}", out)
    # Each of these inputs is unusable as a whole: refused before any judging (exit 2).
    assert out.code == 2, f"{name} was not refused:\n{out.stderr}"


def test_gate_unparsable_license_is_unknown(tmp_path: Path, store_root: Path) -> None:
    """Item 7: a Debian image whose copyright file says `BSD-3-clause and/or GPL-3+` must be
    judged by the shipped strict policy (exit 0 or 1 with its reports), not crash."""
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(
        "Package: fuzz\nStatus: install ok installed\nPriority: optional\nSection: misc\n"
        "Maintainer: A <a@example.com>\nArchitecture: amd64\nVersion: 1.0-1\nDescription: fuzz\n\n"
    )
    (root / "usr/share/doc/fuzz").mkdir(parents=True)
    (root / "usr/share/doc/fuzz/copyright").write_bytes((CORPUS / "license/copyright").read_bytes())
    from hardbox.resources import policies

    junit = tmp_path / "gate.xml"
    argv = ["gate", f"dir:{root}", "--policy", str(policies() / "gate/example-strict.yaml"), "--junit", str(junit)]
    out = fuzzkit.run_cli(argv, root=store_root)
    check("corpus license", out, allowed=(0, 1))
    assert junit.is_file(), "no JUnit report written"


def _osv_cases() -> list[object]:
    return [_case("osv", n) for n in sorted(p.name for p in (CORPUS / "osv").iterdir())]


@pytest.mark.parametrize(("parser", "name"), _osv_cases())
def test_osv(parser: str, name: str, tmp_path: Path, store_root: Path) -> None:
    db = tmp_path / "osv.sqlite"
    out = fuzzkit.run_cli(["db", "import", "--db", str(db), str(CORPUS / parser / name)], root=store_root)
    check("corpus osv", out)
    if name == "pypa-yaml-folder":
        # Item 1: the PyPA database's YAML records are OSV too.
        assert out.code == 0, out.stderr
        status = fuzzkit.run_cli(["db", "status", "--db", str(db), "--json"], root=store_root)
        assert '"advisories": 1' in status.stdout, status.stdout
    elif name == "no-advisories-folder":
        # Item 1: an import that finds no advisory is exit 2, not "0 added".
        assert out.code == 2, out.stdout + out.stderr


@pytest.mark.parametrize(("parser", "name"), [_case("dockerfile", n) for n in _files("dockerfile")])
def test_dockerfile(parser: str, name: str, store_root: Path) -> None:
    check("corpus dockerfile", fuzzkit.run_cli(["lint", str(CORPUS / parser / name)], root=store_root))


@pytest.mark.parametrize("ref", [pytest.param(r, marks=_marks(f"image-ref/{r}")) for r in _lines("image-ref")])
def test_image_reference(ref: str, store_root: Path, stored_tiny: str) -> None:
    out = fuzzkit.run_cli(["image", "inspect", ref], root=store_root, timeout=10)
    check("corpus image-ref", out)
    out = fuzzkit.run_cli(["scan", "-q", "--json", os.devnull, ref], root=store_root, timeout=10)
    check("corpus image-ref", out)


@pytest.mark.parametrize("options", _lines("run-options"))
def test_run_options(options: str, store_root: Path, stored_tiny: str) -> None:
    argv = ["run", "--explain", *shlex.split(options), stored_tiny, "/bin/true"]
    check("corpus run-options", fuzzkit.run_cli(argv, root=store_root), allowed=(0, 125))


def _fifo(tmp: Path) -> str:
    path = tmp / "x.tar"
    os.mkfifo(path)
    return str(path)


# Item 9: device and FIFO inputs are refused in one line, never read (a read never ends).
SPECIAL: dict[str, Callable[[Path], list[str]]] = {
    "import-dev-zero": lambda tmp: ["image", "import", "/dev/zero"],
    "import-oci-archive-dev-zero": lambda tmp: ["image", "import", "oci-archive:/dev/zero"],
    "import-fifo": lambda tmp: ["image", "import", _fifo(tmp)],
    "gate-oci-archive-dev-zero": lambda tmp: ["gate", "oci-archive:/dev/zero"],
    "db-import-dev-zero": lambda tmp: ["db", "import", "--db", str(tmp / "osv.sqlite"), "/dev/zero"],
    "lint-fifo": lambda tmp: ["lint", _fifo(tmp)],
    "gate-policy-dev-zero": lambda tmp: ["gate", "dir:/nonexistent-rootfs", "--policy", "/dev/zero"],
}


@pytest.mark.parametrize(
    "case",
    [pytest.param(k, marks=_marks(f"special/{k}")) for k in SPECIAL],
)
def test_special_files(case: str, tmp_path: Path, store_root: Path) -> None:
    out = fuzzkit.run_cli(SPECIAL[case](tmp_path), root=store_root, timeout=10)
    check("corpus special files", out, allowed=(2,))
    assert_consistent(store_root)
