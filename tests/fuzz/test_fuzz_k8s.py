"""Fuzz the Kubernetes manifests ``hardbox gate --k8s`` reads: a compliant Deployment and
hardbox's own strict Pod, damaged (mutate.py: wrong types anywhere in the pod spec, dropped
keys, deep nesting, cut text, NUL bytes) and as multi-document streams. The contract: a
decision (0, 1) or one ``hardbox:`` line (2), never a traceback or a hang."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import fuzzkit
import mutate
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from hardbox.runtime.profile.export import export
from hardbox.runtime.profile.load import load_profile

pytestmark = [pytest.mark.fuzz]

_counter = itertools.count()

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
        "metadata": {"labels": {"app": "web"}, "annotations": {"container.apparmor.security.beta.kubernetes.io/app": "runtime/default"}},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"},
                                "sysctls": [{"name": "net.ipv4.tcp_syncookies", "value": "1"}]},
            "containers": [{"name": "app", "image": "web:1", "ports": [{"containerPort": 80, "hostPort": 0}],
                            "readinessProbe": {"httpGet": {"port": 80}},
                            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                                "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        }}},
}  # fmt: skip


def _strict_pod() -> Any:
    return yaml.safe_load(export(load_profile("strict"), "k8s")["strict-pod.yaml"])


def _manifest(docs: list[Any]) -> bytes:
    return "---\n".join(yaml.safe_dump(d, allow_unicode=True, sort_keys=False) for d in docs).encode()


def manifests() -> st.SearchStrategy[bytes]:
    seeds = [DEPLOYMENT, _strict_pod()]
    return st.one_of(
        *(mutate.mutated_doc(seed).map(lambda d: _manifest([d])) for seed in seeds),
        st.tuples(*(mutate.mutated_doc(seed) for seed in seeds)).map(lambda ds: _manifest(list(ds))),
        *(mutate.damaged_bytes(_manifest([seed])) for seed in seeds),
        mutate.JSON_VALUES.map(lambda d: _manifest([d])),
    )


def test_seeds_are_judged(tmp_path: Path, store_root: Path) -> None:
    """The starting points pass as they stand (else the fuzzer tests refusals only)."""
    path = tmp_path / "seed.yaml"
    path.write_bytes(_manifest([DEPLOYMENT, _strict_pod()]))
    out = fuzzkit.run_cli(["gate", "--k8s", str(path)], root=store_root)
    assert out.code == 0, out.stderr


def test_manifests(tmp_path: Path, store_root: Path) -> None:
    @fuzzkit.fuzz_settings()
    @given(data=manifests())
    def one(data: bytes) -> None:
        path = tmp_path / f"manifest-{next(_counter)}.yaml"
        path.write_bytes(data)
        fuzzkit.check("k8s manifest", fuzzkit.run_cli(["gate", "--k8s", str(path)], root=store_root))

    one()
