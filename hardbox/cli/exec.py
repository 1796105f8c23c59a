"""``hardbox exec [-i] [-t] [-u USER] [-e K=V] [-w DIR] CONTAINER CMD [ARG...]``.

Thin: parse Docker-named options and hand them to ``hardbox.runtime.exec``, which runs the
command inside a running container with that container's own hardening.
"""

from __future__ import annotations

from hardbox.cli.optable import APPEND, STORE_TRUE, Option, Positional

TYPE_CHECKING = False  # typing's own name would load typing (start-up, issue 14)
if TYPE_CHECKING:
    import argparse
    from typing import Any

DESCRIPTION = """\
Run CMD inside the running container CONTAINER (an id prefix or --name), and pass its exit
status through.

The process joins every namespace of the container (its user namespace first), its cgroup
and its root, and gets the container's own hardening and never more: the same seccomp
filter, capabilities, no_new_privs, rlimits and SELinux label as the container's PID 1. It
gets no descriptor, working directory or environment of the caller's (only what -e passes).
"""
EPILOG = """\
examples:
  hardbox exec web ps
  hardbox exec -it web sh
  hardbox exec -u nobody -w /tmp -e DEBUG=1 web env

exit status: the command's (128+N if killed by signal N); 125 hardbox could not exec (a
stopped container, a bad option), 126 the command is not executable, 127 not found.
"""


# exec's command line, declared once: cli/optable.py builds the argparse parser from it and
# cli/quickparse.py reads a well-formed line from it without argparse (start-up, issue 14).
OPTIONS = (
    Option(("-i", "--interactive"), STORE_TRUE, help="keep stdin open"),
    Option(("-t", "--tty"), STORE_TRUE, help="allocate a new pty for the process"),
    Option(("-u", "--user"), help="name|uid[:group|gid], from the container's /etc/passwd"),
    Option(("-e", "--env"), APPEND, metavar="NAME[=VALUE]",
           help="set an environment variable (NAME alone takes it from hardbox's environment)"),
    Option(("-w", "--workdir"), help="working directory inside the container"),
    Positional("container", "CONTAINER"),
    Positional("command", "CMD [ARG...]", remainder=True),
)


def register(subparsers: Any) -> None:
    from hardbox.cli.optable import add_arguments
    from hardbox.cli.options import add_command

    # usage_exit_code 125: exec passes the command's status through, as run does.
    p = add_command(subparsers, "exec", None, help="run a command in a running container",
                    description=DESCRIPTION, epilog=EPILOG, usage_exit_code=125)
    add_arguments(p, OPTIONS)
    p.set_defaults(_parser=p, **DEFAULTS)


def handle(args: argparse.Namespace) -> int:
    """Every failure of hardbox's own exits 125, 126 or 127."""
    from hardbox.errors import HardboxError, UsageError

    try:
        command = list(args.command)
        if command and command[0] == "--":
            command = command[1:]
        if not command:
            raise UsageError("no command given", "give a command after CONTAINER")
        for item in args.env:
            if not item.partition("=")[0]:
                raise UsageError(f"--env {item!r}: empty variable name")
        if args.workdir is not None and not args.workdir.startswith("/"):
            raise UsageError(f"--workdir {args.workdir!r}: must be an absolute path")
        from hardbox.runtime.exec import ExecRequest, exec_in

        return exec_in(ExecRequest(
            container=args.container, argv=tuple(command), env=tuple(args.env), user=args.user,
            workdir=args.workdir, tty=args.tty, interactive=args.interactive,
        ))
    except HardboxError as err:
        if err.exit_code not in (125, 126, 127):
            err.exit_code = 125
        raise


# What an exec line sets besides its options (argparse's set_defaults; cli/main.py's quick
# reader too): the handler, os._exit once it returns (see run() in cli/main.py), and 125
# for a failure of the system's that no layer explained (main(): 2 is a workload's status).
DEFAULTS = {"func": handle, "quick_exit": True, "failure_exit_code": 125}
