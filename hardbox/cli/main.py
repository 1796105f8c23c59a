"""The ``hardbox`` entry point: builds the parser from the registered subcommands and turns
``HardboxError`` into a one-line message and the exit code of the shared conventions.

Each subcommand module exposes ``register(subparsers)``; it adds its parser and sets
``func`` to a handler ``(args) -> int``. Command modules import the library lazily, inside
their handlers, and only the command named on the line is registered (all of them only for
`hardbox --help` or a mistyped command), so that ``hardbox run`` loads only what starting a
container needs: its start-up is measured against runc's (bench/bench_run.py).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Sequence

from hardbox import __version__
from hardbox.errors import HardboxError

# Registered subcommand modules, in the order `hardbox --help` lists them.
COMMANDS: tuple[str, ...] = (
    "image",
    "run",
    "exec",
    "containers",
    "profile",
    "bundle",
    "sbom",
    "db",
    "scan",
    "lint",
    "gate",
    "minimize",
    "registry",
)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line + hint, exiting ``usage_exit_code``: 2, except for
    ``hardbox run``, which passes the container's status through and so, like ``docker
    run``, reports its own failures as 125."""

    usage_exit_code = 2

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"hardbox: error: {message}\n  hint: see `{self.prog} --help`\n")
        raise SystemExit(self.usage_exit_code)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given the command line, only the subcommand it names is registered."""
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
            "2 usage or unusable input; `run` passes the container's status through."
        ),
    )
    parser.add_argument("--version", action="version", version=f"hardbox {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _commands_for(argv):
        importlib.import_module(f"hardbox.cli.{name}").register(subparsers)
    return parser


# Set by main() for a command that asked for it (``quick_exit`` in its parser defaults).
_quick_exit = False


def _commands_for(argv: Sequence[str] | None) -> tuple[str, ...]:
    """The subcommand the line names (after hardbox's own options), else all of them."""
    for word in argv or ():
        if word in ("-h", "--help"):
            break
        if not word.startswith("-"):
            return (word,) if word in COMMANDS else COMMANDS
    return COMMANDS


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(argv)
    args, extras = parser.parse_known_args(argv)
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
        sys.stderr.write(f"hardbox: {one_line(err.message)}\n")
        if err.hint:
            sys.stderr.write(f"  hint: {one_line(err.hint)}\n")
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
        sys.stderr.write(f"hardbox: {one_line(_describe(err))}\n")
        return 125 if getattr(args, "command", None) == "run" else 2


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
