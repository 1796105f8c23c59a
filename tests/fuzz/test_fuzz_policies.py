"""Fuzz the YAML and JSON documents a user hands hardbox about policy: profiles (`profile
validate`, `run --profile … --explain`), gate policies, gate exceptions and VEX documents
(`gate dir:…`). Each starts from a shipped or documented document and damages it
(mutate.py): wrong types, dropped keys, deep nesting, cut text, NUL bytes."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import fuzzkit
import mutate
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from storecheck import assert_consistent

from hardbox.resources import policies

pytestmark = [pytest.mark.fuzz]

_counter = itertools.count()

EXCEPTIONS = {
    "exceptions": [
        {"advisory": "CVE-2023-0286", "package": "openssl", "reason": "unreachable",
         "approved_by": "alice@example.com", "expires": "2099-03-31"},
        {"check": "HB-FILE-006", "path": "/opt/app/testdata/*.pem", "reason": "test keys",
         "approved_by": "security-team", "expires": "2099-01-15"},
    ]
}
_VEX = Path(__file__).parents[1] / "fixtures" / "vex"
OPENVEX = json.loads((_VEX / "openvex.json").read_text())
CYCLONEDX_VEX = json.loads((_VEX / "cyclonedx-vex.json").read_text())


def _yaml_text(doc: Any) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def yaml_document(doc: Any) -> st.SearchStrategy[bytes]:
    """A damaged YAML document: structural changes, or text damage of the real file."""
    text = _yaml_text(doc).encode()
    return st.one_of(
        mutate.mutated_doc(doc).map(lambda d: _yaml_text(d).encode()),
        mutate.damaged_bytes(text),
        mutate.JSON_VALUES.map(lambda d: _yaml_text(d).encode()),
    )


def _shipped(rel: str) -> Any:
    return yaml.safe_load((policies() / rel).read_text())


@pytest.mark.parametrize("shipped", ["profiles/default.yaml", "profiles/strict.yaml"])
def test_profiles(shipped: str, tmp_path: Path, store_root: Path, stored_tiny: str) -> None:
    @fuzzkit.fuzz_settings()
    @given(data=yaml_document(_shipped(shipped)))
    def one(data: bytes) -> None:
        path = tmp_path / f"profile-{next(_counter)}.yaml"
        path.write_bytes(data)
        fuzzkit.check("profile", fuzzkit.run_cli(["profile", "validate", str(path)], root=store_root))
        out = fuzzkit.run_cli(["run", "--profile", str(path), "--explain", stored_tiny, "/bin/true"], root=store_root)
        fuzzkit.check("profile (run --profile)", out, allowed=(0, 125))
        assert_consistent(store_root)

    one()


def _gate_inputs() -> list[Any]:
    """(what the damaged document is, the gate option that reads it, its suffix, the
    strategy): every document `hardbox gate` takes beside the image."""
    return [
        pytest.param("gate policy", "--policy", "yaml", yaml_document(_shipped(rel)), id=rel)
        for rel in ("gate/default.yaml", "gate/example-strict.yaml")
    ] + [
        pytest.param("gate exceptions", "--exceptions", "yaml", yaml_document(EXCEPTIONS),
                     id="exceptions"),
        pytest.param("VEX", "--vex", "json", mutate.json_document(OPENVEX), id="openvex"),
        pytest.param("VEX", "--vex", "json", mutate.json_document(CYCLONEDX_VEX), id="cyclonedx"),
    ]


@pytest.mark.parametrize(("what", "option", "suffix", "documents"), _gate_inputs())
def test_gate_inputs(
    what: str,
    option: str,
    suffix: str,
    documents: st.SearchStrategy[bytes],
    tmp_path: Path,
    store_root: Path,
    tiny_dir: Path,
) -> None:
    @fuzzkit.fuzz_settings(0.5)
    @given(data=documents)
    def one(data: bytes) -> None:
        path = tmp_path / f"input-{next(_counter)}.{suffix}"
        path.write_bytes(data)
        out = fuzzkit.run_cli(["gate", f"dir:{tiny_dir}", option, str(path)], root=store_root)
        fuzzkit.check(what, out)

    one()


def test_vex_seeds_are_valid(tmp_path: Path, store_root: Path, tiny_dir: Path) -> None:
    """The fuzzers' starting points are accepted as they stand (else they test nothing)."""
    for doc in (OPENVEX, CYCLONEDX_VEX):
        path = tmp_path / "vex.json"
        path.write_text(json.dumps(doc))
        out = fuzzkit.run_cli(["gate", f"dir:{tiny_dir}", "--vex", str(path)], root=store_root)
        assert out.code == 1 and "hardbox:" not in out.stderr, out.stderr  # judged, not refused
