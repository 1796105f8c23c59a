"""Hostile documents the user names are one line and exit 2 (``run``: 125), never a traceback
(issue 16 items 5, 8, 11): nesting past 100 levels in image JSON, profiles, gate policies,
exceptions and VEX; a Dockerfile ending in a line continuation; NUL and control characters
in YAML.

The documents are written here on purpose: they are the hostile input under test, and the
CLI is driven as a user would, in a subprocess.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from helpers.cli import hardbox

DEEP = 1000  # past CPython's recursion limit for json and PyYAML's composer alike


def deep_json(levels: int = DEEP) -> str:
    return "[" * levels + "]" * levels


def deep_yaml_field(name: str, levels: int = DEEP) -> str:
    return f"{name}: {deep_json(levels)}\n"


def one_line(stderr: str) -> str:
    """The message line (a hint may follow on its own line); no traceback anywhere."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if not line.startswith("  hint:")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_deep_oci_index_is_refused(tmp_path: Path, hardbox_root: Path) -> None:
    layout = tmp_path / "layout"
    layout.mkdir()
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (layout / "index.json").write_text('{"schemaVersion": 2, "manifests": ' + deep_json() + "}")
    proc = hardbox("image", "import", f"oci:{layout}")
    assert proc.returncode == 2, proc.stderr
    assert "index.json: nested deeper than 100 levels" in one_line(proc.stderr)


def test_deep_docker_archive_manifest_is_refused(tmp_path: Path, hardbox_root: Path) -> None:
    archive = tmp_path / "deep.tar"
    body = deep_json().encode()
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    proc = hardbox("image", "import", f"docker-archive:{archive}")
    assert proc.returncode == 2, proc.stderr
    assert "manifest.json: nested deeper than 100 levels" in one_line(proc.stderr)


def test_json_at_the_bound_is_read_and_past_it_refused() -> None:
    from hardbox import jsondoc

    assert jsondoc.loads("[" * 100 + "]" * 100) == eval("[" * 100 + "]" * 100)
    with pytest.raises(jsondoc.TooDeep):
        jsondoc.loads("[" * 101 + "]" * 101)
    with pytest.raises(jsondoc.TooDeep):
        jsondoc.loads('{"a": ' * 101 + "1" + "}" * 101)


def test_deep_profile_validate_exits_2_and_run_125(tmp_path: Path, hardbox_root: Path) -> None:
    profile = tmp_path / "deep.yaml"
    profile.write_text("name: deep\n" + deep_yaml_field("extends"))
    proc = hardbox("profile", "validate", str(profile))
    assert proc.returncode == 2, proc.stderr
    assert f"{profile}:2: nested deeper than 100 levels" in one_line(proc.stderr)
    proc = hardbox("run", "--profile", str(profile), "no-such-image", "--", "true")
    assert proc.returncode == 125, proc.stderr
    assert "nested deeper than 100 levels" in one_line(proc.stderr)


def test_deep_block_yaml_is_refused_too(tmp_path: Path) -> None:
    profile = tmp_path / "deep.yaml"
    profile.write_text("name: deep\nx:\n" + "".join(" " * i + "- \n" for i in range(300)))
    proc = hardbox("profile", "validate", str(profile))
    assert proc.returncode == 2, proc.stderr
    assert "nested deeper than 100 levels" in one_line(proc.stderr)


@pytest.mark.parametrize("flag", ["--policy", "--exceptions", "--vex"])
def test_deep_gate_inputs_exit_2(tmp_path: Path, hardbox_root: Path, flag: str) -> None:
    doc = tmp_path / ("deep.json" if flag == "--vex" else "deep.yaml")
    if flag == "--vex":
        doc.write_text('{"@context": "https://openvex.dev/ns", "statements": ' + deep_json() + "}")
    else:
        doc.write_text("version: 1\n" + deep_yaml_field("forbid" if flag == "--policy" else "exceptions"))
    args = ["gate", "no-such-image"] + ([flag, str(doc)] if flag != "--policy" else [])
    args += ["--policy", str(doc)] if flag == "--policy" else []
    proc = hardbox(*args)
    assert proc.returncode == 2, proc.stderr
    assert f"{doc}" in proc.stderr and "nested deeper than 100 levels" in one_line(proc.stderr)


@pytest.mark.parametrize("text", ["FROM busybox:1.36\n\\", "FROM busybox:1.36\n\\\n", "\\"])
def test_dockerfile_ending_in_a_continuation(tmp_path: Path, text: str) -> None:
    df = tmp_path / "Dockerfile"
    df.write_text(text)
    proc = hardbox("lint", str(df))
    assert proc.returncode == 2, proc.stderr
    assert "a line continuation (\\) with no instruction" in one_line(proc.stderr)


@pytest.mark.parametrize(("raw", "line", "column", "char"),
                         [(b"name: a\x00b\n", 1, 8, "U+0000"), (b"name: x\nextends: a\x07\n", 2, 11, "U+0007")])
def test_yaml_bad_characters_are_one_line(tmp_path: Path, raw: bytes, line: int, column: int, char: str) -> None:
    profile = tmp_path / "bad.yaml"
    profile.write_bytes(raw)
    proc = hardbox("profile", "validate", str(profile))
    assert proc.returncode == 2, proc.stderr
    message = one_line(proc.stderr)
    assert f"{profile}:{line}: not valid YAML: character {char} is not allowed (column {column})" in message
    policy = tmp_path / "policy.yaml"
    policy.write_bytes(b"version: 1\n" + raw)
    proc = hardbox("gate", "no-such-image", "--policy", str(policy))
    assert proc.returncode == 2 and f"{policy}:{line + 1}: not valid YAML" in one_line(proc.stderr)
