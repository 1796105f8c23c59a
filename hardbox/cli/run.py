"""``hardbox run [OPTIONS] IMAGE [CMD [ARG...]]``: start a stored image under a profile.

Thin: parse Docker-named options, fold them into the profile, hand the request to
``hardbox.runtime.container``. Everything after IMAGE is the container's command (a ``--``
is accepted, never required). Only what starting needs is imported, and only here, inside
the handler.
"""

from __future__ import annotations

import sys

from hardbox.cli.optable import APPEND, STORE_TRUE, Option, Positional

TYPE_CHECKING = False  # typing's own name would load typing (start-up, issue 14)
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from hardbox.runtime.net.options import NetworkOptions
    from hardbox.runtime.profile.options import RunOptions
    from hardbox.runtime.request import ImageInput
    from hardbox.runtime.spec import ProfileSpec

DESCRIPTION = """\
Start IMAGE in a new container, hardened by a profile, and pass its exit status through.

Every run gets its own user namespace (container root is an unprivileged host uid), mount,
pid, uts, ipc, cgroup and network namespaces, an overlay root over the image's layers,
a masked /proc, a minimal /dev, no_new_privs, exactly the profile's capabilities and its
seccomp filter (installed last). `--explain` prints all of that without starting anything.

Profiles: `default` (Docker's defaults, hardened) and `strict` (no capabilities, read-only
root, no network, noexec /tmp; refuses --cap-add, --network host and higher limits), or a
YAML file (see `hardbox profile list`).
"""
EPILOG = """\
examples:
  hardbox run busybox echo hi
  hardbox run --profile strict --rm busybox sh -c 'id; cat /proc/self/status'
  hardbox run -d --name web -v /srv/site:/www:ro myimage
  hardbox run -d -p 8080:80 nginx        (127.0.0.1:8080 on the host; docs/networking.md)
  hardbox run --explain --profile strict busybox

exit status: the container's (128+N if killed by signal N); 125 hardbox could not start
it (a bad option, profile or image included: as with `docker run`, 2 could be the
container's own status), 126 the command is not executable, 127 the command was not found.
"""


# run's command line, declared once: cli/optable.py builds the argparse parser from it and
# cli/quickparse.py reads a well-formed line from it without argparse (start-up, issue 14).
OPTIONS = (
    Option(("--profile",), default="default", help="profile name or YAML file (default: default)"),
    Option(("--explain",), STORE_TRUE, help="print the hardening steps and exit"),
    Option(("--json",), STORE_TRUE, help="with --explain: print JSON"),
    Option(("-e", "--env"), APPEND, metavar="NAME[=VALUE]",
           help="set an environment variable (NAME alone takes it from hardbox's environment)"),
    Option(("-u", "--user"), help="name|uid[:group|gid], from the image's /etc/passwd"),
    Option(("-w", "--workdir"), help="working directory inside the container"),
    Option(("-v", "--volume"), APPEND, metavar="SRC:DST[:OPTS]",
           help="bind-mount an absolute host path (read-only by default under strict); OPTS, "
           "comma-separated: ro, rw, idmap (container root writes as the host owner), "
           "U (chown SRC to container root)"),
    Option(("--entrypoint",), help="override the image's entrypoint ('' clears it)"),
    Option(("--name",), default="", help="a name for `hardbox ps`/`stop`/`rm`"),
    Option(("--hostname",), help="the container's hostname (default: short id)"),
    Option(("--read-only",), STORE_TRUE, help="mount the root read-only"),
    Option(("--network",), choices=("none", "private", "host"),
           help="none: own namespace, only lo; private: own namespace with a pasta uplink "
           "(default profile); host: the host's (refused by strict)"),
    Option(("-p", "--publish"), APPEND, metavar="[IP:]HOSTPORT:PORT[/udp]",
           help="publish a container port; without IP it binds 127.0.0.1 only, safer than "
           "Docker's all interfaces (write 0.0.0.0: for those)"),
    Option(("-P", "--publish-all"), STORE_TRUE,
           help="publish every EXPOSEd port of the image on a free port of 127.0.0.1"),
    Option(("--dns",), APPEND, metavar="IP",
           help="a resolver for the container's /etc/resolv.conf (default: the host's)"),
    Option(("--add-host",), APPEND, metavar="NAME:IP",
           help="add NAME to /etc/hosts; NAME:host-gateway reaches the host's loopback"),
    Option(("--memory",), help="memory limit, e.g. 256m"),
    Option(("--pids-limit",), type=int, help="maximum number of tasks"),
    Option(("--cpus",), type=float, help="CPU quota, e.g. 0.5"),
    Option(("--cap-add",), APPEND, help="add a capability (refused by strict)"),
    Option(("--cap-drop",), APPEND, help="drop a capability (ALL for all)"),
    Option(("--rm",), STORE_TRUE, help="remove the container when it exits"),
    Option(("-d", "--detach"), STORE_TRUE, help="run in the background; print the id"),
    Option(("-i", "--interactive"), STORE_TRUE, help="keep stdin open"),
    Option(("-t", "--tty"), STORE_TRUE, help="allocate a new pty for the container"),
    Option(("--init",), STORE_TRUE, help="run a reaping PID 1 that forwards signals"),
    # As cli/inputs.add_pull_arguments declares them; spelled out here so that building
    # run's parser loads no other module (start-up time, tests/unit/test_cli_frame.py).
    Option(("--pull",), choices=("missing", "always", "never"), default="missing", env="HARDBOX_PULL",
           help="pull a registry image when it is not stored (missing, the default), "
           "every time (always), or never; $HARDBOX_PULL sets the default"),
    Option(("--tls-verify",), choices=("true", "false"), default="true",
           help="verify the registry's TLS certificate (default true)"),
    Positional("image", "IMAGE", help="a stored image, or docker://REF (a registry "
               "image; so is a name the store lacks), pulled into the store per --pull"),
    Positional("command", "CMD [ARG...]", remainder=True),
)


