"""``hardbox profile``: list, show, validate, diff and export hardening profiles, and write
a SELinux policy module for an image."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hardbox.cli.options import add_command, add_group, add_json_flag

# The export formats, spelled here so that building the parser imports no runtime code
# (every `hardbox` start builds it); a test checks they match hardbox.runtime.profile.export.FORMATS.
EXPORT_FORMATS = ("oci", "docker", "k8s", "spo")

_DESCRIPTION = """\
A profile is the set of hardening steps `hardbox run` applies: user namespace, capabilities,
no_new_privs, seccomp, SELinux, network, read-only root, masked paths, cgroup limits,
rlimits. Profiles are YAML (policies/profiles/NAME.yaml, or any file), may `extends:`
another, and are validated against a schema. See docs/writing-a-profile.md."""

_EPILOG = """\
examples:
  hardbox profile list                           the shipped profiles
  hardbox profile show strict --json             every resolved field, as JSON
  hardbox profile validate ./web.yaml            check a file; errors name file:line: field
  hardbox profile diff default strict            what strict changes
  hardbox profile export strict --format k8s -o deploy/
                                                 Pod securityContext + Localhost seccomp
  hardbox profile export strict --format spo     SeccompProfile, RawSelinuxProfile, Pod (SPO)
  hardbox profile export default --format docker docker/podman run flags + seccomp JSON
  hardbox profile export strict --format oci     OCI runtime config.json fragment
  hardbox profile selinux nginx -o nginx.cil     udica-style CIL module for an image
  hardbox profile record -o web.yaml --duration 10s --probe 'wget -qO- localhost' web
                                                 a seccomp allowlist from a real run"""


def register(subparsers: Any) -> None:
    sub = add_group(subparsers, "profile", help="list, show, validate, diff and export hardening profiles",
                    description=_DESCRIPTION, epilog=_EPILOG)

    p = add_command(sub, "list", cmd_list, help="list the shipped profiles")
    add_json_flag(p, "print [{name, description, source}] as JSON")

    p = add_command(sub, "show", cmd_show, help="show a profile with extends resolved")
    p.add_argument("name", metavar="NAME", help="a shipped profile name or a YAML file path")
    add_json_flag(p, "print the resolved profile as JSON")

    p = add_command(
        sub, "validate", cmd_validate,
        help="check a profile file (schema, extends, strict rules, seccomp JSON)",
        description="Exit 0 and print 'ok' when FILE is a valid profile; otherwise exit 2 "
        "with one line naming the file, the line and the field.",
    )
    p.add_argument("file", metavar="FILE")

    p = add_command(sub, "diff", cmd_diff, help="fields that differ between two profiles")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    add_json_flag(p, "print {field: {a, b}} as JSON")

    p = add_command(
        sub, "export", cmd_export,
        help="export a profile for OCI runtimes, docker/podman or Kubernetes",
        description="oci: a runtime-spec config.json fragment. docker: `docker run` and "
        "`podman run` flags plus a Docker-format seccomp JSON. k8s: a Pod with pod and "
        "container securityContext plus a Localhost seccomp profile (copy it to "
        "/var/lib/kubelet/seccomp/hardbox/NAME.json on each node). spo: Security Profiles Operator "
        "resources (SeccompProfile, RawSelinuxProfile) and the Pod referring to them, one YAML "
        "stream for kubectl apply (docs/kubernetes.md).",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    p.add_argument("-o", "--output", metavar="DIR", help="write the files into DIR (default: print them)")

    # Runs a workload: hardbox's own failures are 125, as for `hardbox run`.
    p = add_command(
        sub, "record", cmd_record, usage_exit_code=125,
        help="record a workload's syscalls into a profile (extends --from)",
        description="Run IMAGE [CMD...] under the --from profile with its syscalls logged (strace), "
        "write OUTPUT extending --from with a seccomp allowlist of exactly the calls made (in "
        "OUTPUT's sibling NAME.seccomp.json, Docker's format), re-run the workload under it, and "
        "keep the files only if the output and exit status are the same. Exit 125 when hardbox "
        "fails, as for `hardbox run`.",
    )
    p.add_argument("--from", dest="base", default="default", metavar="NAME",
                   help="the profile to start from and extend (default: default)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the profile to write (NAME.yaml)")
    p.add_argument("--duration", metavar="TIME", help="stop the workload after this long (30s, 2m, 1.5)")
    p.add_argument("--probe", metavar="CMD", help="a shell command exec'd into the container while it runs")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="CMD [ARG...]")

    p = add_command(
        sub, "selinux", cmd_selinux,
        help="write a udica-style SELinux CIL module for an image",
        description="Generate a CIL policy module for containers of IMAGE under a profile: "
        "it inherits hardbox's container templates (policies/selinux/templates.cil) and "
        "allows the profile's capabilities, the image's exposed ports and the volumes.",
    )
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--profile", default="default", help="profile name or file (default: default)")
    p.add_argument("-v", "--volume", action="append", default=[], metavar="SRC:DST[:ro]",
                   help="a bind mount the container will get (repeatable)")
    p.add_argument("--selinux-policy", metavar="FILE", default=None,
                   help="a compiled SELinux policy to take port types from (default: the host's loaded "
                        "policy when SELinux is on and setools is installed, else hardbox's table of the "
                        "reference policy's port types: 22 is ssh_port_t, 8080 http_cache_port_t)")
    p.add_argument("-o", "--output", default="-", metavar="FILE", help="write here (- = stdout)")


def cmd_list(args: argparse.Namespace) -> int:
    from hardbox.cli.output import print_json
    from hardbox.runtime.profile.load import list_profiles, load_profile

    profiles = [load_profile(name) for name in list_profiles()]
    if args.json:
        print_json([{"name": p.name, "description": p.description, "source": p.source} for p in profiles])
        return 0
    width = max(len(p.name) for p in profiles)
    for p in profiles:
        sys.stdout.write(f"{p.name:<{width}}  {p.description}\n")
    return 0


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value and key != "rlimits":
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    if value is None:
        return "(unset)"
    return str(value)


def cmd_show(args: argparse.Namespace) -> int:
    from hardbox.cli.output import print_json
    from hardbox.runtime.profile.load import load_profile

    profile = load_profile(args.name)
    data = profile.to_dict()
    if args.json:
        print_json(data)
        return 0
    for key, value in _flatten(data).items():
        sys.stdout.write(f"{key:<22} {_fmt(value)}\n")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from hardbox.errors import InputError
    from hardbox.runtime.profile.load import load_profile

    path = Path(args.file)
    if not path.is_file():
        raise InputError(f"profile file {path} does not exist or is not a file")
    profile = load_profile(str(path))
    sys.stdout.write(f"{path}: ok (profile {profile.name}, extends {' -> '.join(profile.chain)})\n")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from hardbox.cli.output import print_json
    from hardbox.runtime.profile.load import load_profile

    ignore = {"name", "source", "description", "extends", "weakenings"}
    a = _flatten(load_profile(args.a).to_dict())
    b = _flatten(load_profile(args.b).to_dict())
    changed = {k: {"a": a.get(k), "b": b.get(k)} for k in sorted(a.keys() | b.keys())
               if k not in ignore and a.get(k) != b.get(k)}
    if args.json:
        print_json(changed)
        return 0
    for key, values in changed.items():
        sys.stdout.write(f"{key}:\n  - {args.a}: {_fmt(values['a'])}\n  + {args.b}: {_fmt(values['b'])}\n")
    if "seccomp" in changed:
        sys.stdout.write(f"seccomp: {args.a} allows {_syscall_count(args.a)} syscalls, "
                         f"{args.b} {_syscall_count(args.b)}\n")
    if not changed:
        sys.stdout.write("no differences\n")
    return 0


def _syscall_count(name: str) -> int | str:
    """How many syscalls a profile's seccomp policy lets through on this host (with or
    without argument filters), for its own capabilities."""
    from hardbox.runtime.profile.load import load_profile
    from hardbox.runtime.profile.recorded import allowed_names

    profile = load_profile(name)
    if profile.seccomp is None:
        return "all"
    return len(allowed_names(profile.seccomp, profile.capabilities))


def cmd_record(args: argparse.Namespace) -> int:
    from hardbox.errors import HardboxError, UsageError

    try:
        from hardbox.runtime.record import RecordRequest, record

        command = list(args.command)
        if command and command[0] == "--":
            command = command[1:]
        output = Path(args.output)
        if output.suffix not in (".yaml", ".yml"):
            raise UsageError(f"-o {args.output}: the profile file must end in .yaml")
        if not output.parent.is_dir():
            raise UsageError(f"-o {args.output}: directory {output.parent} does not exist")
        result = record(RecordRequest(
            image=args.image, command=tuple(command), output=output, base=args.base,
            duration=_seconds(args.duration) if args.duration is not None else None, probe=args.probe,
        ))
    except HardboxError as err:
        if err.exit_code not in (125, 126, 127):
            err.exit_code = 125
        raise
    for note in result.notes:
        sys.stderr.write(f"hardbox: note: {note}\n")
    sys.stdout.write(f"wrote {result.profile} and {result.seccomp}: {result.syscalls} syscalls allowed "
                     f"(strict allows {_syscall_count('strict')}); verified by a second run\n")
    return 0


def _seconds(text: str) -> float:
    """30s, 2m, 1h, or a plain number of seconds."""
    from hardbox.errors import UsageError

    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], units[text[-1]]) if text and text[-1] in units else (text, 1)
    try:
        value = float(number) * unit
    except ValueError:
        raise UsageError(f"--duration {text!r}: expected a time such as 30s, 2m or 1.5") from None
    if not 0 < value <= 24 * 3600:
        raise UsageError(f"--duration {text!r}: must be more than 0 and at most 24h")
    return value


def cmd_export(args: argparse.Namespace) -> int:
    from hardbox.cli.output import write_output
    from hardbox.runtime.profile.export import export
    from hardbox.runtime.profile.load import load_profile

    files = export(load_profile(args.name), args.format)
    if args.output:
        for name, text in files.items():
            write_output(str(Path(args.output) / name), text)
            sys.stderr.write(f"wrote {Path(args.output) / name}\n")
        return 0
    for name, text in files.items():
        if len(files) > 1:
            sys.stdout.write(f"--- {name}\n")
        sys.stdout.write(text)
    return 0


def cmd_selinux(args: argparse.Namespace) -> int:
    from hardbox.cli.output import write_output
    from hardbox.errors import UsageError
    from hardbox.image.source import open_image
    from hardbox.image.store.store import Store
    from hardbox.runtime.profile.load import load_profile
    from hardbox.runtime.profile.selinux_cil import Volume, host_path_type, policy_cil
    from hardbox.runtime.profile.selinux_ports import for_host

    volumes = []
    for spec in args.volume:
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1] or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
            raise UsageError(f"--volume {spec}: expected SRC:DST[:ro|rw]")
        volumes.append(Volume(parts[0], parts[1], len(parts) == 3 and parts[2] == "ro", host_path_type(parts[0])))
    profile = load_profile(args.profile)
    ports = for_host(Path(args.selinux_policy) if args.selinux_policy else None)
    with open_image(args.image, Store.open()) as image:
        name = image.tags[0] if image.tags else args.image
        text = policy_cil(image.config, profile, name=name, volumes=volumes, ports=ports)
    write_output(args.output, text)
    return 0
