"""``hardbox ps | logs | stop | rm``: manage containers started by ``hardbox run``.

``ps --json`` prints a list of container states, each with the stable keys of
``hardbox.runtime.state.ContainerState``: id, name, image, image_id, profile, command,
created, status (created | running | exited | stale), pid, exit_code, oom_killed, cgroup,
mounts, skipped, weakenings, log, ports (published, as ``127.0.0.1:8080->80/tcp``) and
uplink_pid (the pasta process of ``--network private``, 0 without one). ``stale`` means the container's recorded PID 1 is gone
while nothing recorded its end (hardbox was killed); ``hardbox rm`` cleans those up.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from hardbox.cli.options import add_command, add_json_flag


def register(subparsers: Any) -> None:
    ps = add_command(
        subparsers, "ps", _ps, help="list containers",
        description="List running and stale containers (-a: exited ones too). A stale container "
        "was left by a hardbox that was killed; `hardbox rm` cleans its cgroup and state.",
    )
    ps.add_argument("-a", "--all", action="store_true", help="include exited containers")
    add_json_flag(ps, "print the container states as JSON")

    logs = add_command(
        subparsers, "logs", _logs, help="print a detached container's output",
        description="Print what a container started with `hardbox run -d` wrote to stdout and "
        "stderr (one stream, in the order written).",
        epilog="examples: hardbox logs web; hardbox logs --tail 20 -f web",
    )
    logs.add_argument("-f", "--follow", action="store_true",
                      help="keep printing what the container writes, until it exits")
    logs.add_argument("-n", "--tail", metavar="N", default="all", type=_tail_lines,
                      help="only the last N lines (default: all)")
    logs.add_argument("container", metavar="ID|NAME")

    stop = add_command(
        subparsers, "stop", _stop, help="stop a running container",
        description="Send SIGTERM to the container's PID 1, then SIGKILL after --time seconds "
        "(a PID 1 without a SIGTERM handler ignores SIGTERM; run it with --init).",
    )
    stop.add_argument("-t", "--time", type=float, default=10.0, help="seconds before SIGKILL (default 10)")
    stop.add_argument("containers", nargs="+", metavar="ID|NAME")

    rm = add_command(
        subparsers, "rm", _rm, help="remove containers",
        description="Remove exited or stale containers: their state, cgroup and any leftover mount.",
    )
    rm.add_argument("-f", "--force", action="store_true", help="kill a running container first")
    rm.add_argument("containers", nargs="+", metavar="ID|NAME")


def _ps(args: argparse.Namespace) -> int:
    from hardbox.cli.output import print_json
    from hardbox.runtime.state import StateStore

    # Stale ones are listed too: they hold a cgroup and state until `hardbox rm`.
    states = [s for s in StateStore.default().all() if args.all or s.status in ("running", "stale")]
    if args.json:
        print_json([s.to_dict() for s in states])
        return 0
    rows = [("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAME")]
    for s in states:
        status = s.status
        if s.status == "exited":
            status = f"exited ({s.exit_code})" + (" OOM" if s.oom_killed else "")
        rows.append((s.id[:12], s.image, _short(" ".join(s.command)), _ago(s.created), status,
                     ", ".join(s.ports), s.name))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
    return 0


def _tail_lines(value: str) -> int | None:
    """``--tail``: a count of lines, or ``all`` (None), as ``docker logs --tail``."""
    if value == "all":
        return None
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r}: a number of lines, or all")
    return int(value)


def _logs(args: argparse.Namespace) -> int:
    from hardbox.errors import UsageError
    from hardbox.fileio import write_all
    from hardbox.runtime.logs import copy_log, tail_offset
    from hardbox.runtime.state import StateStore

    state = StateStore.default().find(args.container).load()
    if not state.log:
        raise UsageError(f"container {state.id[:12]} has no log", "only `hardbox run -d` keeps one")
    try:
        fd = os.open(state.log, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UsageError(f"container {state.id[:12]}: its log is gone (removed with the container)") from None
    try:
        os.lseek(fd, tail_offset(fd, args.tail), os.SEEK_SET)
        sys.stdout.flush()
        out = sys.stdout.fileno()
        copy_log(fd, lambda chunk: write_all(out, chunk), follow=args.follow)
    finally:
        os.close(fd)
    return 0


def _stop(args: argparse.Namespace) -> int:
    from hardbox.runtime.lifecycle import stop

    for key in args.containers:
        print(stop(key, args.time)[:12])
    return 0


def _rm(args: argparse.Namespace) -> int:
    from hardbox.runtime.lifecycle import remove

    for key in args.containers:
        print(remove(key, force=args.force)[:12])
    return 0


def _short(text: str, width: int = 30) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _ago(created: float) -> str:
    seconds = int(time.time() - created)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"