def register(subparsers: Any) -> None:
    from hardbox.cli.optable import add_arguments
    from hardbox.cli.options import add_command

    p = add_command(subparsers, "run", None, help="run an image in a hardened container",
                    description=DESCRIPTION, epilog=EPILOG, usage_exit_code=125)  # see Parser in cli/parser.py
    add_arguments(p, OPTIONS)
    p.set_defaults(_parser=p, **DEFAULTS)


def handle(args: argparse.Namespace) -> int:
    """Run the container; every failure of hardbox's own exits 125, 126 or 127."""
    from hardbox.errors import HardboxError

    try:
        return _handle(args)
    except HardboxError as err:
        if err.exit_code not in (125, 126, 127):
            err.exit_code = 125
        raise


# What a run line sets besides its options (argparse's set_defaults; cli/main.py's quick
# reader too): the handler, os._exit once it returns (see run() in cli/main.py), and 125
# for a failure of the system's that no layer explained (main(): 2 is a workload's status).
DEFAULTS = {"func": handle, "quick_exit": True, "failure_exit_code": 125}


def _handle(args: argparse.Namespace) -> int:
    from hardbox.errors import UsageError

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    _check_options(args)
    if args.json and not args.explain:
        raise UsageError("--json only goes with --explain")
    if args.explain:
        return _explain(args)
    if args.detach and (args.tty or args.interactive):
        raise UsageError("-d cannot be combined with -t or -i (hardbox has no attach)")
    network = _network_options(args)
    spec, image = _resolve(args, network)
    from hardbox.runtime.mounts import Volume
    from hardbox.runtime.request import RunRequest

    request = RunRequest(
        image=image,
        profile=spec,
        command=tuple(command),
        entrypoint=args.entrypoint,
        env=tuple(args.env),
        user=args.user,
        workdir=args.workdir,
        hostname=args.hostname,
        name=args.name,
        volumes=tuple(Volume.parse(v, read_only_default=spec.volumes_readonly) for v in args.volume),
        tty=args.tty,
        interactive=args.interactive,
        init=args.init,
        auto_remove=args.rm,
        network=network,
    )
    from hardbox.runtime.lifecycle import run_detached, run_foreground

    if args.detach:
        print(run_detached(request))
        return 0
    return run_foreground(request)


def _resolve(args: argparse.Namespace, network: NetworkOptions) -> tuple[ProfileSpec, ImageInput]:
    """The profile's spec and the image, from the run plan cache (runtime/plan_cache.py)
    when neither they nor the options shaping them changed; else resolved, validated and
    cached. --pull always and docker:// names always go to the registry: never cached."""
    from hardbox.runtime import plan_cache

    cacheable = args.pull != "always" and not args.image.startswith("docker://")
    key = plan_cache.key_for(args.profile, _run_options_key(args), args.image)
    found = plan_cache.lookup(key) if cacheable else None
    if found is not None:
        network.check_mode(found[0].network, found[0].name)
        return found
    since = plan_cache.read_started()
    spec, image, files = _resolve_uncached(args, network)
    if cacheable and spec.egress is None:  # an egress policy is a model object: not serialized
        plan_cache.save(key, spec, image, files, read_since=since)
    return spec, image


