"""Hypothesis strategies that damage real documents the way a hostile or broken producer would.

A fuzzer here starts from a document a real tool wrote (umoci's manifest, skopeo's
manifest.json, a shipped profile or policy) and changes it: one value replaced by another of
any JSON type, a key dropped or added, the nesting made deep, the text cut short or sprinkled
with NUL bytes and control characters. Starting from valid documents keeps most examples
past the first parse, where the interesting failures are; the pure-noise strategies keep
the first parse honest too.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

# Values chosen to break type assumptions: wrong types, huge numbers, odd strings.
NASTY_STRINGS = st.sampled_from([
    "", " ", "\x00", "../../etc/passwd", "/", "a" * 300, "sha256:", "sha256:" + "0" * 64,
    "sha256:" + "g" * 64, "md5:abc", "null", "-1", "1e999", "\u202e", "\udcff".encode(
        "utf-8", "surrogatepass").decode("utf-8", "replace"), "${HOME}", "%s%n", "\n", "\\",
    "linux", "amd64", "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.manifest.v1+json", "BSD-3-clause and/or GPL-3+",
])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    NASTY_STRINGS,
    st.text(max_size=20),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(NASTY_STRINGS, st.text(max_size=8)), inner, max_size=4),
    ),
    max_leaves=12,
)


def deep(depth: int, leaf: Any = 1) -> Any:
    """A value nested ``depth`` levels (lists and maps alternating)."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in ``doc`` a value sits (the root included)."""
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            out.extend(_paths(value, (*prefix, index)))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return doc


def _delete(doc: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return doc
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return doc


@st.composite
def mutated_doc(draw: st.DrawFn, doc: Any) -> Any:
    """``doc`` with one to three structural changes."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add", "deepen"]))
        if action == "replace":
            doc = _set(doc, path, draw(JSON_VALUES))
        elif action == "delete":
            doc = _delete(doc, path)
        elif action == "deepen":
            doc = _set(doc, path, deep(draw(st.integers(20, 200))))
        else:
            target = doc
            for key in path:
                target = target[key]
            if isinstance(target, dict):
                target[draw(st.text(max_size=10))] = draw(JSON_VALUES)
            elif isinstance(target, list):
                target.append(draw(JSON_VALUES))
    return doc


@st.composite
def damaged_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` cut short, with bytes flipped, inserted or NULs sprinkled in."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["truncate", "flip", "insert", "nul"]))
        if not out:
            break
        at = draw(st.integers(0, len(out) - 1))
        if action == "truncate":
            del out[at:]
        elif action == "flip":
            out[at] ^= draw(st.integers(1, 255))
        elif action == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            out[at:at] = b"\x00"
    return bytes(out)


def json_bytes(doc: Any) -> bytes:
    """JSON as a producer would write it; NaN and infinities as Python writes them (invalid
    JSON a lenient producer emits), non-string keys coerced."""
    return json.dumps(doc, allow_nan=True, default=str).encode()


def json_document(doc: Any) -> st.SearchStrategy[bytes]:
    """Bytes of a damaged ``doc``: mostly structural changes, some byte damage, some noise."""
    return st.one_of(
        mutated_doc(doc).map(json_bytes),
        mutated_doc(doc).map(json_bytes).flatmap(damaged_bytes),
        JSON_VALUES.map(json_bytes),
        st.binary(max_size=64),
    )
