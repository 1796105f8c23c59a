"""How hardbox talks to a person at a terminal: colour and quietness, decided once a command.

``cli/main.py`` calls ``configure`` from ``--no-color`` and ``-q/--quiet`` (accepted before
or after the subcommand); everything that draws on a terminal asks here. Colour follows
https://no-color.org: ``NO_COLOR`` set to anything non-empty turns it off, as ``--no-color``
does, and it is never written to something that is not a terminal (a pipe, a file, CI's
log) nor to ``TERM=dumb``. Kept to ``os`` and ``sys``: every command imports it.
"""

from __future__ import annotations

import os

# typing costs exec about 5 ms and is needed here for one annotation only (the string form,
# under `from __future__ import annotations`): imported for the type checker alone.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

_settings = {"quiet": False, "no_color": False}

# SGR sequences (ECMA-48) for the few styles hardbox uses.
STYLES = {
    "error": "1;31", "warning": "33", "hint": "2", "ok": "32", "bold": "1",
    "critical": "1;31", "high": "31", "medium": "33", "low": "36", "info": "2",
}


def configure(*, quiet: bool = False, no_color: bool = False) -> None:
    _settings["quiet"] = quiet
    _settings["no_color"] = no_color


def quiet() -> bool:
    """``-q`` was given: no progress lines, no chatter on stderr."""
    return _settings["quiet"]


def colour(stream: TextIO) -> bool:
    """Whether ``stream`` gets colour: a terminal, and neither --no-color nor NO_COLOR."""
    if _settings["no_color"] or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def paint(text: str, style: str, stream: TextIO) -> str:
    """``text`` in ``style`` (a key of STYLES) when ``stream`` takes colour, else as it is."""
    code = STYLES.get(style)
    if not code or not colour(stream):
        return text
    return f"\033[{code}m{text}\033[0m"
