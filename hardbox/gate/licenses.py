"""License decisions over SPDX expressions, with ``license-expression`` (aboutcode-org), the
maintained SPDX expression parser: it knows every SPDX id and their aliases (``GPL-2.0+`` is
``GPL-2.0-or-later``) and gives the expression as a boolean tree.

A package's license expression is acceptable when some way of choosing among its ``OR``
alternatives uses only acceptable licenses (``MIT OR GPL-3.0-only`` is fine where GPL-3.0 is
denied: the user takes it under MIT). ``AND`` needs every part. A license string that does not
parse, or names no SPDX id (Debian's free-text copyright names), is *unknown*; the policy says
whether unknown fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from boolean import ParseError
from license_expression import ExpressionError, Licensing, get_spdx_licensing


@lru_cache(maxsize=1)
def _licensing() -> Licensing:
    return get_spdx_licensing()


def _spdx_tree(text: str) -> Any | None:
    """The expression tree when ``text`` parses and names only SPDX ids, else ``None``.

    ``parse(validate=True)`` rather than ``Licensing.validate()``: validate() (30.4) reads
    ``token_string`` off an ``ExpressionError`` that lacks it, so Debian's free text
    (``BSD-3-clause and/or GPL-3+``) raised AttributeError out of it. The text comes from an
    image, so it is hostile: boolean.py's parser under it also raises IndexError on some
    unbalanced parentheses (``((``), and its own ParseError where license-expression does not
    wrap it. Any of those means the same thing: not an SPDX expression."""
    try:
        return _licensing().parse(text, validate=True)
    except (ExpressionError, ParseError, IndexError, AttributeError):
        return None


def is_known_spdx_id(text: str) -> bool:
    return _spdx_tree(text) is not None


def canonical(key: str) -> str:
    """The SPDX spelling of a license id or alias (``gpl-2.0+`` → ``GPL-2.0-or-later``)."""
    return str(_licensing().parse(key).render())


@dataclass(frozen=True)
class Verdict:
    ok: bool
    unknown: bool = False
    why: str = ""


def judge(expression: str, allowed: frozenset[str], denied: frozenset[str]) -> Verdict:
    """Decide one package license expression. ``allowed`` empty means any non-denied license."""
    tree = _spdx_tree(expression)
    if tree is None:
        return Verdict(ok=True, unknown=True, why=f"{expression!r} is not an SPDX expression")
    if _acceptable(tree, allowed, denied):
        return Verdict(ok=True)
    keys = sorted(set(_licensing().license_keys(tree)))
    bad = [k for k in keys if k in denied] or [k for k in keys if allowed and k not in allowed]
    reason = "denied" if any(k in denied for k in keys) else "not in the allowed list"
    return Verdict(ok=False, why=f"{', '.join(bad)} {reason}")


def _acceptable(node: Any, allowed: frozenset[str], denied: frozenset[str]) -> bool:
    name = type(node).__name__
    if name == "OR":
        return any(_acceptable(a, allowed, denied) for a in node.args)
    if name == "AND":
        return all(_acceptable(a, allowed, denied) for a in node.args)
    # LicenseSymbol, or LicenseWithExceptionSymbol (``Apache-2.0 WITH LLVM-exception``):
    # an exception only adds permissions, so the base license decides.
    key = node.license_symbol.key if hasattr(node, "license_symbol") else node.key
    if key in denied:
        return False
    return not allowed or key in allowed
