"""Reading one profile file: YAML with line numbers, validated against the profile schema.

PyYAML's composed node tree keeps a ``start_mark`` (line, column) on every node; a schema
error's path (``limits`` → ``memory``) is walked down that tree so the message can say
``default.yaml:12: limits.memory: ...``. Duplicate keys — which PyYAML silently lets the last
one win — are refused, because a profile that says two things about one field is a mistake.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from hardbox.errors import InputError

_MAX_PROFILE_BYTES = 1 << 20  # a profile is a page of YAML; refuse anything absurd


@dataclass(frozen=True)
class ProfileDocument:
    """One profile file: its path, the parsed mapping, and the node tree for line lookups."""

    path: Path
    data: dict[str, Any]
    node: yaml.Node

    def line_of(self, keys: Sequence[str | int]) -> int:
        """1-based line of the deepest node along ``keys`` that exists. A field whose value
        spans lines (a list, a mapping) is reported at its key: that is where the field is."""
        node, mark = self.node, self.node.start_mark
        for key in keys:
            found = _child(node, key)
            if found is None:
                break
            key_node, node = found
            is_collection = isinstance(node, yaml.MappingNode | yaml.SequenceNode)
            mark = (key_node or node).start_mark if is_collection else node.start_mark
        return mark.line + 1

    def error(self, keys: Sequence[str | int], why: str) -> InputError:
        field = ".".join(str(k) for k in keys) or "(document)"
        return InputError(
            f"profile {self.path}:{self.line_of(keys)}: {field}: {why}",
            hint="see docs/writing-a-profile.md; check a file with `hardbox profile validate FILE`",
        )


def _child(node: yaml.Node, key: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
    """(key node, value node) of ``key`` in a mapping, or (None, item) in a sequence."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return k, v
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        return None, node.value[key]
    return None


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    from hardbox.resources import policies

    text = (policies() / "profiles" / "schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def read_document(path: Path) -> ProfileDocument:
    """Parse and schema-validate one profile file (``extends`` is not followed here)."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(f"read profile {path}: {err.strerror}") from err
    if len(raw) > _MAX_PROFILE_BYTES:
        raise InputError(f"profile {path}: larger than {_MAX_PROFILE_BYTES} bytes, not a profile")
    try:
        text = raw.decode("utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except UnicodeDecodeError as err:
        raise InputError(f"profile {path}: not UTF-8 text ({err.reason})") from err
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else 0
        raise InputError(f"profile {path}:{line}: not valid YAML: {err.problem}") from err
    except yaml.YAMLError as err:
        raise InputError(f"profile {path}: not valid YAML: {err}") from err
    if node is None or not isinstance(data, dict):
        raise InputError(f"profile {path}: must be a YAML mapping of profile fields")
    doc = ProfileDocument(path=path, data=data, node=node)
    _refuse_duplicates(doc, node, [])
    _validate(doc)
    return doc


def _refuse_duplicates(doc: ProfileDocument, node: yaml.Node, keys: list[str | int]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            name = str(k.value)
            if name in seen:
                raise InputError(
                    f"profile {doc.path}:{k.start_mark.line + 1}: "
                    f"{'.'.join(map(str, [*keys, name]))}: key given twice"
                )
            seen.add(name)
            _refuse_duplicates(doc, v, [*keys, name])
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _refuse_duplicates(doc, item, [*keys, i])


def _validate(doc: ProfileDocument) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(doc.data), key=lambda e: (len(e.absolute_path), e.message))
    if not errors:
        return
    # The shallowest error is usually the one a person can act on; report exactly one.
    best = jsonschema.exceptions.best_match(errors) or errors[0]
    path = list(best.absolute_path)
    if best.validator == "additionalProperties" and isinstance(best.instance, dict):
        allowed = best.schema.get("properties", {})
        extra = [k for k in best.instance if k not in allowed]
        if extra:
            raise doc.error([*path, extra[0]], "unknown field")
    raise doc.error(path, best.message)
