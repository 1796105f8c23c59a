"""The contract every fuzz test asserts, and the machinery that checks it cheaply.

An input is tried by driving the real CLI entry point (``hardbox.cli.main.main``) in a
*forked* child of the test process: the library is imported once by pytest, so an example
costs a fork (a few milliseconds) rather than a new interpreter (~100 ms). The child runs
with ``RLIMIT_AS`` bounded, stdout/stderr sent to files, and is killed when it overruns its
time, so a hang or a runaway allocation is a finding, never a stuck CI job.

The contract (issue 16, "Fuzzing in the project"): the command exits with one of the
allowed codes (0, 1, 2; 125 for ``run``), a failure says so in one ``hardbox: …`` line
(a ``hint:`` line may follow, argparse's usage block may precede), there is no traceback,
and the store passes its consistency check afterwards (``storecheck.check_store``).

Counts of what was tried land in ``STATS`` and, when ``$HARDBOX_FUZZ_STATS`` names a file,
are written there at the end of the session (tests/fuzz/conftest.py) for bench/RESULTS.md.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import importlib
import os
import pkgutil
import re
import resource
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings

# Examples per fuzz test: a small fixed-seed slice in CI, many more under `make fuzz`.
EXAMPLES = int(os.environ.get("HARDBOX_FUZZ_EXAMPLES", "25"))
TIMEOUT = float(os.environ.get("HARDBOX_FUZZ_TIMEOUT", "20"))
# Shrinking a failure to its minimal form replays it many times (a hang costs TIMEOUT each):
# worth it when hunting (`make fuzz` sets it), not in CI, where the failing input is printed.
SHRINK = os.environ.get("HARDBOX_FUZZ_SHRINK", "") not in ("", "0")
# Memory a single input may cost on top of what the test process already maps (1 GiB).
MEMORY = 1 << 30
M_ARENA_MAX = -8  # mallopt(3)


def fuzz_settings(scale: float = 1.0) -> settings:
    """Fixed seed (derandomize) so CI is reproducible; no per-example deadline (the
    subprocess timeout is the hang check); fixtures are per test, not per example."""
    return settings(
        derandomize=True,
        max_examples=max(1, int(EXAMPLES * scale)),
        deadline=None,
        database=None,
        phases=tuple(p for p in Phase if SHRINK or p not in (Phase.shrink, Phase.explain)),
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


@dataclass(frozen=True)
class Outcome:
    argv: tuple[str, ...]
    code: int | None  # None: killed for overrunning TIMEOUT
    stdout: str
    stderr: str
    seconds: float

    @property
    def hung(self) -> bool:
        return self.code is None


# parser -> Counter of "tried", "clean_error", "ok", "traceback", "hang", "bad_exit"
STATS: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)


def warm_up() -> None:
    """Import every hardbox module (and so the libraries they load lazily) once in the test
    process, so that a forked example does not pay for imports: a child only runs."""
    import hardbox

    for module in pkgutil.walk_packages(hardbox.__path__, "hardbox.", onerror=lambda _name: None):
        if module.name in ("hardbox.__main__",):
            continue
        # A module that fails to import is left to the child, whose command then reports it:
        # warming up is an optimisation, never a verdict.
        with contextlib.suppress(Exception):
            importlib.import_module(module.name)
    import jsonschema  # noqa: F401 - loaded lazily by the validators; warm it too


def _vm_size() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def run_cli(
    argv: Sequence[str],
    *,
    root: Path,
    timeout: float = TIMEOUT,
    stdin: Path | None = None,
    cwd: Path | None = None,
) -> Outcome:
    """Run ``hardbox ARGV`` in a forked child against the store at ``root``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        limit = _vm_size() + MEMORY
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _child(argv, root, out.fileno(), err.fileno(), limit, stdin, cwd)
        code = _wait(pid, started + timeout)
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return Outcome(
            tuple(argv),
            code,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            seconds,
        )


def _child(
    argv: Sequence[str], root: Path, out: int, err: int, limit: int, stdin: Path | None, cwd: Path | None
) -> None:
    code = 1
    try:
        os.setpgid(0, 0)  # a hung child is killed with everything it started
        os.dup2(out, 1)
        os.dup2(err, 2)
        fd = os.open(stdin or os.devnull, os.O_RDONLY)
        os.dup2(fd, 0)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the child ends with os._exit
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        # glibc reserves 64 MiB of address space per thread arena: a command that starts
        # threads would meet RLIMIT_AS long before using the memory. Two arenas bound that.
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 2)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        os.environ["HARDBOX_ROOT"] = str(root)
        os.environ.pop("HARDBOX_DEBUG", None)
        if cwd is not None:
            os.chdir(cwd)
        from hardbox.cli.main import main

        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:
        # What the interpreter would print for an uncaught exception: the contract's failure.
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _wait(pid: int, deadline: float) -> int | None:
    delay = 0.001
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


# Defects the fuzzers meet that another engineer is fixing right now (issue 16's list), or
# that were found here and reported: an example that breaks the contract *only* in the way
# its entry describes is counted as ``known: …`` instead of failing, so the rest of the
# fuzzing still guards everything else. The corpus test (test_corpus.py) holds each one as a
# strict xfail, which turns red when the fix lands: then delete its entry here.
KNOWN_OPEN: dict[str, re.Pattern[str]] = {}

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def contract_violation(outcome: Outcome, allowed: Sequence[int]) -> str | None:
    """Why ``outcome`` breaks the contract, or None when it keeps it."""
    if outcome.hung:
        return f"hung (killed after {outcome.seconds:.1f} s)"
    if "Traceback (most recent call last)" in outcome.stderr:
        return "traceback"
    if outcome.code not in allowed:
        return f"exit {outcome.code}, expected one of {sorted(allowed)}"
    if outcome.code == 0:
        return None
    if outcome.code == 1 and "hardbox: " not in outcome.stderr:
        return None  # a policy or lint verdict, told in its own words
    lines = outcome.stderr.rstrip("\n").split("\n")
    errors = [i for i, line in enumerate(lines) if line.startswith("hardbox: ")]
    if not errors:
        return "no `hardbox: …` error line"
    if any(not line.startswith("  hint: ") for line in lines[errors[-1] + 1 :]):
        return "error message spans more than one line"
    if _CONTROL.search(lines[errors[-1]]):
        return "control characters in the error line"
    return None


def check(
    parser: str, outcome: Outcome, allowed: Sequence[int] = (0, 1, 2), *, tolerate_known: bool = True
) -> None:
    """Count ``outcome`` for ``parser`` and fail the example if it breaks the contract
    (also in a ``KNOWN_OPEN`` way unless ``tolerate_known``: the corpus replays those)."""
    stats = STATS[parser]
    stats["tried"] += 1
    why = contract_violation(outcome, allowed)
    if why is None:
        if outcome.code == 0:
            stats["ok"] += 1
        elif outcome.code == 1 and "hardbox: " not in outcome.stderr:
            stats["verdict"] += 1
        else:
            stats["clean_error"] += 1
        return
    if tolerate_known and why != "traceback" and not outcome.hung:
        for label, pattern in KNOWN_OPEN.items():
            if pattern.search(outcome.stderr):
                stats[f"known: {label}"] += 1
                return
    stats["hang" if outcome.hung else "traceback" if why == "traceback" else "bad_exit"] += 1
    raise AssertionError(
        f"hardbox {' '.join(outcome.argv)}: {why}\n--- stderr ---\n{outcome.stderr[-4000:]}"
    )
