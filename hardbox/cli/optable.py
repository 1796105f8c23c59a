"""A command's options as data, declared once: the argparse parser is built from the table
(``add_arguments``) and so is the quick reader of ``hardbox run``/``exec`` lines
(``cli/quickparse.py``), which starts a container without loading argparse.

A table is a tuple of ``Option`` (``-e/--env``, ``--rm``, …) followed by the command's two
positionals: its target (IMAGE, CONTAINER) and the rest of the line (``remainder``: the
container's command, options included). Only what ``run`` and ``exec`` use is expressible:
store (with ``choices``, ``type``), ``store_true`` and ``append``; anything richer is
declared with argparse directly, as the other commands do.

Imported on every `hardbox run`: nothing at import but the records module; argparse only
inside ``add_arguments``.
"""

from __future__ import annotations

import os

from hardbox.records import NamedTuple

TYPE_CHECKING = False  # typing's own name would load typing (start-up, issue 14)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterable

STORE, STORE_TRUE, APPEND = "store", "store_true", "append"


class Option(NamedTuple):
    """One option. ``flags`` as argparse takes them (``("-e", "--env")``); ``dest`` derived
    from the first long flag as argparse derives it. An ``append`` option's default is a
    fresh empty list; ``env`` names a variable whose value, when set and non-empty, is the
    default instead of ``default`` (read when the line is parsed)."""

    flags: tuple[str, ...]
    action: str = STORE
    default: object = None
    choices: tuple[str, ...] | None = None
    type: Callable[[str], object] | None = None
    help: str | None = None
    metavar: str | None = None
    env: str | None = None

    @property
    def dest(self) -> str:
        for flag in self.flags:
            if flag.startswith("--"):
                return flag[2:].replace("-", "_")
        return self.flags[0][1:]

    @property
    def takes_value(self) -> bool:
        return self.action != STORE_TRUE

    def initial(self) -> object:
        """The value the option has when the line does not give it."""
        if self.action == APPEND:
            return []
        if self.action == STORE_TRUE:
            return False
        if self.env is not None:
            return os.environ.get(self.env) or self.default
        return self.default


class Positional(NamedTuple):
    """A positional: the command's target, or (``remainder``) every word after it."""

    dest: str
    metavar: str
    help: str | None = None
    remainder: bool = False


def options_of(table: Iterable[Option | Positional]) -> list[Option]:
    return [item for item in table if isinstance(item, Option)]


def positionals_of(table: Iterable[Option | Positional]) -> list[Positional]:
    return [item for item in table if isinstance(item, Positional)]


def add_arguments(parser: argparse.ArgumentParser, table: Iterable[Option | Positional]) -> None:
    """Declare ``table`` on ``parser``, in its order, with exactly the keywords a hand-written
    ``add_argument`` would pass (so ``--help`` and the usage line are argparse's own)."""
    import argparse

    for item in table:
        if isinstance(item, Positional):
            kwargs: dict[str, object] = {"metavar": item.metavar}
            if item.help is not None:
                kwargs["help"] = item.help
            if item.remainder:
                kwargs["nargs"] = argparse.REMAINDER
            parser.add_argument(item.dest, **kwargs)  # type: ignore[arg-type]
            continue
        kwargs = {}
        if item.action != STORE:
            kwargs["action"] = item.action
        if item.choices is not None:
            kwargs["choices"] = item.choices
        if item.type is not None:
            kwargs["type"] = item.type
        if item.action != STORE_TRUE and (item.action == APPEND or item.default is not None
                                          or item.env is not None):
            kwargs["default"] = item.initial()
        if item.metavar is not None:
            kwargs["metavar"] = item.metavar
        if item.help is not None:
            kwargs["help"] = item.help
        parser.add_argument(*item.flags, **kwargs)  # type: ignore[arg-type]