def _resolve_uncached(args: argparse.Namespace, network: NetworkOptions) -> tuple[ProfileSpec, ImageInput, list[str]]:
    """Load the profile (options folded in, seccomp compiled) and read the stored image;
    with the files both were read from."""
    from hardbox.cli.inputs import stored_image
    from hardbox.image.store.shifted import recorded_map
    from hardbox.image.store.store import Store
    from hardbox.runtime.plan_cache import image_files
    from hardbox.runtime.profile.load import load_profile_and_files
    from hardbox.runtime.profile.options import apply_options
    from hardbox.runtime.request import ImageInput, refuse_unlockable_masks
    from hardbox.runtime.seccomp import compile_filter
    from hardbox.runtime.spec import from_profile

    loaded, profile_files = load_profile_and_files(args.profile)
    profile, _ = apply_options(loaded, _run_options(args))
    network.check_mode(profile.network, profile.name)
    bpf = compile_filter(profile.seccomp, profile.capabilities) if profile.seccomp is not None else None
    spec = from_profile(profile, bpf)
    refuse_unlockable_masks(spec)  # before the image is read or pulled: a profile error first
    store = Store.open()
    stored = stored_image(store, args.image, args)
    cfg = stored.config
    image = ImageInput(
        ref=args.image, id=stored.id, layers=tuple(str(layer.path) for layer in stored.layers),
        user=cfg.user, env=cfg.env, entrypoint=cfg.entrypoint, cmd=cfg.cmd,
        working_dir=cfg.working_dir, shift=recorded_map(store), exposed_ports=cfg.exposed_ports,
    )
    files = [*profile_files, *image_files(
        str(store.root), str(store.record_path(stored.manifest_digest)),
        (str(store.blob_path(stored.manifest_digest)), str(store.blob_path(stored.id))),
        (str(p) for p in image.layers), str(store.shift_file))]
    return spec, image, files


def _run_options(args: argparse.Namespace) -> RunOptions:
    """The options the profile folds in (profile.options.apply_options)."""
    from hardbox.runtime.profile.options import RunOptions

    options: dict[str, Any] = dict(_run_options_key(args))
    return RunOptions(**options)


def _run_options_key(args: argparse.Namespace) -> tuple[tuple[str, object], ...]:
    """The one place the options the profile folds in are read from the command line: they
    build RunOptions and key the run plan cache, so an option added to one is in both."""
    return (("cap_add", tuple(args.cap_add)), ("cap_drop", tuple(args.cap_drop)), ("network", args.network),
            ("read_only", args.read_only), ("memory", args.memory), ("pids_limit", args.pids_limit),
            ("cpus", args.cpus))


def _network_options(args: argparse.Namespace) -> NetworkOptions:
    from hardbox.runtime.net.options import NetworkOptions

    return NetworkOptions.parse(args.publish, args.publish_all, args.dns, args.add_host)


def _check_options(args: argparse.Namespace) -> None:
    """What can be judged before anything starts: fail with exit 2, not 125 later."""
    from hardbox.errors import UsageError

    for item in args.env:
        if not item.partition("=")[0]:
            raise UsageError(f"--env {item!r}: empty variable name")
    if args.hostname is not None and not valid_hostname(args.hostname):
        raise UsageError(f"--hostname {args.hostname!r}: not a valid host name (letters, digits, '-', '.'; at most 64)")
    if args.name and not valid_name(args.name):
        raise UsageError(f"--name {args.name!r}: use letters, digits, '_', '.', '-'")
    if args.workdir is not None and not args.workdir.startswith("/"):
        raise UsageError(f"--workdir {args.workdir!r}: must be an absolute path")


# ASCII only, as the regular expressions these rules were first written in ([A-Za-z0-9]):
# str.isalnum() would let any Unicode letter or digit through. Checked without `re`, which
# a run does not otherwise load (start-up, issue 14).
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_HOST_CHARS = _ALNUM | frozenset(".-")
_NAME_CHARS = _ALNUM | frozenset("_.-")


def valid_hostname(name: str) -> bool:
    """An RFC 1123 host name of at most 64 bytes (sethostname(2), HOST_NAME_MAX): letters,
    digits, '-' and '.', beginning and ending with a letter or digit."""
    return (0 < len(name) <= 64 and name[0] in _ALNUM and name[-1] in _ALNUM
            and all(c in _HOST_CHARS for c in name))


def valid_name(name: str) -> bool:
    """A container name: a letter or digit, then up to 127 letters, digits, '_', '.', '-'."""
    return 0 < len(name) <= 128 and name[0] in _ALNUM and all(c in _NAME_CHARS for c in name)


def _explain(args: argparse.Namespace) -> int:
    from hardbox.cli.output import print_json
    from hardbox.runtime.profile.explain import explain, render
    from hardbox.runtime.profile.load import load_profile
    from hardbox.runtime.profile.options import apply_options

    profile, _ = apply_options(load_profile(args.profile), _run_options(args))
    _network_options(args).check_mode(profile.network, profile.name)

    report = explain(profile, volumes=tuple(args.volume), init=args.init, tty=args.tty,
                     net_options=_network_options(args))
    if args.json:
        print_json(report)
    else:
        sys.stdout.write(render(report))
    return 0

