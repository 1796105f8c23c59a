"""Start-to-exit of /bin/true in busybox: `hardbox run --profile strict` against `runc run`.

hardbox runs from its own venv as a user installs it, runc from the bundle `hardbox bundle
--profile strict` writes of the same image: the same hardening on both sides (bench/startup.py
says how they are set up and timed). Four more rows split hardbox's time: ``python -c pass``
in the same venv (the interpreter, the floor under anything written in Python), ``python -c
'import ...'`` of the standard-library modules a run loads (the floor under a Python runtime
built from the standard library) and of exactly all the modules a run loads (read from ``-X
importtime`` of a real run): hardbox's start-up before any container work; and
``main(run ...)`` timed inside a process that already loaded them: hardbox's own work.
``--before COMMIT`` adds a row for that commit of hardbox, in a venv and store of its own,
timed in the same rounds (before/after on one loaded machine; ``env`` sets its store, ~1 ms).

Goals (issue 14): the command <= 2.0x runc; its own work <= 1.0x runc's start-to-exit.
The per-syscall cost of strict's filter against Docker's default is measured by
``bench/bench_seccomp.py`` (not repeated here). Needs root, runc and umoci.

    python bench/bench_run.py [--rounds 20] [--json] [--before COMMIT]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import startup  # (install, bundle, timer and table: shared with bench_exec.py)


def main() -> int:
    args = startup.options(__doc__, default_rounds=20)
    with tempfile.TemporaryDirectory(prefix="hardbox-bench-") as tmp:
        setup = startup.install(Path(tmp))
        bundle = setup.strict_bundle(Path(tmp) / "bundle", "/bin/true")
        run_args = ["run", "--rm", "--profile", "strict", startup.IMAGE, "/bin/true"]
        startup.timed([*setup.hardbox, *run_args], setup.env)  # fills the caches: a warm run's imports
        commands: dict[str, startup.Command] = {
            "`hardbox run --rm --profile strict` (venv)": [*setup.hardbox, *run_args],
            "`runc run` (bundle from `hardbox bundle --profile strict`)":
                lambda i: ["runc", "run", "--bundle", str(bundle), f"hardbox-bench-{os.getpid()}-{i}"],
        }
        if args.before:
            old = startup.install(Path(tmp) / "before", args.before)
            old_run = ["env", f"HARDBOX_ROOT={old.env['HARDBOX_ROOT']}", *old.hardbox, *run_args]
            startup.timed(old_run, setup.env)  # its caches filled too
            commands[f"`hardbox run --rm --profile strict` at {args.before} (its own venv and store)"] = old_run
        commands.update(startup.split_rows(setup, run_args, "run"))
        report = startup.measure(commands, setup.env, args.rounds)
    startup.print_report("Start-to-exit of /bin/true in busybox", report, args.json)
    seccomp = Path(__file__).with_name("bench_seccomp.py")
    if not args.json and seccomp.is_file():
        print(f"\nPer-syscall cost of strict's seccomp filter vs Docker's default: "
              f"`python {seccomp.relative_to(startup.REPO)}`.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
