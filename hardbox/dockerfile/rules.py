"""Lint rules about instructions themselves: FROM, MAINTAINER, USER, ARG/ENV, ADD, EXPOSE,
ENTRYPOINT and CMD. Rules about what a RUN executes are in ``rules_run``.

Each rule says why it matters in its ``fix``; the ids are stable (see ``model``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from hardbox.dockerfile.model import LintFinding
from hardbox.dockerfile.parser import Dockerfile, Instruction, Stage, expand
from hardbox.dockerfile.secrets import judge_pair, run_secrets, secret_name
from hardbox.findings import Severity


@dataclass(frozen=True)
class RuleBase:
    """``hadolint``: the hadolint rule ids this rule covers, so `# hadolint ignore=DL3008`
    and a hadolint-style `ignored:` list silence it too."""

    id: str
    severity: Severity
    title: str
    hadolint: tuple[str, ...] = field(default=(), kw_only=True)

    def at(self, df: Dockerfile, line: int, message: str, fix: str, severity: Severity | None = None) -> LintFinding:
        return LintFinding(self.id, severity or self.severity, line, message, fix, df.path)


class FromTag(RuleBase):
    """``FROM image`` or ``FROM image:latest``: the build changes when the tag moves."""

    def check(self, df: Dockerfile) -> Iterator[LintFinding]:
        earlier: set[str] = set()
        for stage in df.stages:
            image = stage.base_expanded
            if image is not None and image.lower() != "scratch" and image.lower() not in earlier:
                tag = _tag(image)
                fix = f"pin a version tag, ideally with its digest: FROM {_repo(image)}:<version>@sha256:<digest>"
                if "@" in image:
                    pass  # a digest pins the content whatever the tag says
                elif tag is None:
                    yield self.at(df, stage.from_line, f"FROM {image} has no tag, so it means :latest", fix)
                elif tag == "latest":
                    yield self.at(df, stage.from_line, f"FROM {image} uses the mutable tag latest", fix)
            if stage.name:
                earlier.add(stage.name.lower())


def _repo(image: str) -> str:
    return image.split("@", 1)[0].rsplit(":", 1)[0] if _tag(image) else image.split("@", 1)[0]


def _tag(image: str) -> str | None:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]  # a registry port (host:5000/x) is not a tag
    return last.split(":", 1)[1] if ":" in last else None


class Maintainer(RuleBase):
    def check(self, df: Dockerfile) -> Iterator[LintFinding]:
        for ins in all_instructions(df):
            if ins.cmd == "MAINTAINER":
                who = " ".join(ins.args)
                yield self.at(
                    df, ins.line, "MAINTAINER is deprecated",
                    f'use LABEL org.opencontainers.image.authors="{who}"',
                )  # fmt: skip


_ROOT_USERS = {"root", "0"}


class RootUser(RuleBase):
    """The final stage decides who the container runs as; no USER means root."""

    def check(self, df: Dockerfile) -> Iterator[LintFinding]:
        fix = "create an unprivileged user and end with USER <name or uid> (e.g. USER 10001:10001)"
        found = _last_user(df, df.final)
        if found is None:
            yield self.at(df, df.final.from_line, "no USER instruction: the container runs as root", fix)
            return
        stage, last = found
        # `USER $UID` is judged by the ARG/ENV default it expands to; a variable with no
        # default comes from --build-arg and cannot be judged here.
        user = expand(last.args[0] if last.args else "", df.variables(stage, last.line))
        if user is not None and user.split(":", 1)[0].lower() in _ROOT_USERS:
            yield self.at(df, last.line, f"the last USER is {user}: the container runs as root", fix)


def _last_user(df: Dockerfile, stage: Stage) -> tuple[Stage, Instruction] | None:
    """The USER in force at the end of ``stage``: its own last one, else the one of the earlier
    stage it is built FROM (a stage inherits its base stage's config)."""
    seen: set[int] = set()
    current: Stage | None = stage
    while current is not None and current.index not in seen:
        seen.add(current.index)
        users = [i for i in current.instructions if i.cmd == "USER" and not i.onbuild]
        if users:
            return current, users[-1]
        base = (current.base_expanded or "").lower()
        current = next((s for s in df.stages[: current.index] if s.name and s.name.lower() == base), None)
    return None


class SecretInArgEnv(RuleBase):
    """ARG and ENV values are stored in the image config and history for anyone who pulls it,
    and a RUN line is kept in the history as written. Judged by the scan's detector set."""

    def check(self, df: Dockerfile) -> Iterator[LintFinding]:
        for ins in all_instructions(df):
            if ins.cmd == "RUN":
                for found in run_secrets(ins):
                    yield self.at(
                        df, found.line, f"RUN holds a credential: {found.title} ({found.redacted})",
                        "remove it and rotate it; pass secrets with RUN --mount=type=secret",
                        Severity.CRITICAL,
                    )  # fmt: skip
            if ins.cmd not in ("ARG", "ENV"):
                continue
            for key, value in ins.pairs():
                verdict = judge_pair(key, value) if value else None
                if verdict is not None and verdict.rule is not None:
                    yield self.at(
                        df, ins.line, f"{ins.cmd} {key} holds a credential: {verdict.title} ({verdict.redacted})",
                        "remove it and rotate it; pass secrets with RUN --mount=type=secret",
                        Severity.CRITICAL,
                    )  # fmt: skip
                elif verdict is not None:
                    yield self.at(
                        df, ins.line, f"{ins.cmd} {key} sets a secret-looking value in the image",
                        "pass it at build time with RUN --mount=type=secret, or at run time",
                    )  # fmt: skip
                elif ins.cmd == "ARG" and secret_name(key):
                    # Build args end up in the image history and in build provenance.
                    yield self.at(
                        df, ins.line, f"ARG {key} looks like a secret; build args are recorded in the image history",
                        "use RUN --mount=type=secret,id=... instead of a build arg",
                        Severity.MEDIUM,
                    )  # fmt: skip


# Formats ADD unpacks (Dockerfile reference: identity, gzip, bzip2, xz; BuildKit adds zstd).
_ARCHIVE = re.compile(r"\.(tar|tar\.gz|tgz|tar\.bz2|tbz2?|tar\.xz|txz|tar\.zst|tzst|gz|bz2|xz|zst)$", re.I)
_URL = re.compile(r"^(https?|git|ssh)://|^git@|\.git(#.*)?$", re.I)


class AddInsteadOfCopy(RuleBase):
    def check(self, df: Dockerfile) -> Iterator[LintFinding]:
        for ins in all_instructions(df):
            if ins.cmd != "ADD":
                continue
            sources = list(ins.args[:-1]) if not ins.heredocs else []
            urls = [s for s in sources if _URL.search(s)]
            local = [s for s in sources if s not in urls and not _ARCHIVE.search(s)]
            if urls and ins.flag("checksum") is None:
                yield self.at(
                    df, ins.line, f"ADD downloads {', '.join(urls)} without verifying it",
                    "add --checksum=sha256:<digest>, or fetch in RUN and check the digest",
                )  # fmt: skip
            if local or ins.heredocs:
                what = ", ".join(local) if local else "a heredoc"
                yield self.at(
                    df, ins.line, f"ADD of {what}, where COPY fits",
                    "use COPY: ADD also unpacks archives and fetches URLs, which COPY never does",
                    Severity.LOW,
                )  # fmt: skip


class ExposeSsh(RuleBase):
    def check(self, df: Dockerfile) -> Iterator[LintFinding]:
        for stage in df.stages:
            for ins in stage.instructions:
                if ins.cmd == "EXPOSE":
                    yield from self._ports(df, stage, ins)

    def _ports(self, df: Dockerfile, stage: Stage, ins: Instruction) -> Iterator[LintFinding]:
        env = df.variables(stage, ins.line)
        for port in ins.args:
            value = expand(port, env) or port
            if value.split("/", 1)[0].split("-", 1)[0] == "22":
                yield self.at(
                    df, ins.line, f"EXPOSE {port}: the image offers SSH",
                    "do not run sshd in a container; use `kubectl exec`/`docker exec` to get a shell",
                )  # fmt: skip


@dataclass(frozen=True)
class ShellForm(RuleBase):
    """Shell form runs the command as ``/bin/sh -c …``: sh is PID 1 and does not forward
    SIGTERM, so the process is killed after the grace period instead of stopping cleanly."""

    cmd: str = "ENTRYPOINT"

    def check(self, df: Dockerfile) -> Iterator[LintFinding]:
        for ins in df.final.instructions:
            if ins.cmd == self.cmd and not ins.exec_form and not ins.onbuild and ins.args != ("",):
                yield self.at(
                    df, ins.line, f"{self.cmd} in shell form: /bin/sh is PID 1 and signals do not reach the program",
                    f'use the exec (JSON) form: {self.cmd} ["program", "arg"]',
                )  # fmt: skip


@dataclass(frozen=True)
class UntrustedRegistry(RuleBase):
    """``FROM`` an image of a registry the project does not trust (hadolint's
    ``trustedRegistries``). Only judged when ``trusted`` lists registries: ``.hardbox.yaml``'s
    ``trusted-registries``."""

    trusted: tuple[str, ...] = ()

    def check(self, df: Dockerfile) -> Iterator[LintFinding]:
        if not self.trusted:
            return
        trusted = {t.lower() for t in self.trusted}
        earlier: set[str] = set()
        for stage in df.stages:
            image = stage.base_expanded
            if image is not None and image.lower() != "scratch" and image.lower() not in earlier:
                registry = image_registry(image)
                if registry not in trusted and not (registry == "docker.io" and "hub.docker.com" in trusted):
                    yield self.at(
                        df, stage.from_line, f"FROM {image} comes from {registry}, not a trusted registry",
                        f"use an image from {', '.join(sorted(trusted))}, or add {registry} to trusted-registries",
                    )  # fmt: skip
            if stage.name:
                earlier.add(stage.name.lower())


def image_registry(image: str) -> str:
    """The registry host of an image reference, as Docker reads one: the first path component
    when it looks like a host (has a dot or a port, or is localhost), else Docker Hub."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first.lower()
    return "docker.io"


def all_instructions(df: Dockerfile) -> Iterator[Instruction]:
    yield from df.global_args
    for stage in df.stages:
        yield from stage.instructions
