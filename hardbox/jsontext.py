"""JSON text for the run and exec paths, without importing the ``json`` package.

``import json`` loads ``json.decoder``, which imports ``re`` and compiles its regexes: ~16 ms
of a command that starts a container in ~50 (bench/RESULTS.md, issue 14's start-up budget).
``hardbox run`` and ``hardbox exec`` read and write a few small JSON files (the container's
state, the run plan cache), so they use this module instead: ``loads`` and ``dumps`` over
CPython's own C codec, ``_json`` — the scanner and encoder ``json`` itself runs — so the
values parsed and the text written are the same, byte for byte, as ``json.loads(text)`` and
``json.dumps(value, indent=..., sort_keys=..., default=...)`` give (tests/unit/test_jsontext.py
checks that against ``json`` on generated and hostile input).

Errors are ``json``'s own: any text the fast path does not accept whole is handed to
``json.loads``, which raises the ``JSONDecodeError`` naming the position (the C scanner needs
``json.decoder`` loaded to build that error; a damaged file is the rare case that may pay
for it). Where ``_json`` is missing (another interpreter), this is ``json``. Commands other
than run and exec use ``json`` directly.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy reads it as True)

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

try:
    import _json
except ImportError:  # pragma: no cover - CPython always has it
    _json = None  # type: ignore[assignment]

_WHITESPACE = " \t\n\r"  # json.decoder.WHITESPACE's characters
_INF = float("inf")
# What json.decoder maps the non-standard constants to (parse_constant's default).
_CONSTANTS = {"-Infinity": -_INF, "Infinity": _INF, "NaN": float("nan")}


class _Context:
    """The attributes ``_json.make_scanner`` reads: json.JSONDecoder()'s defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float  # the exact types select the scanner's C fast paths
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


_scan = _json.make_scanner(_Context()) if _json is not None else None  # type: ignore[arg-type]


def loads(text: str | bytes | bytearray) -> object:
    """``json.loads(text)``: the same value, or the same error."""
    if _scan is not None:
        # json.detect_encoding: UTF-8 unless a BOM or a NUL among the first bytes says
        # UTF-16/32; those (never written by hardbox) go the slow way.
        if isinstance(text, (bytes, bytearray)) and b"\x00" not in text[:4] and not text.startswith(
                (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
            text = text.decode("utf-8", "surrogatepass")
        if type(text) is str:
            start = len(text) - len(text.lstrip(_WHITESPACE))
            try:
                value, end = _scan(text, start)
            except Exception:  # json.loads below raises json's own error
                pass
            else:
                if not text[end:].strip(_WHITESPACE):
                    return value
    import json  # the slow way: json's error with its position (or a text not UTF-8)

    return json.loads(text)


def _unserializable(value: object) -> object:
    """json.JSONEncoder.default: what ``dumps`` without ``default`` raises."""
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def dumps(value: object, *, indent: int | None = None, sort_keys: bool = False,
          default: Callable[[Any], object] | None = None) -> str:
    """``json.dumps(value, indent=indent, sort_keys=sort_keys, default=default)``, the other
    options at json's defaults (ASCII output, NaN allowed, circular references refused)."""
    if _json is None:  # pragma: no cover
        import json

        return json.dumps(value, indent=indent, sort_keys=sort_keys, default=default)
    fallback = default if default is not None else _unserializable
    if indent is None:
        # What json.dumps itself runs when indent is None: the C encoder, one shot.
        encode = _json.make_encoder({}, fallback, _json.encode_basestring_ascii, None, ": ", ", ",
                                    sort_keys, False, True)
        if isinstance(value, str):
            return _json.encode_basestring_ascii(value)
        return "".join(encode(value, 0))
    # With an indent json runs its pure-Python encoder (the C one has no indent in 3.11):
    # the same walk, written once here.
    chunks: list[str] = []
    _encode(value, chunks, "\n", " " * indent, sort_keys, fallback, {})
    return "".join(chunks)


def _float(value: float) -> str:
    """json's floatstr with allow_nan: JavaScript's names for the special values."""
    if value != value:
        return "NaN"
    if value == _INF:
        return "Infinity"
    if value == -_INF:
        return "-Infinity"
    return float.__repr__(value)


def _scalar(value: object) -> str | None:
    """The text of a JSON scalar (str, None, bool, int, float and their subclasses), else None."""
    if isinstance(value, str):
        return _json.encode_basestring_ascii(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)  # an int subclass (IntEnum) still writes as a number
    if isinstance(value, float):
        return _float(value)
    return None


def _key(key: object) -> str:
    if isinstance(key, str):
        return key  # escaped with the rest of the text
    # None, bools, ints and floats are written as their values are (json's own rule).
    text = _scalar(key) if key is None or isinstance(key, (int, float)) else None
    if text is None:
        raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")
    return text


def _encode(value: object, out: list[str], newline: str, step: str, sort_keys: bool,
            default: Callable[[object], object], markers: dict[int, object]) -> None:
    """json.encoder._make_iterencode with an indent: ``newline`` is the current line break
    and indentation, ``step`` one more level."""
    text = _scalar(value)
    if text is not None:
        out.append(text)
        return
    if isinstance(value, (list, tuple, dict)):
        if not value:
            out.append("{}" if isinstance(value, dict) else "[]")
            return
        if id(value) in markers:
            raise ValueError("Circular reference detected")
        markers[id(value)] = value
        inner = newline + step
        if isinstance(value, dict):
            out.append("{")
            items = sorted(value.items()) if sort_keys else value.items()
            for i, (key, item) in enumerate(items):
                out.append(("," if i else "") + inner)
                out.append(_json.encode_basestring_ascii(_key(key)) + ": ")
                _encode(item, out, inner, step, sort_keys, default, markers)
            out.append(newline + "}")
        else:
            out.append("[")
            for i, item in enumerate(value):
                out.append(("," if i else "") + inner)
                _encode(item, out, inner, step, sort_keys, default, markers)
            out.append(newline + "]")
        del markers[id(value)]
        return
    if id(value) in markers:
        raise ValueError("Circular reference detected")
    markers[id(value)] = value
    _encode(default(value), out, newline, step, sort_keys, default, markers)
    del markers[id(value)]
