"""The one way a probe runs: a command line as the container's *whole* command, its program
replacing the image's ENTRYPOINT (Docker's rule: ``--entrypoint`` also drops the image's
CMD), through ``hardbox run --rm --profile P`` in a subprocess — the path a user takes.

Shared by ``minimize --probe`` and ``gate --probe`` so both test the same thing, and the
"reproduce with" line a failure prints is exactly the command that ran. Handing the probe to
the image's ENTRYPOINT instead would let ``ENTRYPOINT ["/bin/true"]`` pass any probe.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence


def run_args(image: str, argv: Sequence[str], profile: str) -> list[str]:
    """The ``hardbox run`` arguments (after ``hardbox``) that run ``argv`` in ``image``."""
    if not argv:
        raise ValueError("a probe needs a command")
    return ["run", "--rm", "--profile", profile, "--entrypoint", argv[0], image, *argv[1:]]


def run_argv(image: str, argv: Sequence[str], profile: str) -> list[str]:
    """The full command line, run with this interpreter's hardbox."""
    return [sys.executable, "-m", "hardbox", *run_args(image, argv, profile)]


def reproduce(image: str, argv: Sequence[str], profile: str) -> str:
    """The same command, as a user types it (shell-quoted)."""
    return shlex.join(["hardbox", *run_args(image, argv, profile)])


def shell_probe(command: str) -> tuple[str, ...]:
    """A gate probe is shell text (``--probe 'curl -f localhost || exit 3'``): it runs as
    ``/bin/sh -c COMMAND``, with ``/bin/sh`` as the entrypoint."""
    return ("/bin/sh", "-c", command)
