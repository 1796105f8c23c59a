"""YAML input files of the gate (policies, exceptions) read with their line numbers and
validated against a JSON schema, so an error names the file, the line and the field:
``policy.yaml:7: vulnerabilities.severities.0: 'severe' is not one of [...]``.

PyYAML's composed node tree keeps a ``start_mark`` on every node; a schema error's path is
walked down that tree to find the line. Duplicate keys, which PyYAML lets the last one win,
are refused: a policy that says two things about one rule is a mistake.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hardbox.errors import InputError

_MAX_BYTES = 1 << 20  # a policy is a page or two of YAML


class _Loader(yaml.SafeLoader):
    """SafeLoader without the implicit timestamp type: ``expires: 2030-02-30`` stays a string
    the schema and the exceptions model reject with a line number, instead of a bare
    ValueError from inside PyYAML."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Document:
    kind: str  # "policy", "exceptions": the word error messages use
    path: Path
    data: dict[str, Any]
    node: yaml.Node

    def line_of(self, keys: Sequence[str | int]) -> int:
        """1-based line of the deepest node along ``keys`` that exists; for a mapping entry
        whose value spans lines, the line of its key (that is the field a person looks for)."""
        node, mark = self.node, self.node.start_mark
        for key in keys:
            found = _child(node, key)
            if found is None:
                break
            key_node, node = found
            mark = (key_node or node).start_mark if isinstance(node, yaml.CollectionNode) else node.start_mark
        return mark.line + 1

    def error(self, keys: Sequence[str | int], why: str) -> InputError:
        where = ".".join(str(k) for k in keys) or "(document)"
        return InputError(f"{self.kind} {self.path}:{self.line_of(keys)}: {where}: {why}", hint="see docs/gate.md")


def _child(node: yaml.Node, key: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
    """(key node, value node) of ``key`` in a mapping, (None, item) of index ``key`` in a list."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == str(key):
                return k, v
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        return None, node.value[key]
    return None


def read(path: Path, kind: str, schema: dict[str, Any]) -> Document:
    """Parse ``path`` and validate it; any problem is one ``InputError``."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(f"{kind} {path}: cannot read: {err.strerror or err}") from None
    if len(raw) > _MAX_BYTES:
        raise InputError(f"{kind} {path}: larger than {_MAX_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects
    except UnicodeDecodeError as err:
        raise InputError(f"{kind} {path}: not UTF-8 text ({err.reason})") from None
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else 0
        raise InputError(f"{kind} {path}:{line}: not valid YAML: {err.problem}") from None
    except yaml.YAMLError as err:
        raise InputError(f"{kind} {path}: not valid YAML: {err}") from None
    if node is None or not isinstance(data, dict):
        raise InputError(f"{kind} {path}: must be a YAML mapping")
    doc = Document(kind, path, data, node)
    _refuse_duplicates(doc, node, [])
    _validate(doc, schema)
    return doc


def _refuse_duplicates(doc: Document, node: yaml.Node, keys: list[str | int], seen_nodes: set[int] | None = None) -> None:
    """Refuse duplicate keys, and aliases to collections: a policy never needs them, and
    nested aliases (the "billion laughs" shape) would make validation walk an exponential tree."""
    seen_nodes = set() if seen_nodes is None else seen_nodes
    if isinstance(node, yaml.CollectionNode):
        if id(node) in seen_nodes:
            where = ".".join(map(str, keys)) or "(document)"
            raise InputError(f"{doc.kind} {doc.path}:{node.start_mark.line + 1}: {where}: YAML aliases are not allowed here")
        seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            name = str(k.value)
            if name in seen:
                where = ".".join(map(str, [*keys, name]))
                raise InputError(f"{doc.kind} {doc.path}:{k.start_mark.line + 1}: {where}: key given twice")
            seen.add(name)
            _refuse_duplicates(doc, v, [*keys, name], seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _refuse_duplicates(doc, item, [*keys, i], seen_nodes)


def _validate(doc: Document, schema: dict[str, Any]) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = list(validator.iter_errors(doc.data))
    if not errors:
        return
    best = jsonschema.exceptions.best_match(errors) or errors[0]
    path = list(best.absolute_path)
    if best.validator == "additionalProperties" and isinstance(best.instance, dict):
        extra = [k for k in best.instance if k not in best.schema.get("properties", {})]
        if extra:
            raise doc.error([*path, extra[0]], "unknown field")
    raise doc.error(path, best.message)


def load_schema(name: str) -> dict[str, Any]:
    from hardbox.resources import policies

    loaded: dict[str, Any] = json.loads((policies() / "gate" / name).read_text(encoding="utf-8"))
    return loaded
