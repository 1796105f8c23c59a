"""The ``hardbox`` entry point: reads the command line and turns ``HardboxError`` into a
one-line message and the exit code of the shared conventions.

The command line is argparse's (cli/parser.py, built from the registered subcommands), but
for the commands that start a container: a well-formed `hardbox run`/`exec` line is read by
cli/quickparse.py from the same option table, into the namespace argparse would make, and
argparse is not even loaded (a fifth of the start-up measured against runc's,
bench/bench_run.py). Any line that reader is not sure of goes to argparse, so help, usage
errors and completion are argparse's. ``COMMAND_MODULES`` says which module registers which
command, so a command line loads only the module of the command it names (`hardbox pull`
loads cli/registry.py, nothing else of the CLI); all of them are loaded only for `hardbox
--help`, a mistyped command, or completing a command's name. Command modules import the
library lazily, inside their handlers, so that ``hardbox run`` loads only what starting a
container needs.
"""

from __future__ import annotations

import gc
import os
import sys

from hardbox.cli import terminal
from hardbox.errors import HardboxError

TYPE_CHECKING = False  # typing's own name would load typing (start-up, issue 14)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from types import SimpleNamespace
else:
    SimpleNamespace = type(sys.implementation)  # types.SimpleNamespace, without importing types

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


# Commands whose well-formed lines are read without argparse (cli/quickparse.py, from the
# option table their module declares as OPTIONS): the ones that start a container, whose
# start-up is measured against runc's.
QUICK_COMMANDS = ("run", "exec")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argparse parser (cli/parser.py); given the command line, only the module of the
    command it names is registered."""
    from hardbox.cli.parser import build_parser as build

    return build(argv, COMMAND_MODULES, COMMANDS)


def parse_quickly(argv: Sequence[str]) -> SimpleNamespace | None:
    """The namespace argparse would make of a `hardbox run`/`exec` line, without loading
    argparse; None when the line is one argparse must read (an error, --help, hardbox's own
    options, completion, an abbreviation: cli/quickparse.py says which)."""
    if not argv or argv[0] not in QUICK_COMMANDS or "_ARGCOMPLETE" in os.environ:
        return None
    from hardbox.cli import quickparse

    module = __import__(f"hardbox.cli.{argv[0]}", fromlist=["OPTIONS"])
    values = quickparse.parse(module.OPTIONS, argv[1:])
    if values is None:
        return None
    # The top-level parser's defaults, then the subcommand's (its register()'s set_defaults,
    # but _parser: no argparse parser exists, and only a usage error would want one).
    namespace: dict[str, object] = {"debug": False, "no_color": False, "quiet": False, "command": argv[0]}
    namespace.update(values)  # the subcommand's values replace the top level's, as in argparse
    namespace.update(module.DEFAULTS)
    return SimpleNamespace(**namespace)


def _parse(argv: Sequence[str]) -> SimpleNamespace | argparse.Namespace:
    args = parse_quickly(argv)
    if args is not None:
        terminal.configure(quiet=False, no_color=False)
        return args
    # Usage errors are printed while parsing: --no-color must already hold for them.
    terminal.configure(no_color="--no-color" in argv)
    parser = build_parser(argv)
    if "_ARGCOMPLETE" in os.environ:
        from hardbox.cli.completion import complete

        complete(parser)  # answers the shell and exits
    parsed, extras = parser.parse_known_args(argv)
    terminal.configure(quiet=parsed.quiet, no_color=parsed.no_color)
    if extras:
        # Reported by the subcommand's parser, so its usage line and exit code apply.
        target = getattr(parsed, "_parser", None) or parser
        target.error(f"unrecognized arguments: {' '.join(extras)}")
    if not getattr(parsed, "func", None):
        # `hardbox` alone, or `hardbox image` alone: teach rather than fail.
        getattr(parsed, "_parser", parser).print_help()
    return parsed


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    args = _parse(argv)
    global _quick_exit
    _quick_exit = bool(getattr(args, "quick_exit", False))
    if not _quick_exit:
        gc.enable()  # see run(): only a quick-exit command keeps the collector off
    if not getattr(args, "func", None):
        return 0  # the help was printed
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
        # where. `run` and `exec` keep 125 for their own failures (their status is the
        # workload's), which they say in their defaults (``failure_exit_code``).
        if debug:
            import traceback

            traceback.print_exc()
        _say_error(one_line(_describe(err)), "")
        return int(getattr(args, "failure_exit_code", 2))


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
