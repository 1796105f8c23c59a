"""YAML input documents (profiles, gate policies, exceptions) read with their line numbers
and validated against a JSON schema, so an error names the file, the line and the field:
``default.yaml:12: limits.memory: ...``.

PyYAML's composed node tree keeps a ``start_mark`` on every node; a schema error's path is
walked down that tree to find the line. Duplicate keys (PyYAML lets the last one win) are
refused: a document that says two things about one field is a mistake. So are aliases to
collections: these documents never need them, and nested aliases (the "billion laughs"
shape) would make validation walk an exponential tree. Shared by the runtime and the gate,
so it lives below both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hardbox.errors import InputError
from hardbox.jsondoc import MAX_DEPTH
from hardbox.named_input import require_file_or_dir

MAX_BYTES = 1 << 20  # these documents are a page or two of YAML; refuse anything absurd


class _Loader(yaml.SafeLoader):
    """SafeLoader without the implicit timestamp type: ``expires: 2030-02-30`` stays a string
    the schema and the models reject with a line number, instead of a bare ValueError from
    inside PyYAML."""


    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        # PyYAML composes recursively (a few Python frames per level), so `[[[[…` a thousand
        # levels deep is a RecursionError; the documents read here nest a handful of levels.
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _TooDeep(Exception):
    def __init__(self, mark: yaml.Mark) -> None:
        super().__init__()
        self.mark = mark


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Document:
    """One file: the word messages use for it, its path, the parsed mapping, the node tree."""

    kind: str  # "profile", "policy", "exceptions"
    path: Path
    data: dict[str, Any]
    node: yaml.Node
    hint: str = ""
    number: int = 1  # its place in a stream of several (``read_all``), empty documents counted

    def line_of(self, keys: Sequence[str | int]) -> int:
        """1-based line of the deepest node along ``keys`` that exists. A field whose value
        spans lines (a list, a mapping) is reported at its key: that is where the field is."""
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
        return InputError(f"{self.kind} {self.path}:{self.line_of(keys)}: {where}: {why}", hint=self.hint or None)


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


def read(path: Path, kind: str, schema: dict[str, Any], hint: str = "") -> Document:
    """Parse ``path`` and validate it against ``schema``; any problem is one ``InputError``."""
    [(node, data)] = _parse(path, kind, hint, MAX_BYTES, many=False)
    if node is None or not isinstance(data, dict):
        raise InputError(f"{kind} {path}: must be a YAML mapping", hint=hint or None)
    doc = Document(kind, path, data, node, hint)
    _refuse_duplicates(doc, node, [], set())
    _validate(doc, schema)
    return doc


def read_all(path: Path, kind: str, *, max_bytes: int, max_documents: int, hint: str = "",
             raw: bytes | None = None) -> list[Document]:
    """Every document of a YAML stream (``---``-separated, as ``kubectl apply -f`` reads
    it), each a mapping with its node tree; empty documents are skipped. The same refusals
    as ``read`` (duplicate keys, aliases to collections, nesting, size), no schema. ``raw``
    is the stream's bytes when they come from elsewhere (stdin); ``path`` then names it."""
    docs = []
    parsed = _parse(path, kind, hint, max_bytes, many=True, raw=raw)
    if len(parsed) > max_documents:
        raise InputError(f"{kind} {path}: more than {max_documents} YAML documents", hint=hint or None)
    for index, (node, data) in enumerate(parsed):
        if node is None or data is None:
            continue
        where = Path(f"{path} (document {index + 1})") if len(parsed) > 1 else path
        if not isinstance(data, dict):
            line = node.start_mark.line + 1
            raise InputError(f"{kind} {path}:{line}: document {index + 1} is not a YAML mapping", hint=hint or None)
        doc = Document(kind, path, data, node, hint, number=index + 1)
        _refuse_duplicates(Document(kind, where, data, node, hint), node, [], set())
        docs.append(doc)
    return docs


