"""The ``hardbox`` entry point: builds the parser from the registered subcommands and turns
``HardboxError`` into a one-line message and the exit code of the shared conventions.

Each subcommand module exposes ``register(subparsers)``; it adds its parser and sets
``func`` to a handler ``(args) -> int``. Command modules import the library lazily, inside
their handlers, so that ``hardbox run`` loads only what starting a container needs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from hardbox import __version__
from hardbox.errors import HardboxError

# Registered subcommand modules, in the order `hardbox --help` lists them.
COMMANDS: tuple[str, ...] = (
    "image",
    "run",
    "containers",
    "profile",
    "bundle",
    "sbom",
    "db",
    "scan",
    "lint",
    "gate",
    "minimize",
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


def build_parser() -> argparse.ArgumentParser:
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
    for name in COMMANDS:
        importlib.import_module(f"hardbox.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        # Reported by the subcommand's parser, so its usage line and exit code apply.
        target = getattr(args, "_parser", None) or parser
        target.error(f"unrecognized arguments: {' '.join(extras)}")
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
            traceback.print_exc()
        sys.stderr.write(f"hardbox: {err.message}\n")
        if err.hint:
            sys.stderr.write(f"  hint: {err.hint}\n")
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `hardbox image ls --json | head`: the reader left; that is not an error.
        return 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
