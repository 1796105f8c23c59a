"""The argparse parser of the ``hardbox`` command line, built from the registered subcommands.

Each subcommand module exposes ``register(subparsers)``; it adds its parser and sets
``func`` to a handler ``(args) -> int``. The command table (cli/main.py's
``COMMAND_MODULES``, passed in) says which module registers which command, so a command line loads only the module of the command it names
(`hardbox pull` loads cli/registry.py, nothing else of the CLI); all of them are loaded only
for `hardbox --help`, a mistyped command, or completing a command's name.

hardbox's own options (``--debug``, ``--no-color``, ``-q/--quiet``) are accepted before and
after the subcommand, as in `hardbox --debug run ...` and `hardbox run --debug ...`; a usage
error is reported by the deepest parser the line reached, with that parser's usage line.

Not loaded by a well-formed `hardbox run`/`exec` line: cli/quickparse.py reads those from
the same option tables without argparse (cli/main.py).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence

from hardbox import __version__
from hardbox.cli import terminal


class Parser(argparse.ArgumentParser):
    """Usage errors as one line + hint, exiting ``usage_exit_code``: 2, except for
    ``hardbox run``, which passes the container's status through and so, like ``docker
    run``, reports its own failures as 125."""

    usage_exit_code = 2

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        label = terminal.paint("hardbox: error:", "error", sys.stderr)
        sys.stderr.write(f"{label} {message}\n  hint: see `{self.prog} --help`\n")
        raise SystemExit(self.usage_exit_code)

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse makes a formatter for every add_argument (to check the metavar) and, left
        # to itself, imports shutil (and with it zlib, bz2, lzma) to size it: seven modules
        # on every start for a help text that is rarely printed.
        return self.formatter_class(prog=self.prog, width=_help_width())  # type: ignore[call-arg]


def build_parser(argv: Sequence[str] | None, command_modules: Mapping[str, str],
                 every: tuple[str, ...]) -> argparse.ArgumentParser:
    """The parser; given the command line, only the module of the command it names (by
    ``command_modules``: command -> module of hardbox/cli) is registered, else ``every``
    module."""
    parser = Parser(
        prog="hardbox",
        description=(
            "Container hardening and scanning for Linux: run images locked down, "
            "minimize them, scan them, and gate them in CI."
        ),
        epilog=(
            "Images are named as Docker names them (bbtest = docker.io/library/bbtest:latest), "
            "by id prefix, or by transport: docker-archive:PATH, oci:DIR[:REF], "
            "oci-archive:PATH, dir:PATH. The store is $HARDBOX_ROOT, else /var/lib/hardbox "
            "as root, else ~/.local/share/hardbox. Exit codes: 0 ok, 1 policy failed, "
            "2 usage or unusable input; `run` passes the container's status through. "
            "Colour only on a terminal, never with NO_COLOR set or --no-color. "
            "Shell completion: `hardbox completion bash|zsh`."
        ),
    )
    parser.add_argument("--version", action="version", version=f"hardbox {__version__}")
    _add_own_options(parser, default=False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in _modules_for(argv, command_modules, every):
        importlib.import_module(f"hardbox.cli.{name}").register(subparsers)
    for sub in subcommand_parsers(parser):
        _add_own_options(sub, default=argparse.SUPPRESS)
        # The deepest parser a line reaches reports its unrecognized arguments (main()).
        sub.set_defaults(_parser=sub)
    return parser


_width: list[int] = []


def _help_width() -> int:
    """What argparse asks shutil.get_terminal_size for: $COLUMNS, else the terminal on
    stdout, else 80; less 2, as argparse does."""
    if not _width:
        try:
            columns = int(os.environ.get("COLUMNS", "0"))
        except ValueError:
            columns = 0
        if columns <= 0:
            try:
                columns = os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 0
            except (OSError, ValueError):
                columns = 0
        _width.append((columns or 80) - 2)
    return _width[0]


def _add_own_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    """hardbox's own options; on a subcommand their default is SUPPRESS, so that leaving
    them out there does not undo `hardbox --debug CMD`. A subcommand's own ``-q`` (scan's)
    keeps its help and takes the same treatment."""
    top = default is not argparse.SUPPRESS  # a subcommand's --help lists only its -q
    parser.add_argument("--debug", action="store_true", default=default,
                        help="show tracebacks for errors" if top else argparse.SUPPRESS)
    parser.add_argument("--no-color", action="store_true", default=default,
                        help="no colour, even on a terminal (also: NO_COLOR=1)" if top else argparse.SUPPRESS)
    own_quiet = parser._option_string_actions.get("-q")
    if own_quiet is not None:
        own_quiet.default = default
    else:
        parser.add_argument("-q", "--quiet", action="store_true", default=default,
                            help="no progress lines on stderr")


def subcommand_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every subcommand's parser below ``parser``, parents before children."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases share a parser
                yield sub
                yield from subcommand_parsers(sub)


def _modules_for(argv: Sequence[str] | None, command_modules: Mapping[str, str],
                 every: tuple[str, ...]) -> tuple[str, ...]:
    """The module of the subcommand the line names (after hardbox's own options), else all."""
    words = list(argv or ())
    if "_ARGCOMPLETE" in os.environ:
        words = _completion_words()
    for word in words:
        if word in ("-h", "--help"):
            break
        if not word.startswith("-"):
            return (command_modules[word],) if word in command_modules else every
    return every


def _completion_words() -> list[str]:
    """The finished words of the line being completed (argcomplete's COMP_LINE up to the
    cursor, the command itself and the word under the cursor left out), so that completing
    `hardbox run bb<TAB>` loads only cli/run.py while `hardbox r<TAB>` loads every command."""
    line = os.environ.get("COMP_LINE", "")
    point = int(os.environ.get("COMP_POINT", len(line)) or len(line))
    words = line[:point].split()
    if not line[:point].endswith((" ", "\t")):
        words = words[:-1]
    return words[1:]
