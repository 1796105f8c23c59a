"""Kubernetes manifests as ``hardbox gate --k8s`` reads them: the workloads of a YAML stream,
each with its pod spec and the line of every field in it.

A manifest is hostile input like any other: ``yamldoc.read_all`` bounds its size, its
document count and its nesting, refuses aliases to collections (the "billion laughs" shape)
and duplicate keys, and names file and line. The objects that carry a pod template are the
workload kinds below, on their own or as items of a ``kind: List`` (``kubectl get -o
yaml``); any other kind (a Service, a ConfigMap) is listed as not checked. A field the
checks read that has the wrong type (``containers: 5``) is an error naming its line, not a
silent pass.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardbox.errors import InputError
from hardbox.yamldoc import Document, read_all

MAX_BYTES = 16 << 20  # a rendered Helm chart of a large application is a few MiB
MAX_DOCUMENTS = 5000
HINT = "see docs/kubernetes.md"
Keys = tuple[str | int, ...]

# Where each workload kind keeps its pod spec (the Kubernetes API types).
POD_SPEC: dict[str, Keys] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


@dataclass(frozen=True)
class Workload:
    """One object with a pod template: its document, kind, name and where its pod spec is."""

    doc: Document
    number: int  # 1-based document number in the stream
    kind: str
    name: str
    spec_keys: Keys
    root: Keys = ()  # where the object is in its document: ("items", 3) in a List

    @property
    def path(self) -> Path:
        return self.doc.path

    def describe(self) -> str:
        return f"{self.kind} {self.name}"

    def line(self, keys: Keys) -> int:
        """The line of ``keys`` below the pod spec (the deepest that exists)."""
        return self.doc.line_of([*self.spec_keys, *keys])

    def field(self, keys: Keys) -> str:
        """``spec.template.spec.containers[0].securityContext``: the field as kubectl names it."""
        out = ""
        for key in (*self.spec_keys, *keys):
            out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else key)
        return out

    @property
    def spec(self) -> dict[str, Any]:
        return self._mapping(self.spec_keys)

    @property
    def pod_metadata_keys(self) -> Keys:
        return (*self.root, "metadata") if self.kind == "Pod" else (*self.spec_keys[:-1], "metadata")

    def annotations(self) -> dict[str, Any]:
        keys = (*self.pod_metadata_keys, "annotations")
        value = _get(self.doc.data, keys)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.doc.error(list(keys), "expected a mapping")
        return value

    def pod_security_context(self) -> dict[str, Any]:
        return self.get(("securityContext",), dict) or {}

    def containers(self) -> Iterator[tuple[Keys, dict[str, Any]]]:
        """(keys below the pod spec, container) for containers, initContainers and
        ephemeralContainers: the Pod Security Standards check all three."""
        for list_name in CONTAINER_LISTS:
            items = self.get((list_name,), list) or []
            for index, item in enumerate(items):
                if not isinstance(item, dict):
                    raise self.doc.error([*self.spec_keys, list_name, index], "expected a container (a mapping)")
                yield (list_name, index), item

    def get(self, keys: Keys, kind: type) -> Any:
        """The value at ``keys`` below the pod spec, None when absent, an error naming the
        line when it is there with another type."""
        return _typed(self.doc, (*self.spec_keys, *keys), kind)

    def _mapping(self, keys: Keys) -> dict[str, Any]:
        value = _typed(self.doc, keys, dict)
        if value is None:
            raise self.doc.error(list(keys), f"a {self.kind} needs a pod spec here")
        return value


@dataclass(frozen=True)
class Manifests:
    path: Path
    workloads: tuple[Workload, ...]
    not_checked: tuple[str, ...]  # "document 3: Service web (no pod template)"


def load_manifests(path: str | Path) -> Manifests:
    """The workloads in ``path`` (``-``: stdin); exit 2 (``InputError``) for an unusable file or one that
    holds no workload at all (a gate that checked nothing must not pass)."""
    p = Path(path)
    # `-` is stdin (`helm template . | hardbox gate --k8s -`), read one byte past the limit
    # so that an endless stream is refused rather than read whole.
    raw = sys.stdin.buffer.read(MAX_BYTES + 1) if str(path) == "-" else None
    docs = read_all(p, "manifest", max_bytes=MAX_BYTES, max_documents=MAX_DOCUMENTS, hint=HINT, raw=raw)
    workloads, skipped = [], []
    for doc in docs:
        number = doc.number
        for root, obj in _objects(doc):
            kind, name = obj.get("kind"), _get(obj, ("metadata", "name"))
            if not isinstance(kind, str):
                raise doc.error([*root, "kind"], "every object needs a kind (a string)")
            name = name if isinstance(name, str) else "(unnamed)"
            if kind not in POD_SPEC:
                skipped.append(f"document {number}: {kind} {name} (no pod template)")
                continue
            workload = Workload(doc, number, kind, name, (*root, *POD_SPEC[kind]), root)
            _check_shape(workload)
            workloads.append(workload)
    if not workloads:
        seen = ", ".join(sorted({s.split(": ", 1)[1].split(" ")[0] for s in skipped})) or "nothing"
        raise InputError(f"manifest {p}: no Pod, Deployment, StatefulSet, DaemonSet, Job or CronJob (found {seen})",
                         hint=HINT)
    return Manifests(p, tuple(workloads), tuple(skipped))


def _objects(doc: Document) -> Iterator[tuple[Keys, dict[str, Any]]]:
    """The document's object, or each item of a ``kind: List`` (what ``kubectl get -o yaml``
    prints), with its keys in the document."""
    if doc.data.get("kind") != "List":
        yield (), doc.data
        return
    items = _typed(doc, ("items",), list) or []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise doc.error(["items", index], "expected an object (a mapping)")
        yield ("items", index), item


def _check_shape(workload: Workload) -> None:
    """The pod spec and the parts every check reads have the API's types, so a malformed
    manifest is refused before any rule runs; a wrong type deeper down is refused when a
    check reaches it, the same way."""
    workload.spec  # noqa: B018 (there, and a mapping)
    workload.pod_security_context()
    workload.get(("volumes",), list)
    for at, _ in workload.containers():
        workload.get((*at, "securityContext"), dict)


def _get(data: Any, keys: Sequence[str | int]) -> Any:
    for key in keys:
        if isinstance(key, int):
            if not isinstance(data, list) or key >= len(data):
                return None
            data = data[key]
        else:
            if not isinstance(data, dict):
                return None
            data = data.get(key)
    return data


_NAMES = {dict: "a mapping", list: "a list", bool: "true or false", str: "a string", int: "an integer"}


def _typed(doc: Document, keys: Keys, kind: type) -> Any:
    """The value at ``keys``: None when it or a parent is absent; an error naming the line
    when it or a parent has another type than the API gives it."""
    data: Any = doc.data
    for depth, key in enumerate(keys):
        if data is None:
            return None
        if isinstance(key, int):
            if not isinstance(data, list):
                raise doc.error(list(keys[:depth]), f"expected {_NAMES[list]}")
            data = data[key] if key < len(data) else None
        elif isinstance(data, dict):
            data = data.get(key)
        else:
            raise doc.error(list(keys[:depth]), f"expected {_NAMES[dict]}")
    if data is not None and (not isinstance(data, kind) or (isinstance(data, bool) and kind is not bool)):
        raise doc.error(list(keys), f"expected {_NAMES.get(kind, kind.__name__)}")
    return data
