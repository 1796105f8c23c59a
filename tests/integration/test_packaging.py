"""A non-editable install into a fresh venv ships policies/ and templates/ (docs/architecture.md,
"Shipped data ships")."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_install_ships_policies_and_templates(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    py = venv / "bin" / "python"
    # --no-deps, with this venv's packages behind the new one's (a .pth line, so the editable
    # install's finder stays unprocessed): what is under test is that the package itself
    # carries its data. Not --system-site-packages: that is the base interpreter's, which on a
    # fresh machine holds none of the dependencies.
    site = sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    ours = dict.fromkeys((sysconfig.get_path("purelib"), sysconfig.get_path("platlib")))
    (Path(site) / "outer-venv.pth").write_text("".join(f"{p}\n" for p in ours))
    proc = subprocess.run(
        [py, "-m", "pip", "install", "-q", "--no-deps", str(REPO)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    script = (
        "import hardbox, hardbox.resources as r, pathlib, sys;"
        "assert 'site-packages' in hardbox.__file__, hardbox.__file__;"
        "p = r.policies(); t = r.templates();"
        "print('\\n'.join(sorted(str(x.relative_to(pathlib.Path(str(p)).parent)) "
        "for base in (p, t) for x in pathlib.Path(str(base)).rglob('*') if x.is_file())))"
    )
    listing = subprocess.run([py, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    installed = {line for line in listing.stdout.splitlines() if "__pycache__" not in line}
    expected = {
        str(f.relative_to(REPO))
        for base in ("policies", "templates")
        for f in (REPO / base).rglob("*")
        if f.is_file() and "__pycache__" not in f.parts
    }
    assert expected, "policies/ and templates/ hold no files"
    assert expected <= installed, sorted(expected - installed)
    # The console script is installed and runs: hardbox's own (scripts/hardbox, run by the
    # venv's interpreter), not pip's entry-point wrapper, which imports re first (issue 14).
    version = subprocess.run([venv / "bin" / "hardbox", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("hardbox ")
    shebang, body = (venv / "bin" / "hardbox").read_text().split("\n", 1)
    assert shebang.startswith(f"#!{venv}/bin/python"), shebang
    assert body == (REPO / "scripts" / "hardbox").read_text().split("\n", 1)[1]
