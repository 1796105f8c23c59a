"""The parsed-profile cache: a hit needs neither PyYAML nor jsonschema; any change to a file
the profile was built from (its extends chain, the schema, the seccomp JSON) is a miss and is
validated again; a damaged entry is ignored and rewritten."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hardbox.errors import InputError
from hardbox.runtime.profile.load import list_profiles, load_profile

PROBE = """
import json, sys
from hardbox.runtime.profile.load import load_profile
p = load_profile(sys.argv[1])
print(json.dumps({"name": p.name, "yaml": "yaml" in sys.modules, "jsonschema": "jsonschema" in sys.modules,
                  "resources": "hardbox.resources" in sys.modules}))
"""


def probe(name: str, root: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, name], env={"HARDBOX_ROOT": str(root), "PATH": "/usr/bin:/bin"},
        check=True, capture_output=True, text=True,
    ).stdout
    result: dict[str, object] = json.loads(out)
    return result


def entries(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("*.json"))


def test_hit_imports_neither_yaml_nor_jsonschema(tmp_path: Path) -> None:
    first = probe("strict", tmp_path)
    assert first == {"name": "strict", "yaml": True, "jsonschema": True, "resources": True}  # a miss validates
    assert len(entries(tmp_path / "cache" / "profiles")) == 1
    second = probe("strict", tmp_path)
    # A shipped name is looked up without even locating the policies folder.
    assert second == {"name": "strict", "yaml": False, "jsonschema": False, "resources": False}


def test_every_profile_comes_back_from_the_cache_unchanged(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    custom = tmp_path / "custom.yaml"  # the shapes the shipped ones lack: no seccomp, cpus, rlimits
    custom.write_text("extends: default\nseccomp: unconfined\nselinux: {level: 's0:c1,c2'}\n"
                      "limits: {cpus: 2, memory: 64m}\nrlimits: {RLIMIT_NPROC: {soft: 5, hard: 6}}\n")
    for name in [*list_profiles(), str(custom)]:
        fresh = load_profile(name, cache_dir=cache)  # a miss: validated, then written
        (entry,) = [e for e in entries(cache) if json.loads(e.read_bytes())["profile"]["name"] == fresh.name]
        written = entry.stat().st_mtime_ns, entry.stat().st_ino
        assert json.loads(entry.read_bytes())["profile"] == fresh.to_json()
        assert load_profile(name, cache_dir=cache) == fresh  # a hit: the same profile
        assert (entry.stat().st_mtime_ns, entry.stat().st_ino) == written  # and not rewritten
    assert len(entries(cache)) == len(list_profiles()) + 1


def test_changed_parent_is_validated_again(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    parent = tmp_path / "parent.yaml"
    child = tmp_path / "child.yaml"
    parent.write_text("extends: strict\nlimits:\n  pids: 100\n")
    child.write_text("extends: parent.yaml\ndescription: child\n")
    assert load_profile(str(child), cache_dir=cache).limits.pids == 100
    # Same size and the file's mtime may not move: only the content hash can tell.
    parent.write_text("extends: strict\nlimits:\n  pids: 200\n")
    assert load_profile(str(child), cache_dir=cache).limits.pids == 200
    parent.write_text("extends: strict\nlimits:\n  pids: lots\n")
    with pytest.raises(InputError, match=r"parent\.yaml:3: limits\.pids"):
        load_profile(str(child), cache_dir=cache)


def test_changed_seccomp_file_is_a_miss(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    seccomp = tmp_path / "filter.json"
    seccomp.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []}))
    prof = tmp_path / "p.yaml"
    prof.write_text("extends: strict\nseccomp: filter.json\n")
    assert load_profile(str(prof), cache_dir=cache).seccomp.syscalls == ()  # type: ignore[union-attr]
    seccomp.write_text(json.dumps(
        {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
    ))
    policy = load_profile(str(prof), cache_dir=cache).seccomp
    assert policy is not None and policy.syscalls[0].names == ("read",)


@pytest.mark.parametrize("damage", [b"", b"{not json", b'{"format": 1}', b"[1, 2]"])
def test_damaged_entry_is_ignored_and_rewritten(tmp_path: Path, damage: bytes) -> None:
    want = load_profile("strict", cache_dir=tmp_path)
    (entry,) = entries(tmp_path)
    entry.write_bytes(damage)
    assert load_profile("strict", cache_dir=tmp_path) == want
    assert json.loads(entry.read_bytes())["profile"]["name"] == "strict"


@pytest.mark.parametrize(
    ("field", "value"),
    [("network", "sideways"),  # well-typed, but the model refuses it
     ("strict", "yes"),  # mistyped: the decoder refuses it
     ("limits", [None, 512, 1.0, "if-available"])],  # the entry shape of format 1
)
def test_entry_with_wrong_profile_body_is_a_miss(tmp_path: Path, field: str, value: object) -> None:
    want = load_profile("strict", cache_dir=tmp_path)
    (entry,) = entries(tmp_path)
    raw = json.loads(entry.read_bytes())
    raw["profile"][field] = value  # a miss, not a crash, and rewritten
    entry.write_text(json.dumps(raw))
    assert load_profile("strict", cache_dir=tmp_path) == want
    assert json.loads(entry.read_bytes())["profile"] == want.to_json()


def test_unwritable_cache_still_loads(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the cache directory should be
    assert load_profile("strict", cache_dir=blocker / "profiles").name == "strict"
