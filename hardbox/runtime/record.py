"""``hardbox profile record``: run a workload, log its syscalls, write and verify a profile.

The log is ``strace -f`` of the whole `hardbox run` from the host, as ``minimize`` traces its
probes (minimize/trace.py), and for the same reasons: it needs nothing inside the image and
no permission under the container's filter, it sees every process the workload forks, and it
works on any kernel with ptrace. The alternatives each lack something here: SECCOMP_RET_LOG
writes to the kernel log, which a container host often does not let hardbox read (and which
rate-limits); SECCOMP_RET_TRACE needs a tracer anyway; a user-notification agent must answer
every call of the workload while it runs. Only the calls made after the container's filter
is installed are counted (runtime/profile/recorded.py), so hardbox's own start-up is not.

Steps: run under the base profile (``--from``), with ``--probe`` exec'd into the container
meanwhile (its calls count too: a probe exec'd into the container later gets the same filter)
and the workload stopped after ``--duration``; cut the base's seccomp policy down to the calls
seen; write the profile and its seccomp JSON into a scratch directory beside the output; run
the same workload again under it; only if the output and exit status are the same are the
two files moved into place. Calls refused under the recorded profile are named in the notes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from hardbox.errors import ContainerError, HardboxError
from hardbox.runtime.profile.recorded import (
    SyscallLog,
    allowed_names,
    confined_syscalls,
    profile_yaml,
    recorded_policy,
)

STRACE_ARGS = ("--pidns-translation", "-f", "-qq", "-s", "0")
_START_TIMEOUT = 60.0


@dataclass(frozen=True)
class RecordRequest:
    image: str
    command: tuple[str, ...]
    output: Path
    base: str = "default"
    duration: float | None = None
    probe: str | None = None


@dataclass
class Observed:
    """One run of the workload: what it printed, its status, and the calls it made."""

    status: int
    stdout: str
    probe_stdout: str
    log: SyscallLog = field(default_factory=SyscallLog)


@dataclass(frozen=True)
class Recorded:
    profile: Path
    seccomp: Path
    syscalls: int  # names the recorded policy allows
    notes: tuple[str, ...]


def record(request: RecordRequest) -> Recorded:
    """Record, write to scratch, verify, then publish (see the module docstring)."""
    from hardbox.runtime.profile.load import load_profile

    base = load_profile(request.base)
    if base.seccomp is None:
        raise ContainerError(f"profile {request.base} has no seccomp filter to record under",
                             "record --from a profile with a seccomp policy (default or strict)")
    strace = shutil.which("strace")
    if strace is None:
        raise ContainerError("profile record logs syscalls with strace, which is not installed",
                             "apt-get install strace")
    first = _observe(strace, request, _base_reference(request.base))
    policy = recorded_policy(base.seccomp, first.log.names)
    seccomp_name = f"{request.output.name.removesuffix('.yaml').removesuffix('.yml')}.seccomp.json"
    described = " ".join((request.image, *request.command))
    out_dir = request.output.parent
    scratch = Path(tempfile.mkdtemp(prefix=".hardbox-record-", dir=out_dir))
    try:
        candidate = scratch / request.output.name
        (scratch / seccomp_name).write_text(json.dumps(policy, indent=2) + "\n", encoding="utf-8")
        candidate.write_text(profile_yaml(_base_reference(request.base), seccomp_name, described), encoding="utf-8")
        again = _observe(strace, request, str(candidate))
        denied = sorted(again.log.refused - first.log.refused)
        notes = tuple(f"refused under the recorded profile: {name}" for name in denied)
        if (again.status, again.stdout, again.probe_stdout) != (first.status, first.stdout, first.probe_stdout):
            what = "exit status" if again.status != first.status else "output"
            raise ContainerError(
                f"the recorded profile failed verification: the {what} differs "
                f"({first.status} recorded, {again.status} under it)"
                + (f"; refused: {', '.join(denied)}" if denied else ""),
                "nothing was written; record with a longer --duration or a --probe that exercises more",
            )
        os.replace(scratch / seccomp_name, out_dir / seccomp_name)
        os.replace(candidate, request.output)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    from hardbox.runtime.profile.seccomp_model import SeccompPolicy

    final = SeccompPolicy.from_json(policy, seccomp_name)
    return Recorded(request.output, out_dir / seccomp_name, len(allowed_names(final, base.capabilities)), notes)


def _base_reference(base: str) -> str:
    """A shipped name as it is; a file by absolute path (the output may live elsewhere)."""
    from hardbox.runtime.profile.load import _is_shipped_name

    return base if _is_shipped_name(base) else str(Path(base).resolve())


def _observe(strace: str, request: RecordRequest, profile: str) -> Observed:
    """One traced run of the workload under ``profile``, with the probe and the duration."""
    name = f"hardbox-record-{os.urandom(6).hex()}"
    with tempfile.TemporaryDirectory(prefix="hardbox-record-") as tmp:
        run_log, probe_log = Path(tmp) / "run.strace", Path(tmp) / "probe.strace"
        hardbox = [sys.executable, "-m", "hardbox"]
        run = subprocess.Popen(
            [strace, *STRACE_ARGS, "-o", str(run_log), *hardbox, "run", "--rm", "--name", name,
             "--profile", profile, request.image, *request.command],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        started = time.monotonic()
        probe_out = ""
        try:
            if request.probe is not None or request.duration is not None:
                _wait_running(name, run)
            if request.probe is not None:
                probe = subprocess.run(
                    [strace, *STRACE_ARGS, "-o", str(probe_log), *hardbox, "exec", name, "sh", "-c", request.probe],
                    stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=_START_TIMEOUT * 5,
                )
                probe_out = f"{probe.stdout}\n[probe exit {probe.returncode}]"
            if request.duration is not None:
                remaining = request.duration - (time.monotonic() - started)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    run.wait(timeout=max(remaining, 0))
            if run.poll() is None and (request.probe is not None or request.duration is not None):
                _stop(name)
            stdout, stderr = run.communicate(timeout=_START_TIMEOUT * 5)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
        if run.returncode == 125 or not run_log.exists():
            last = stderr.decode(errors="replace").strip().splitlines()
            raise ContainerError(f"the recording run could not start: {last[-1] if last else 'no message'}")
        log = _read_log(run_log)
        if probe_log.exists():
            extra = _read_log(probe_log)
            log.names |= extra.names
            log.refused |= extra.refused
        return Observed(run.returncode, stdout.decode(errors="replace"), probe_out, log)


def _read_log(path: Path) -> SyscallLog:
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        return confined_syscalls(fh)


def _wait_running(name: str, run: subprocess.Popen[bytes]) -> None:
    from hardbox.runtime.state import StateStore

    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline and run.poll() is None:
        try:
            if StateStore.default().find(name).live_status().status == "running":
                return
        except HardboxError:
            pass  # not created yet, or half-written: poll again
        time.sleep(0.05)


def _stop(name: str) -> None:
    from hardbox.runtime.lifecycle import stop

    with contextlib.suppress(HardboxError, ProcessLookupError):  # it exited meanwhile
        stop(name, timeout=2.0)
