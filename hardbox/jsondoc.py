"""JSON parsing with a nesting bound, the one ``json.loads`` for documents a user or an image
hands us (image index, manifests, configs, ``manifest.json``, VEX).

CPython's decoder recurses once per level, so ``[[[[…]]]]`` a thousand levels deep raises
``RecursionError`` from inside it, and a document just under that limit would make every
recursive reader after it (schema validation, the models) hit it instead. No real document
nests more than a dozen levels, so anything past ``MAX_DEPTH`` is refused with one line.
YAML documents (``hardbox.yamldoc``) use the same bound.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 100


class TooDeep(ValueError):
    """The document nests arrays/objects deeper than ``MAX_DEPTH``."""

    def __init__(self) -> None:
        super().__init__(f"nested deeper than {MAX_DEPTH} levels")


def loads(data: bytes | str) -> Any:
    """``json.loads`` that raises ``TooDeep`` past ``MAX_DEPTH`` levels (and the decoder's
    own ``JSONDecodeError``/``UnicodeDecodeError`` for text that is not JSON)."""
    try:
        obj = json.loads(data)
    except RecursionError:
        raise TooDeep() from None
    check_depth(obj)
    return obj


def check_depth(obj: Any) -> None:
    """Walk the parsed tree without recursing; raise ``TooDeep`` past ``MAX_DEPTH``."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > MAX_DEPTH:
            raise TooDeep()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
