"""`hardbox exec` against `runc exec`: /bin/true in a running busybox container under strict.

One container each, started once and left running: a `hardbox run -d --profile strict` and a
`runc run -d` of the bundle `hardbox bundle --profile strict` writes from the same stored
image (bench/startup.py: the same hardening on both sides, the install, the timer). Each
round execs /bin/true once into each, alternating, after warm-up rounds. Four more rows split
hardbox's time as in bench_run.py: the interpreter alone, the standard-library modules an
exec loads, all of its modules, and ``main(exec ...)`` inside a process that already loaded
them: hardbox's own work. ``--before COMMIT`` adds a row for that commit of hardbox, in a
venv and store of its own, timed in the same rounds (before/after on one loaded machine).

Goal (issue 14): `hardbox exec` <= 1.5x `runc exec`. Needs root, runc and umoci.

    python bench/bench_exec.py [--rounds 20] [--json] [--before COMMIT]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import startup  # (install, bundle, timer and table: shared with bench_run.py)


def main() -> int:
    args = startup.options(__doc__, default_rounds=20)
    runc_id = f"hardbox-bench-exec-{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="hardbox-bench-") as tmp:
        setup = startup.install(Path(tmp))
        bundle = setup.strict_bundle(Path(tmp) / "bundle", "sleep", "600")
        cid = subprocess.run([*setup.hardbox, "run", "-d", "--profile", "strict", startup.IMAGE, "sleep", "600"],
                             env=setup.env, check=True, capture_output=True, text=True).stdout.strip()
        subprocess.run(["runc", "run", "-d", "--bundle", str(bundle), runc_id], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        before: list[tuple[startup.Install, str]] = []
        try:
            exec_args = ["exec", cid, "/bin/true"]
            commands: dict[str, startup.Command] = {
                "`hardbox exec` into a strict container (venv)": [*setup.hardbox, *exec_args],
                "`runc exec` (bundle from `hardbox bundle --profile strict`)": ["runc", "exec", runc_id, "/bin/true"],
            }
            if args.before:
                old = startup.install(Path(tmp) / "before", args.before)
                old_cid = subprocess.run([*old.hardbox, "run", "-d", "--profile", "strict", startup.IMAGE, "sleep",
                                          "600"], env=old.env, check=True, capture_output=True, text=True).stdout.strip()
                before.append((old, old_cid))
                # `env` sets that install's store: one environment serves every command.
                commands[f"`hardbox exec` at {args.before} (its own venv and store)"] = [
                    "env", f"HARDBOX_ROOT={old.env['HARDBOX_ROOT']}", *old.hardbox, "exec", old_cid, "/bin/true"]
            commands.update(startup.split_rows(setup, exec_args, "exec"))
            report = startup.measure(commands, setup.env, args.rounds)
        finally:
            subprocess.run(["runc", "delete", "-f", runc_id], check=False)
            subprocess.run([*setup.hardbox, "rm", "-f", cid], env=setup.env, check=False, stdout=subprocess.DEVNULL)
            for old, old_cid in before:
                subprocess.run([*old.hardbox, "rm", "-f", old_cid], env=old.env, check=False,
                               stdout=subprocess.DEVNULL)
    startup.print_report("/bin/true exec'd into a running strict busybox container", report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
