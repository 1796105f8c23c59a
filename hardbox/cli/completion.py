"""Shell completion for bash and zsh: ``hardbox completion bash|zsh`` and the completers.

argcomplete does the work on the parser hardbox already has (no second description of the
command line to keep in step): the shell calls ``hardbox`` with ``_ARGCOMPLETE`` and
``COMP_LINE`` set, ``cli/main.py`` builds the parser for the words typed so far and hands it
to ``complete``, which answers and exits. Commands and options come from the parser; the
values of a few positionals come from hardbox's own state, never from the network: image
names from the store's tags, container names and ids from the container states.

Install: ``eval "$(hardbox completion bash)"`` in ~/.bashrc, or for zsh (after ``compinit``)
``eval "$(hardbox completion zsh)"``; argcomplete's own ``register-python-argcomplete
hardbox`` prints the same script.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from hardbox.cli.options import add_command

SHELLS = ("bash", "zsh")

# Positionals that name a stored image or a container, by metavar; ``pull REF`` names a
# remote image, so it is left to the shell.
IMAGE_METAVARS = frozenset({"IMAGE", "REF", "SRC", "LOCAL"})
CONTAINER_METAVARS = frozenset({"CONTAINER", "ID|NAME"})
NOT_STORED = frozenset({("pull", "ref")})


def register(subparsers: Any) -> None:
    p = add_command(
        subparsers, "completion", _print_script, help="print the shell completion script (bash or zsh)",
        description="Print the script that makes the shell complete hardbox's commands, "
        "options, image names (from the store) and container names. Load it from your "
        "shell's start-up file.",
        epilog='examples: eval "$(hardbox completion bash)" in ~/.bashrc; '
        'eval "$(hardbox completion zsh)" in ~/.zshrc, after compinit',
    )
    p.add_argument("shell", choices=SHELLS)


def _print_script(args: argparse.Namespace) -> int:
    import argcomplete

    sys.stdout.write(argcomplete.shellcode(["hardbox"], shell=args.shell))
    return 0


def image_names(prefix: str = "", **_: object) -> list[str]:
    """The store's image names as a user types them (``bbtest:latest`` for
    ``docker.io/library/bbtest:latest``) and in full; none when there is no store."""
    from hardbox.errors import HardboxError
    from hardbox.image.store.store import Store

    try:
        tags = Store.open(read_only=True).tags()
    except (HardboxError, OSError):
        return []
    names: set[str] = set()
    for full in tags:
        names.add(full)
        for short in ("docker.io/library/", "docker.io/"):
            if full.startswith(short):
                names.add(full[len(short):])
                break
    return sorted(n for n in names if n.startswith(prefix))


def container_names(prefix: str = "", **_: object) -> list[str]:
    """Names and short ids of the containers in the state directory."""
    from hardbox.errors import HardboxError
    from hardbox.runtime.state import StateStore

    try:
        states = StateStore.default().all()
    except (HardboxError, OSError):
        return []
    found = {s.id[:12] for s in states} | {s.name for s in states if s.name}
    return sorted(n for n in found if n.startswith(prefix))


def completer_for(command: tuple[str, ...], action: argparse.Action) -> Callable[..., list[str]] | None:
    """The completer of a positional of ``command`` (its words after `hardbox`), if any."""
    if action.option_strings or (*command[-1:], action.dest) in NOT_STORED:
        return None
    if action.metavar in IMAGE_METAVARS:
        return image_names
    if action.metavar in CONTAINER_METAVARS:
        return container_names
    return None


def attach_completers(parser: argparse.ArgumentParser, command: tuple[str, ...] = ()) -> None:
    """Give every positional naming an image or a container its completer (argcomplete
    reads an action's ``completer`` attribute)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                attach_completers(sub, (*command, name))
            continue
        found = completer_for(command, action)
        if found is not None:
            action.completer = found  # type: ignore[attr-defined]


def complete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request for ``parser`` and exit."""
    import argcomplete

    attach_completers(parser)
    argcomplete.autocomplete(parser)
