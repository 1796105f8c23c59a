"""Runs a probe command in an image under hardbox's own runtime, plain or traced.

A probe is one command line, run as the container's whole command (its program replaces the
entrypoint), exactly as ``hardbox run --entrypoint PROG IMAGE ARGS...`` runs it: the runtime
under test is the one users get. Its exit status, stdout and stderr are what verification
compares between the original and the minimized image.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hardbox.minimize.lifeline import armed_preexec, tied
from hardbox.minimize.trace import TraceResult, trace_command
from hardbox.runtime import probe_command

PROBE_TIMEOUT = 300.0


@dataclass(frozen=True)
class ProbeRun:
    argv: tuple[str, ...]
    status: int
    stdout: bytes
    stderr: bytes

    def same_as(self, other: ProbeRun) -> bool:
        return (self.status, self.stdout, self.stderr) == (other.status, other.stdout, other.stderr)


def run_argv(image: str, argv: Sequence[str], profile: str) -> list[str]:
    """The ``hardbox run`` command line for one probe (shared with ``gate --probe``)."""
    return probe_command.run_argv(image, argv, profile)


def _env() -> dict[str, str]:
    # The child is hardbox itself; it must find the same store and the same package.
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", "")
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env["PYTHONPATH"]) if p)
    return env


# Every probe process dies with minimize (lifeline.py): a killed minimize leaves no strace
# and no probe running, only the probe's stale record for `hardbox rm` or `image prune`.
def run_probe(image: str, argv: Sequence[str], profile: str) -> ProbeRun:
    proc = subprocess.run(tied(run_argv(image, argv, profile)), capture_output=True,
                          timeout=PROBE_TIMEOUT, stdin=subprocess.DEVNULL, env=_env())
    return ProbeRun(tuple(argv), proc.returncode, proc.stdout, proc.stderr)


def trace_probe(image: str, argv: Sequence[str], profile: str, workdir: Path) -> tuple[ProbeRun, TraceResult]:
    proc, trace = trace_command(tied(run_argv(image, argv, profile)), workdir, timeout=PROBE_TIMEOUT,
                                env=_env(), preexec_fn=armed_preexec())
    return ProbeRun(tuple(argv), proc.returncode, proc.stdout, proc.stderr), trace
