"""hardbox.jsontext against the json package: the same values, the same text, the same errors.

jsontext is what `hardbox run` and `hardbox exec` read and write their state and plan cache
with (no `json` import on their start-up path); every other command uses `json`, so the two
must agree byte for byte, on hostile text too.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardbox import jsontext

# Every code point, lone surrogates included (json writes and reads them as \udXXX escapes).
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=20)
SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(10**80), max_value=10**80)
           | st.floats() | ANY_TEXT)
KEYS = ANY_TEXT | st.integers() | st.floats() | st.booleans() | st.none()
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=25,
)
# sort_keys needs keys that compare with each other: strings, as hardbox's records have.
SORTABLE = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=25,
)


def outcome(call, *args, **kwargs):
    """A call's value, or its error's type and message: what the caller would see."""
    try:
        return ("ok", call(*args, **kwargs))
    except Exception as err:  # compared, not swallowed
        return ("error", type(err), str(err))


def same_value(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN, and of the same types all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_value(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=300, deadline=None)
@given(VALUES, st.sampled_from([None, 0, 1, 2, 4]))
def test_dumps_writes_what_json_writes(value: object, indent: int | None) -> None:
    assert outcome(jsontext.dumps, value, indent=indent) == outcome(json.dumps, value, indent=indent)


@settings(max_examples=300, deadline=None)
@given(SORTABLE, st.sampled_from([None, 1, 2]))
def test_dumps_sorted_as_json_sorts(value: object, indent: int | None) -> None:
    assert (outcome(jsontext.dumps, value, indent=indent, sort_keys=True)
            == outcome(json.dumps, value, indent=indent, sort_keys=True))


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_loads_reads_back_what_json_wrote(value: object) -> None:
    text = json.dumps(value)
    assert same_value(jsontext.loads(text), json.loads(text))
    assert same_value(jsontext.loads(text.encode()), json.loads(text.encode()))


@settings(max_examples=400, deadline=None)
@given(VALUES, st.data())
def test_loads_of_damaged_text_fails_as_json_fails(value: object, data: st.DataObject) -> None:
    """Truncated, spliced and padded JSON: the same value or the same error (position included)."""
    text = json.dumps(value, indent=data.draw(st.sampled_from([None, 2])))
    cut = data.draw(st.integers(0, len(text)))
    junk = data.draw(st.text(st.sampled_from(' \t\n\r,:[]{}"\\0123456789.eE+-tfnaINul\ufeff\ud800x'), max_size=6))
    for candidate in (text[:cut], text[:cut] + junk + text[cut:], junk + text, text + junk):
        got, want = outcome(jsontext.loads, candidate), outcome(json.loads, candidate)
        if got[0] == "ok" and want[0] == "ok":
            assert same_value(got[1], want[1]), candidate
        else:
            assert got == want, candidate


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_categories=()), max_size=40) | st.binary(max_size=40))
def test_loads_of_any_text_is_json_loads(text: str | bytes) -> None:
    got, want = outcome(jsontext.loads, text), outcome(json.loads, text)
    if got[0] == "ok" and want[0] == "ok":
        assert same_value(got[1], want[1])
    else:
        assert got == want


@pytest.mark.parametrize("text", [
    "", " ", "[", '{"a":', '{"a" 1}', "[1,]", '{"a":1,}', "nul", "NaN", "-Infinity", "[NaN, Infinity]",
    '"\\ud800"', '"\\udc00\\ud800"', '"\\u12"', '"a\x00b"', '"\ud800"', "\ufeff[]", "[] []", " [1] \n\t\r ",
    "1" * 5000, "-" + "9" * 4300, "1e999", "-1e-999", "0" * 3, "01", "[" * 100_000, "[" * 50 + "]" * 50,
    '{"a": 1, "a": 2}', "[1.0, -0.0, 1E400, 1e-400]", "\x0c[]", "[]\x0c",
])
def test_hostile_text(text: str) -> None:
    for given_ in (text, text.encode("utf-8", "surrogatepass")):
        got, want = outcome(jsontext.loads, given_), outcome(json.loads, given_)
        if got[0] == "ok" and want[0] == "ok":
            assert same_value(got[1], want[1])
        else:
            assert got == want


@pytest.mark.parametrize("data", [
    "[1, 2]".encode("utf-16"), "[1, 2]".encode("utf-32"), "[1]".encode("utf-16-le"), b"\xef\xbb\xbf[1]",
    b'["\xff"]', b'["\xed\xa0\x80"]', bytearray(b'{"a": [true]}'),
])
def test_other_encodings_as_json_detects_them(data: bytes) -> None:
    assert outcome(jsontext.loads, data) == outcome(json.loads, data)


def test_dumps_errors_are_jsons() -> None:
    loop: list[object] = []
    loop.append(loop)
    for value in (loop, {"a": loop}, {1j: 1}, {"a": {1, 2}}, b"bytes", object()):
        for indent in (None, 2):
            got, want = outcome(jsontext.dumps, value, indent=indent), outcome(json.dumps, value, indent=indent)
            assert got == want and got[0] == "error", value
    deep: object = []
    for _ in range(100_000):
        deep = [deep]
    assert outcome(jsontext.dumps, deep)[:2] == outcome(json.dumps, deep)[:2] == ("error", RecursionError)
    assert outcome(jsontext.dumps, deep, indent=2)[:2] == ("error", RecursionError)


def test_default_is_called_as_json_calls_it() -> None:
    value = {"b": {1, 2}, "a": [b"x", (3, frozenset())], "c": range(2)}
    for indent in (None, 2):
        assert jsontext.dumps(value, indent=indent, default=repr) == json.dumps(value, indent=indent, default=repr)
        assert (jsontext.dumps(value, indent=indent, default=sorted, sort_keys=True)
                == json.dumps(value, indent=indent, default=sorted, sort_keys=True))


def test_run_path_records_written_as_before() -> None:
    """The shapes the state and the plan cache write (indent=2, sort_keys; default=repr)."""
    state = {"id": "f" * 64, "command": ["/bin/sh", "-c", "echo \u00e9\udcff"], "created": 1764780000.123456,
             "exit_code": None, "layers": [], "oom_killed": False, "pid": 4242, "mounts": ("a", "b")}
    assert jsontext.dumps(state, indent=2, sort_keys=True) == json.dumps(state, indent=2, sort_keys=True)
    key = [1, "0.1", "/x", "x86_64", "/r", "strict", "", [("cap_add", ()), ("memory", None)], "img"]
    assert jsontext.dumps(key, default=repr) == json.dumps(key, default=repr)


def test_importing_it_loads_no_json_nor_re() -> None:
    code = ("import sys; before = set(sys.modules); import hardbox.jsontext as j; "
            "j.dumps(j.loads('{\"a\": [1.5, null]}'), indent=2); j.dumps([{}], default=repr); "
            "print(sorted(m for m in ('json', 'json.decoder', 're', 'typing') if m in set(sys.modules) - before))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("indent", [None, 2])
def test_non_string_keys_are_written_as_json_writes_them(indent: int | None) -> None:
    value = {7: 1, 2.5: 2, True: 3, None: 4, "a": 5, False: 6, -1.5: 7, float("inf"): 8, 10**30: 9}
    assert jsontext.dumps(value, indent=indent) == json.dumps(value, indent=indent)
    with pytest.raises(TypeError):
        json.dumps({(1,): 2})
    with pytest.raises(TypeError, match="keys must be"):
        jsontext.dumps({(1,): 2})
