"""How a hardbox command is declared, in one place: its parser with its help texts and its
handler (``add_command``), a command that only groups subcommands (``add_group``), and the
``--json`` flag of the commands that list or describe something (``add_json_flag``).

As Docker's and Podman's commands are each one declaration (name, short and long help,
examples, handler) and their shared flags are defined once, every ``register`` here goes
through these functions, so that how a command is put together is said once. The options
about what a command reads (``--pull``, ``--tls-verify``, ``--db``) are in ``inputs.py``; the
report options in ``output.py``.

Imported by every command module while the parser is built (every ``hardbox`` start): it
imports nothing but argparse, which cli/main.py has already loaded.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

Handler = Callable[[argparse.Namespace], int]


def add_command(subparsers: Any, name: str, handler: Handler | None, *, help: str,
                description: str | None = None, epilog: str | None = None,
                usage_exit_code: int | None = None) -> argparse.ArgumentParser:
    """The parser of command ``name``, running ``handler``. A description or epilog written
    with line breaks (a block of examples, paragraphs) is printed as written; one written as
    a single line is wrapped to the terminal. ``usage_exit_code``: for a command that runs a
    workload, 125, so that its own failures differ from the workload's (cli/main.py's
    ``_Parser``; the parser each line reaches reports the usage errors, which cli/main.py
    records on every subcommand)."""
    preformatted = any("\n" in text for text in (description, epilog) if text)
    parser: Any = subparsers.add_parser(
        name, help=help, description=description, epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter if preformatted else argparse.HelpFormatter,
    )
    if handler is not None:
        parser.set_defaults(func=handler)
    if usage_exit_code is not None:
        parser.usage_exit_code = usage_exit_code
    return parser


def add_group(subparsers: Any, name: str, *, help: str, description: str | None = None,
              epilog: str | None = None) -> Any:
    """A command that only holds subcommands (``hardbox image``, ``db``, ``profile``): the
    subparsers to add them to. Alone on the command line it prints its help (cli/main.py)."""
    group = add_command(subparsers, name, None, help=help, description=description, epilog=epilog)
    return group.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND")


def add_json_flag(parser: argparse.ArgumentParser, help: str) -> None:
    """``--json``: print the command's result as JSON on stdout instead of text (the shared
    conventions: listing commands print JSON with ``--json``); ``help`` says its shape."""
    parser.add_argument("--json", action="store_true", help=help)
