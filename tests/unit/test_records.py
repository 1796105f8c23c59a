"""hardbox.records.NamedTuple behaves as typing.NamedTuple for everything the runtime uses:
construction by position and name, defaults, accessors, immutability, equality and hashing as
tuples, _replace/_asdict/_make, repr, pickling and pattern matching; and it loads no typing."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import typing

import pytest

from hardbox.records import NamedTuple


class Mount(NamedTuple):
    """A record as the runtime writes them."""

    source: str
    target: str = "/mnt"
    flags: tuple[str, ...] = ()

    def read_only(self) -> bool:
        return "ro" in self.flags


class TypingMount(typing.NamedTuple):
    source: str
    target: str = "/mnt"
    flags: tuple[str, ...] = ()


CASES = [("a",), ("a", "/b"), ("a", "/b", ("ro",))]


@pytest.mark.parametrize("args", CASES)
def test_same_values_as_typing(args: tuple) -> None:
    ours, theirs = Mount(*args), TypingMount(*args)
    assert tuple(ours) == tuple(theirs)
    assert ours == theirs and hash(ours) == hash(theirs)  # equal as tuples, as namedtuples are
    assert ours._asdict() == theirs._asdict()
    assert repr(ours).replace("Mount", "") == repr(theirs).replace("TypingMount", "")
    assert ours._replace(target="/x") == theirs._replace(target="/x")
    assert Mount._fields == TypingMount._fields
    assert Mount._field_defaults == TypingMount._field_defaults
    assert Mount.__match_args__ == TypingMount.__match_args__


def test_keywords_methods_and_docstring() -> None:
    m = Mount(source="s", flags=("ro",))
    assert (m.source, m.target, m.flags) == ("s", "/mnt", ("ro",))
    assert m.read_only()
    assert Mount.__doc__ == "A record as the runtime writes them."
    assert Mount._make(["s", "/t", ()]) == Mount("s", "/t")
    match m:
        case Mount("s", "/mnt"):
            pass
        case _:
            pytest.fail("positional pattern did not match")


def test_immutable_and_slotted() -> None:
    m = Mount("s")
    with pytest.raises(AttributeError):
        m.source = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        m.other = 1  # type: ignore[attr-defined]


def test_copy_and_pickle() -> None:
    m = Mount("s", "/t", ("ro",))
    assert pickle.loads(pickle.dumps(m)) == m
    assert type(copy.deepcopy(m)) is Mount and copy.copy(m) == m


@pytest.mark.parametrize("call", [
    lambda: Mount(),  # type: ignore[call-arg]
    lambda: Mount("s", source="t"),  # type: ignore[misc]
    lambda: Mount("s", "/t", (), "extra"),  # type: ignore[call-arg]
    lambda: Mount("s", bogus=1),  # type: ignore[call-arg]
    lambda: Mount._make(["s"]),
])
def test_wrong_arguments_are_refused(call: typing.Callable[[], object]) -> None:
    with pytest.raises(TypeError):
        call()


def test_replace_refuses_unknown_fields() -> None:
    with pytest.raises(ValueError, match="bogus"):
        Mount("s")._replace(bogus=1)  # type: ignore[call-arg]


def test_field_order_rules() -> None:
    with pytest.raises(TypeError, match="non-default"):
        class Bad(NamedTuple):
            a: int = 1
            b: int  # type: ignore[misc]
    with pytest.raises(ValueError, match="underscore"):
        class Hidden(NamedTuple):
            _a: int  # type: ignore[misc]


def test_loads_no_typing() -> None:
    code = ("import sys\nfrom hardbox.records import NamedTuple\n"
            "class R(NamedTuple):\n    a: int\n"
            "assert R(1).a == 1\nprint('typing' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "False"