def _parse(path: Path, kind: str, hint: str, max_bytes: int, *, many: bool,
           raw: bytes | None = None) -> list[tuple[yaml.Node | None, Any]]:
    if raw is None:
        require_file_or_dir(path, kind)
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise InputError(f"{kind} {path}: cannot read: {err.strerror or err}", hint=hint or None) from None
    if len(raw) > max_bytes:
        raise InputError(f"{kind} {path}: larger than {max_bytes} bytes, not a {kind}")
    try:
        text = raw.decode("utf-8")
        return _load_all(text) if many else [_load(text)]
    except UnicodeDecodeError as err:
        raise InputError(f"{kind} {path}: not UTF-8 text ({err.reason})") from None
    except _TooDeep as err:
        raise InputError(f"{kind} {path}:{err.mark.line + 1}: nested deeper than {MAX_DEPTH} levels",
                         hint=hint or None) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f":{mark.line + 1}" if mark else ""
        column = f" (column {mark.column + 1})" if mark else ""
        raise InputError(f"{kind} {path}{where}: not valid YAML: {err.problem}{column}", hint=hint or None) from None
    except yaml.reader.ReaderError as err:
        # A character YAML forbids (NUL, other C0 controls): PyYAML gives only an offset in
        # the text, and its str() spans two lines; say line and column like the others.
        line = text.count("\n", 0, err.position) + 1
        column = err.position - (text.rfind("\n", 0, err.position) + 1) + 1
        raise InputError(f"{kind} {path}:{line}: not valid YAML: character {_codepoint(err.character)} "
                         f"is not allowed (column {column})", hint=hint or None) from None
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"{kind} {path}: not valid YAML: {first}", hint=hint or None) from None


def _codepoint(char: object) -> str:
    code = ord(char) if isinstance(char, str) else char
    return f"U+{code:04X}" if isinstance(code, int) else repr(char)


def _load_all(text: str) -> list[tuple[yaml.Node | None, Any]]:
    """Each document composed and constructed in turn (a stream of several)."""
    loader = _Loader(text)
    out: list[tuple[yaml.Node | None, Any]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            out.append((node, loader.construct_document(node) if node is not None else None))
    finally:
        loader.dispose()
    return out


def _load(text: str) -> tuple[yaml.Node | None, Any]:
    """Compose the node tree once and construct the data from it (a SafeLoader subclass: no
    arbitrary objects)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return node, data


def _refuse_duplicates(doc: Document, node: yaml.Node, keys: list[str | int], seen_nodes: set[int]) -> None:
    if isinstance(node, yaml.CollectionNode):
        if id(node) in seen_nodes:
            raise doc.error(keys, "YAML aliases are not allowed here")
        seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            name = str(k.value)
            if name in seen:
                where = ".".join(map(str, [*keys, name]))
                raise InputError(f"{doc.kind} {doc.path}:{k.start_mark.line + 1}: {where}: key given twice",
                                 hint=doc.hint or None)
            seen.add(name)
            _refuse_duplicates(doc, v, [*keys, name], seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _refuse_duplicates(doc, item, [*keys, i], seen_nodes)


def _validate(doc: Document, schema: dict[str, Any]) -> None:
    import jsonschema  # for start-up speed: a cached profile is never validated again

    validator = jsonschema.Draft202012Validator(schema)
    errors = list(validator.iter_errors(doc.data))
    if not errors:
        return
    # Exactly one error: the one jsonschema judges most relevant is the one a person can act on.
    best = jsonschema.exceptions.best_match(errors) or errors[0]
    path = list(best.absolute_path)
    if best.validator == "additionalProperties" and isinstance(best.instance, dict):
        extra = [k for k in best.instance if k not in best.schema.get("properties", {})]
        if extra:
            raise doc.error([*path, extra[0]], "unknown field")
    raise doc.error(path, best.message)
