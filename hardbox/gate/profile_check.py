"""Can this image run under a hardbox profile? A static check of the image config against
what the profile forbids, and with a probe command a real run under that profile.

Static checks (each a ``HB-GATE-007`` finding naming the profile field). An image that runs
as uid 0 is not one of them: no profile refuses it — hardbox runs the image's root user as
container root inside the user namespace, an unprivileged host uid (``forbid: [root-user]``
in a gate policy is how a team refuses root images):
- a port below 1024 is exposed but ``CAP_NET_BIND_SERVICE`` is not granted: binding fails,
  because the container's network namespace keeps the kernel default
  ``net.ipv4.ip_unprivileged_port_start=1024`` (ip-sysctl.rst).
- ports are exposed but ``network: none``: nothing outside the container can reach them.
- ``read_only_root`` and the image declares VOLUMEs: those paths are read-only unless a
  writable volume is mounted there (hardbox, like `docker run --read-only`, creates no
  anonymous volumes), and an image declares a VOLUME because it writes there.

The probe (``HB-GATE-008``) runs ``hardbox run --rm --profile P --entrypoint /bin/sh IMAGE -c
CMD`` as a subprocess — the path a user takes, and the way ``minimize --probe`` runs its
probes (``runtime/probe_command``) — and fails unless it exits 0. The probe replaces the
image's ENTRYPOINT: handed to it as arguments, ``ENTRYPOINT ["/bin/true"]`` passed any probe.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

from hardbox.findings import Finding, Severity
from hardbox.gate.rules import Callback, GateRule, gate_finding
from hardbox.gate.subject import Subject
from hardbox.runtime import probe_command
from hardbox.runtime.profile.load import load_profile

if TYPE_CHECKING:
    from hardbox.runtime.profile.load import Profile

PROBE_TIMEOUT = 300  # seconds; a probe is a smoke test, not a workload


def static_violations(profile: Profile, subject: Subject) -> list[Finding]:
    out: list[Finding] = []
    p = profile.name

    def add(title: str, fix: str) -> None:
        out.append(gate_finding("HB-GATE-007", title, fix, extra={"profile": p}))

    low = sorted({port for port in subject.exposed_ports if _port_number(port) < 1024})
    if low and "CAP_NET_BIND_SERVICE" not in profile.capabilities:
        add(f"exposes privileged port(s) {', '.join(low)} but profile {p} does not grant CAP_NET_BIND_SERVICE",
            "listen on a port of 1024 or above (8080, 8443) and map it when publishing")
    if subject.exposed_ports and profile.network == "none":
        add(f"exposes {', '.join(sorted(subject.exposed_ports))} but profile {p} has no network (network: none)",
            "run a network service under a profile with network: private")
    if profile.read_only_root:
        for volume in sorted(subject.volumes):
            add(f"VOLUME {volume} is read-only under profile {p} (read_only_root)",
                f"mount a writable volume there when running: -v SRC:{volume}:rw")
    return out


def _port_number(spec: str) -> int:
    number = spec.split("/", 1)[0].split("-", 1)[0]
    return int(number) if number.isdigit() else 65536


def probe(profile_name: str, image: str, command: str, timeout: int = PROBE_TIMEOUT) -> list[Finding]:
    """Run ``command`` (shell text) in ``image`` under the profile as the container's whole
    command; a violation unless it exits 0."""
    shell = probe_command.shell_probe(command)
    argv = probe_command.run_argv(image, shell, profile_name)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return [gate_finding("HB-GATE-008", f"probe `{command}` under profile {profile_name} did not finish in {timeout}s",
                             "make the probe a quick smoke test", extra={"profile": profile_name})]
    if proc.returncode == 0:
        return []
    tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-5:]
    return [gate_finding(
        "HB-GATE-008", f"probe `{command}` under profile {profile_name} exited {proc.returncode}",
        f"reproduce with: {probe_command.reproduce(image, shell, profile_name)}",
        Severity.HIGH, detail="\n".join(tail), extra={"profile": profile_name, "exit_code": proc.returncode},
    )]  # fmt: skip


def profile_rules(profile_name: str, probe_command: str | None, image_ref: str) -> list[GateRule]:
    """The static rule, and the probe rule when a probe command is given."""
    profile = load_profile(profile_name)  # InputError (exit 2) for a bad or unknown profile
    rules: list[GateRule] = [Callback(
        f"profile.{profile.name}", f"runs under profile {profile.name} (static check)",
        lambda subject: static_violations(profile, subject),
    )]  # fmt: skip
    if probe_command:
        rules.append(Callback(
            f"profile.{profile.name}.probe", f"probe `{probe_command}` exits 0 under profile {profile.name}",
            lambda _subject: probe(profile_name, image_ref, probe_command),
        ))  # fmt: skip
    return rules
