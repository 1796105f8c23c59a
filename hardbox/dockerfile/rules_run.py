"""Lint rules about what RUN executes: package installs (cache cleanup, version pins, SSH
servers, upgrades), ``sudo``, and piping a download into a shell.

The script of each RUN is read by ``shell.run_script`` (shell form, exec form or heredoc).
A finding points at the RUN's first line and names the command and packages concerned.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from hardbox.dockerfile.model import LintFinding
from hardbox.dockerfile.parser import Dockerfile, Instruction
from hardbox.dockerfile.rules import RuleBase, all_instructions
from hardbox.dockerfile.shell import Script, SimpleCommand, positional, run_script

_APT = frozenset({"apt-get", "apt"})
_YUM = frozenset({"yum", "dnf", "microdnf", "tdnf"})
_PIP = frozenset({"pip", "pip3"})
_INTERPRETERS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh", "python", "python3", "perl", "ruby", "node"})
_SSH_SERVERS = frozenset({"openssh-server", "openssh", "dropbear", "openssh-server-pam", "tinyssh"})

# Options that take the next word as their value, so it is not a package name.
_APT_VALUE = frozenset({"-o", "-t", "--target-release", "-c", "--config-file"})
_APK_VALUE = frozenset({"-t", "--virtual", "-X", "--repository", "--root", "-p", "--arch", "--keys-dir", "--cache-dir"})
_PIP_VALUE = frozenset(
    {"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-t", "--target", "--prefix",
     "--root", "--platform", "--python-version", "--trusted-host", "--only-binary", "--no-binary",
     "--src", "--cache-dir", "--implementation", "--abi", "--progress-bar", "--log"}
)  # fmt: skip


def _runs(df: Dockerfile) -> Iterator[tuple[Instruction, Script]]:
    for ins in all_instructions(df):
        if ins.cmd == "RUN":
            yield ins, run_script(ins)


def _verb(cmd: SimpleCommand) -> str | None:
    """The subcommand (``install``, ``add``): the first argument that is not an option."""
    for arg in cmd.args:
        if not arg.startswith("-"):
            return arg
    return None


def _pip(cmd: SimpleCommand) -> SimpleCommand | None:
    """``pip install …`` and ``python -m pip install …`` as one shape."""
    if cmd.name in _PIP:
        return cmd
    if cmd.name.startswith("python") and cmd.args[:2] == ("-m", "pip"):
        return SimpleCommand("pip", cmd.args[2:], cmd.wrappers, cmd.piped)
    return None


def _cache_mounted(ins: Instruction, path: str) -> bool:
    """``RUN --mount=type=cache,target=/var/cache/apk``: the cache never reaches the layer."""
    return any(
        key == "mount" and "type=cache" in value and path in value for key, value in ins.flags
    )


def _installed(ins: Instruction, script: Script) -> Iterator[tuple[str, SimpleCommand, list[str]]]:
    """(manager, command, package words) for each install command in a RUN."""
    for cmd in script.commands:
        verb = _verb(cmd)
        if cmd.name in _APT and verb == "install":
            yield "apt", cmd, positional(cmd.args, _APT_VALUE)[1:]
        elif cmd.name == "apk" and verb == "add":
            yield "apk", cmd, positional(cmd.args, _APK_VALUE)[1:]
        elif cmd.name in _YUM and verb == "install":
            yield "yum", cmd, positional(cmd.args, frozenset())[1:]
        elif (pip := _pip(cmd)) is not None and _verb(pip) == "install":
            yield "pip", pip, positional(pip.args, _PIP_VALUE)[1:]


class PackageCache(RuleBase):
    """The package index and downloaded packages stay in the layer: size, and stale metadata."""

    def check(self, df: Dockerfile) -> Iterator[LintFinding]:
        for ins, script in _runs(df):
            seen: set[str] = set()
            for manager, cmd, _ in _installed(ins, script):
                if manager in seen:
                    continue
                problem = _cache_problem(manager, cmd, ins, script.text)
                if problem:
                    seen.add(manager)
                    yield self.at(df, ins.line, problem[0], problem[1])


def _cache_problem(manager: str, cmd: SimpleCommand, ins: Instruction, text: str) -> tuple[str, str] | None:
    if manager == "apt" and not re.search(r"rm\s+-[a-zA-Z]*\s+[^&;|]*/var/lib/apt/lists", text) and not _cache_mounted(ins, "/var/lib/apt"):
        return (
            f"{cmd.name} install leaves the package lists in the layer",
            "end the same RUN with `&& rm -rf /var/lib/apt/lists/*`",
        )
    if manager == "apk" and "--no-cache" not in cmd.args and "/var/cache/apk" not in text and not _cache_mounted(ins, "/var/cache/apk"):
        return ("apk add without --no-cache leaves the package index in the layer", "use `apk add --no-cache`")
    if manager == "yum" and not re.search(rf"{cmd.name}\s+clean\s+all|rm\s+-[a-zA-Z]*\s+[^&;|]*/var/cache/(yum|dnf)", text) and not _cache_mounted(ins, "/var/cache/"):
        return (
            f"{cmd.name} install without `{cmd.name} clean all` leaves its cache in the layer",
            f"end the same RUN with `&& {cmd.name} clean all`",
        )
    return None


def _package_name(word: str) -> str:
    """``curl=7.88`` → ``curl``; ``flask==3.0`` → ``flask``."""
    return re.split(r"[=~<>\[]", word, maxsplit=1)[0]


def _pinned(manager: str, word: str) -> bool:
    if manager == "apt":
        return "=" in word or word.endswith(".deb")
    if manager == "apk":
        return any(op in word for op in ("=", "~", "<", ">")) or word.endswith(".apk")
    # pip: `==`/`===` pins, `name @ url` and paths, archives and VCS URLs name exact content.
    return (
        "==" in word or "@" in word or word.startswith((".", "/", "git+", "http:", "https:", "file:"))
        or word.endswith((".whl", ".tar.gz", ".zip"))
    )  # fmt: skip


class UnpinnedPackages(RuleBase):
    """An unpinned install takes whatever the index holds on build day: builds drift."""

    def check(self, df: Dockerfile) -> Iterator[LintFinding]:
        for ins, script in _runs(df):
            for manager, cmd, packages in _installed(ins, script):
                if manager == "yum":
                    continue  # RPM names carry versions as name-version; not worth guessing
                if manager == "pip" and any(a in ("-r", "--requirement", "-c", "--constraint") or a.startswith(("--requirement=", "--constraint=")) for a in cmd.args):
                    continue  # versions live in the requirements/constraints file
                loose = [p for p in packages if not _pinned(manager, p)]
                if loose:
                    how = {"apt": "pkg=version", "apk": "pkg=version", "pip": "pkg==version"}[manager]
                    yield self.at(
                        df, ins.line, f"{cmd.name} installs {', '.join(loose)} without a version pin",
                        f"pin each package ({how}) so rebuilds install the same software",
                    )  # fmt: skip


class SshServer(RuleBase):
    def check(self, df: Dockerfile) -> Iterator[LintFinding]:
        for ins, script in _runs(df):
            for _, _, packages in _installed(ins, script):
                found = [p for p in packages if _package_name(p) in _SSH_SERVERS]
                if found:
                    yield self.at(
                        df, ins.line, f"installs an SSH server ({', '.join(found)})",
                        "drop the SSH server; get a shell with `kubectl exec`, copy files with a volume or object store",
                    )  # fmt: skip


class Sudo(RuleBase):
    def check(self, df: Dockerfile) -> Iterator[LintFinding]:
        for ins, script in _runs(df):
            if any("sudo" in cmd.wrappers or cmd.name == "sudo" for cmd in script.commands):
                yield self.at(
                    df, ins.line, "RUN uses sudo",
                    "RUN already runs as the current USER; switch with USER root … USER app instead",
                )  # fmt: skip
            for _, _, packages in _installed(ins, script):
                if "sudo" in map(_package_name, packages):
                    yield self.at(
                        df, ins.line, "installs sudo, a setuid-root way back to root",
                        "do not install sudo in an image",
                    )  # fmt: skip


_SUBST_DOWNLOAD = re.compile(r"[<$]\(\s*(curl|wget)\b")


class PipeToShell(RuleBase):
    """``curl … | sh`` runs whatever the server sends, unverified, as the build user."""

    def check(self, df: Dockerfile) -> Iterator[LintFinding]:
        for ins, script in _runs(df):
            cmds = script.commands
            piped = any(
                a.name in ("curl", "wget") and a.piped and b.name in _INTERPRETERS
                for a, b in itertools.pairwise(cmds)
            )
            substituted = any(c.name in _INTERPRETERS for c in cmds) and _SUBST_DOWNLOAD.search(script.text)
            if piped or substituted:
                yield self.at(
                    df, ins.line, "downloads a script and runs it unverified (curl | sh)",
                    "download to a file, verify its sha256 (sha256sum -c), then run it",
                )  # fmt: skip


@dataclass(frozen=True)
class Upgrade(RuleBase):
    def check(self, df: Dockerfile) -> Iterator[LintFinding]:
        for ins, script in _runs(df):
            for cmd in script.commands:
                verb = _verb(cmd)
                if (cmd.name in _APT and verb in ("upgrade", "dist-upgrade", "full-upgrade")) or (
                    cmd.name == "apk" and verb == "upgrade"
                ) or (cmd.name in _YUM and verb in ("upgrade", "update")):
                    yield self.at(
                        df, ins.line, f"{cmd.name} {verb} in the build makes the image differ from its base unpredictably",
                        "rebuild on a newer base image tag instead of upgrading inside the build",
                    )  # fmt: skip
                    break


class NoInstallRecommends(RuleBase):
    """``apt-get install`` without ``--no-install-recommends`` pulls in every recommended
    package too: a larger image with more to patch (hadolint DL3015)."""

    def check(self, df: Dockerfile) -> Iterator[LintFinding]:
        for ins, script in _runs(df):
            for manager, cmd, _ in _installed(ins, script):
                if manager == "apt" and not _no_recommends(cmd.args):
                    yield self.at(
                        df, ins.line, f"{cmd.name} install also installs recommended packages",
                        f"add --no-install-recommends: {cmd.name} install -y --no-install-recommends ...",
                    )  # fmt: skip
                    break


def _no_recommends(args: tuple[str, ...]) -> bool:
    joined = " ".join(args).lower()
    return "--no-install-recommends" in joined or "install-recommends=false" in joined or (
        "install-recommends=0" in joined
    )


_PIPEFAIL = re.compile(r"\bset\s+(?:-[a-zA-Z]*o\s+pipefail|-o\s+pipefail|.*\s-o\s+pipefail)")
_POSIX_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh"})


class Pipefail(RuleBase):
    """A pipe in a shell-form RUN: the step's status is the last command's, so a failed
    ``curl`` in ``curl … | tar x`` still builds (hadolint DL4006)."""

    def check(self, df: Dockerfile) -> Iterator[LintFinding]:
        for stage in df.stages:
            shell_sets_it = False
            for ins in stage.instructions:
                if ins.cmd == "SHELL" and not ins.onbuild:
                    shell = ins.args[0].rsplit("/", 1)[-1] if ins.args else ""
                    # A non-POSIX shell (pwsh, cmd) has no pipefail to ask for.
                    shell_sets_it = shell not in _POSIX_SHELLS or "pipefail" in ins.args
                    continue
                if ins.cmd != "RUN" or ins.exec_form or shell_sets_it:
                    continue
                script = run_script(ins)
                if any(cmd.piped for cmd in script.commands) and not _PIPEFAIL.search(script.text):
                    yield self.at(
                        df, ins.line, "RUN pipes commands without pipefail: a failure before the last `|` is ignored",
                        'set SHELL ["/bin/bash", "-o", "pipefail", "-c"] before it, or start the RUN with set -o pipefail &&',
                    )  # fmt: skip


class CdInsteadOfWorkdir(RuleBase):
    """``RUN cd dir && …`` changes directory for that step only; WORKDIR says it once, for
    every later step and for the container (hadolint DL3003)."""

    def check(self, df: Dockerfile) -> Iterator[LintFinding]:
        for ins, script in _runs(df):
            if any(cmd.name == "cd" for cmd in script.commands):
                yield self.at(
                    df, ins.line, "RUN uses cd to change directory",
                    "use WORKDIR /path before the RUN instead of cd",
                )  # fmt: skip
