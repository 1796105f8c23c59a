"""The ``hardbox`` entry point: builds the parser from the registered subcommands and turns
``HardboxError`` into a one-line message and the exit code of the shared conventions.

Each subcommand module exposes ``register(subparsers)``; it adds its parser and sets
``func`` to a handler ``(args) -> int``. ``COMMAND_MODULES`` says which module registers
which command, so a command line loads only the module of the command it names (`hardbox
pull` loads cli/registry.py, nothing else of the CLI); all of them are loaded only for
`hardbox --help`, a mistyped command, or completing a command's name. Command modules import
the library lazily, inside their handlers, so that ``hardbox run`` loads only what starting a
container needs: its start-up is measured against runc's (bench/bench_run.py).

hardbox's own options (``--debug``, ``--no-color``, ``-q/--quiet``) are accepted before and
after the subcommand, as in `hardbox --debug run ...` and `hardbox run --debug ...`; a usage
error is reported by the deepest parser the line reached, with that parser's usage line.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Iterator, Sequence

from hardbox import __version__
from hardbox.cli import terminal
from hardbox.errors import HardboxError

# Subcommand -> the module of hardbox/cli that registers it, in the order `hardbox --help`
# lists them. tests/unit/test_cli_frame.py checks that each module registers exactly these.
COMMAND_MODULES: dict[str, str] = {
    "image": "image",
    "pull": "registry",
    "push": "registry",
    "login": "registry",
    "logout": "registry",
    "run": "run",
    "exec": "exec",
    "ps": "containers",
    "logs": "containers",
    "stop": "containers",
    "rm": "containers",
    "profile": "profile",
    "bundle": "bundle",
    "sbom": "sbom",
    "db": "db",
    "scan": "scan",
    "lint": "lint",
    "gate": "gate",
    "minimize": "minimize",
    "completion": "completion",
}
# The subcommand modules, each once.
COMMANDS: tuple[str, ...] = tuple(dict.fromkeys(COMMAND_MODULES.values()))


class _Parser(argparse.ArgumentParser):
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


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given the command line, only the module of the command it names is
    registered."""
    parser = _Parser(
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
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _modules_for(argv):
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


def _modules_for(argv: Sequence[str] | None) -> tuple[str, ...]:
    """The module of the subcommand the line names (after hardbox's own options), else all."""
    words = list(argv or ())
    if "_ARGCOMPLETE" in os.environ:
        words = _completion_words()
    for word in words:
        if word in ("-h", "--help"):
            break
        if not word.startswith("-"):
            return (COMMAND_MODULES[word],) if word in COMMAND_MODULES else COMMANDS
    return COMMANDS


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


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    # Usage errors are printed while parsing: --no-color must already hold for them.
    terminal.configure(no_color="--no-color" in argv)
    parser = build_parser(argv)
    if "_ARGCOMPLETE" in os.environ:
        from hardbox.cli.completion import complete

        complete(parser)  # answers the shell and exits
    args, extras = parser.parse_known_args(argv)
    terminal.configure(quiet=args.quiet, no_color=args.no_color)
    if extras:
        # Reported by the subcommand's parser, so its usage line and exit code apply.
        target = getattr(args, "_parser", None) or parser
        target.error(f"unrecognized arguments: {' '.join(extras)}")
    global _quick_exit
    _quick_exit = bool(getattr(args, "quick_exit", False))
    if not _quick_exit:
        gc.enable()  # see run(): only a quick-exit command keeps the collector off
    if not getattr(args, "func", None):
        # `hardbox` alone, or `hardbox image` alone: teach rather than fail.
        target = getattr(args, "_parser", parser)
        target.print_help()
        return 0
    debug = args.debug or bool(os.environ.get("HARDBOX_DEBUG"))
    try:
        return int(args.func(args) or 0)
    except HardboxError as err:
        if debug:
            import traceback

            traceback.print_exc()
        _say_error(one_line(err.message), one_line(err.hint) if err.hint else "")
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `hardbox image ls --json | head`: the reader left; that is not an error.
        return 0
    except OSError as err:
        # A refusal of the system no layer turned into a message of its own (a permission, a
        # full disk, a mount the kernel refused): one line as for every error; --debug shows
        # where. `run` keeps 125 for its own failures.
        if debug:
            import traceback

            traceback.print_exc()
        _say_error(one_line(_describe(err)), "")
        return 125 if getattr(args, "command", None) == "run" else 2


# Set by main() for a command that asked for it (``quick_exit`` in its parser defaults).
_quick_exit = False


def _say_error(message: str, hint: str) -> None:
    sys.stderr.write(f"{terminal.paint('hardbox:', 'error', sys.stderr)} {message}\n")
    if hint:
        sys.stderr.write(f"  {terminal.paint('hint:', 'hint', sys.stderr)} {hint}\n")


# C0 controls and DEL, shown escaped: messages quote what an input said (a YAML key, a tar
# entry name), and a newline there split the one-line error while an ESC drove the terminal.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}


def one_line(text: str) -> str:
    """``text`` with every control character escaped, so it prints as one line."""
    return text.translate(_CONTROLS)


def _describe(err: OSError) -> str:
    if err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err)  # KernelError's is already "operation `path`: reason"


def run() -> None:
    """The console script. A command that holds nothing to finalize when it returns (``hardbox
    run``: the container and its clean-up are done, no file or thread is left open) ends
    with ``os._exit`` once stdout and stderr are flushed: tearing down the interpreter's
    modules costs more than the rest of a short container's run after it exits.

    The cyclic garbage collector is off while the command's modules load (its passes over
    the new objects are a tenth of `hardbox run`'s start-up) and stays off for a quick-exit
    command, whose allocations are bounded and whose process ends soon; main() turns it
    back on for every other command."""
    gc.disable()
    status = main()
    if _quick_exit:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BrokenPipeError:
            pass  # the reader left, as main() already allows
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    run()
