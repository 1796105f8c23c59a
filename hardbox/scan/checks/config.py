"""Image configuration checks: how the image will run, and what its build left behind.

These read the validated config and history (``ImageContext``), not files: the user the
process runs as, the ports it declares, HEALTHCHECK, ENTRYPOINT/CMD, the base image where the
image says what it was, and secrets in ENV, LABEL and ``created_by`` — Docker and buildah
record each RUN's build arguments there as ``|N KEY=value ... cmd`` (moby
builder/dockerfile/dispatchers.go, "run": ARGs are prepended so the cache key changes), so an
``ARG PASSWORD`` is readable by anyone who runs ``docker history``.
"""

from __future__ import annotations

import re

from hardbox.findings import Fact, Finding, SecretDetail, Severity
from hardbox.scan.checks.interface import Check, HistoryStep
from hardbox.scan.checks.rules import rule
from hardbox.secrets import SecretPolicy, load_policy, placeholder, redact

# Well-known remote-access services (IANA port registry).
_REMOTE_PORTS = {
    22: "SSH", 23: "telnet", 512: "rexec", 513: "rlogin", 514: "rsh", 2375: "Docker API",
    2376: "Docker API (TLS)", 3389: "RDP", 5900: "VNC", 5901: "VNC", 5985: "WinRM",
    5986: "WinRM (TLS)",
}
# `|2 KEY=value OTHER=value /bin/sh -c ...`: the build args a RUN step saw.
_ARGS_PREFIX = re.compile(r"^\|(\d+)\s+(.*)$", re.S)
_ADD_URL = re.compile(r"\bADD\s+(?:--\S+\s+)*((?:https?|ftp)://\S+)")
_EXPOSE = re.compile(r"\bEXPOSE\b")


class ConfigCheck(Check):
    """Checks the image config and history; reads no files."""

    name = "checks/config"

    def findings(self) -> list[Finding]:
        if not self.options.config:
            return []
        # Secrets in the config and history are always checked (it is cheap); --skip-secrets
        # only turns off reading file contents.
        policy = load_policy()
        return [*self._user(), *self._ports(), *self._healthcheck(), *self._command(),
                *self._base(), *self._add_url(), *self._config_secrets(policy),
                *self._history_secrets(policy)]

    def _user(self) -> list[Finding]:
        user = self.image.config.user.strip()
        name = user.split(":", 1)[0]
        if name not in ("", "0", "root"):
            return []
        said = f"USER is {user!r}" if user else "no USER is set"
        return [rule("HB-CFG-001").finding(f"The image runs as root: {said}.", extra={"user": user})]

    def _ports(self) -> list[Finding]:
        out = []
        for spec in sorted(self.image.config.exposed_ports):
            number = spec.partition("/")[0]
            if not number.isdigit():
                continue
            port = int(number)
            where = self._step_mentioning(_EXPOSE, number)
            extra: dict[str, Fact] = {"port": spec}
            if where is not None:
                extra.update(_step_extra(where))
            layer = where.layer if where is not None else None
            step = where.index if where is not None else None
            if port in _REMOTE_PORTS:
                out.append(rule("HB-CFG-002").finding(
                    f"EXPOSE {spec}: {_REMOTE_PORTS[port]} is a remote-access service.",
                    title=f"{_REMOTE_PORTS[port]} port {spec} exposed", layer=layer, history_index=step,
                    extra=extra))
            elif port < 1024:
                out.append(rule("HB-CFG-003").finding(
                    f"EXPOSE {spec}: port {port} is below 1024.",
                    title=f"Privileged port {spec} exposed", layer=layer, history_index=step, extra=extra))
        return out

    def _healthcheck(self) -> list[Finding]:
        hc = self.image.config.healthcheck
        if hc is not None and hc.test and hc.test[0] != "NONE":
            return []
        said = "HEALTHCHECK NONE disables it" if hc is not None else "no HEALTHCHECK is set"
        return [rule("HB-CFG-004").finding(f"The image has no health check: {said}.")]

    def _command(self) -> list[Finding]:
        config = self.image.config
        if any(part.strip() for part in (*config.entrypoint, *config.cmd)):
            return []
        return [rule("HB-CFG-009").finding("Neither ENTRYPOINT nor CMD is set.")]

    def _base(self) -> list[Finding]:
        # OCI annotations (image-spec annotations.md) that builders copy into labels; without
        # them the base is not knowable from the image, and hardbox does not guess.
        labels = self.image.config.labels
        base = labels.get("org.opencontainers.image.base.name", "").strip()
        if not base or labels.get("org.opencontainers.image.base.digest") or "@" in base:
            return []
        tail = base.rsplit("/", 1)[-1]
        tag = tail.split(":", 1)[1] if ":" in tail else ""
        if tag and tag != "latest":
            return []
        said = "the `latest` tag" if tag else "no tag"
        return [rule("HB-CFG-007").finding(
            f"The base image {base} is named by {said} and no digest.", extra={"base": base})]

    def _add_url(self) -> list[Finding]:
        out = []
        for step in self.image.steps:
            m = _ADD_URL.search(step.created_by)
            if m:
                out.append(rule("HB-CFG-008").finding(
                    f"Build step {step.index} adds {scrub(m.group(1), load_policy())} from the network.",
                    layer=step.layer, history_index=step.index, extra=_step_extra(step)))
        return out

    def _config_secrets(self, policy: SecretPolicy) -> list[Finding]:
        out = []
        pairs = [("ENV", *_split_env(item)) for item in self.image.config.env]
        pairs += [("LABEL", k, v) for k, v in sorted(self.image.config.labels.items())]
        for where, key, value in pairs:
            found = _secret_in(policy, key, value)
            if found is not None:
                title, severity, redacted = found
                out.append(rule("HB-CFG-005").finding(
                    f"{where} {key} holds a {title.lower()}: {redacted}.",
                    title=f"{title} in {where} {key}", severity=severity,
                    secret=SecretDetail(redacted, source=where, key=key)))
        return out

    def _history_secrets(self, policy: SecretPolicy) -> list[Finding]:
        out = []
        for step in self.image.steps:
            pairs: list[tuple[str, str]] = []
            m = _ARGS_PREFIX.match(step.created_by)
            if m:
                count, rest = int(m.group(1)), m.group(2)
                words = rest.split(" ", count)
                pairs = [_split_env(w) for w in words[:count]]
            pairs += _env_instruction(step.created_by)
            reported: set[str] = set()
            for key, value in pairs:
                found = _secret_in(policy, key, value)
                if found is not None:
                    reported.add(found[2])
                    out.append(_history_finding(step, f"build argument {key}", found))
            for match in policy.find_text(step.created_by):
                if match.redacted not in reported:
                    reported.add(match.redacted)
                    found = (match.rule.title, match.rule.severity, match.redacted)
                    out.append(_history_finding(step, "the command", found))
        return out

    def _step_mentioning(self, pattern: re.Pattern[str], word: str) -> HistoryStep | None:
        for step in reversed(self.image.steps):
            if pattern.search(step.created_by) and re.search(rf"\b{re.escape(word)}\b", step.created_by):
                return step
        return None


def _step_extra(step: HistoryStep) -> dict[str, Fact]:
    return {"instruction": scrub(step.created_by, load_policy())[:500]}


def scrub(created_by: str, policy: SecretPolicy) -> str:
    """A history command fit to print: build-argument and ENV values that look like
    credentials, and anything the secret rules match, replaced by their redacted form.
    Reports show layers' ``created_by``; without this an ``ARG TOKEN`` would leak through
    every one of them."""
    text = created_by
    m = _ARGS_PREFIX.match(text)
    if m:
        count, rest = int(m.group(1)), m.group(2)
        words = rest.split(" ", count)
        for i, word in enumerate(words[:count]):
            key, value = _split_env(word)
            if _secret_in(policy, key, value) is not None:
                words[i] = f"{key}={placeholder(redact(value))}"
        text = f"|{count} " + " ".join(words)
    for key, value in _env_instruction(text):
        if value and _secret_in(policy, key, value) is not None:
            text = text.replace(f"{key}={value}", f"{key}={placeholder(redact(value))}")
    return policy.scrub(text)


def _history_finding(step: HistoryStep, what: str, found: tuple[str, Severity, str]) -> Finding:
    title, severity, redacted = found
    # The command itself holds the secret: the report shows the step, never its text.
    return rule("HB-CFG-006").finding(
        f"Build step {step.index} has a {title.lower()} in {what}: {redacted}.",
        title=f"{title} in build history", severity=max(severity, Severity.HIGH, key=_rank),
        layer=step.layer, history_index=step.index, secret=SecretDetail(redacted))


def _rank(severity: Severity) -> int:
    return severity.rank


def _split_env(item: str) -> tuple[str, str]:
    key, _, value = item.partition("=")
    return key.strip(), value.strip()


def _env_instruction(created_by: str) -> list[tuple[str, str]]:
    """``/bin/sh -c #(nop) ENV KEY=value`` history entries (Docker, buildah)."""
    m = re.search(r"#\(nop\)\s+ENV\s+(.*)$", created_by, re.S)
    if not m:
        return []
    return [_split_env(word) for word in m.group(1).split() if "=" in word]


def _secret_in(policy: SecretPolicy, key: str, value: str) -> tuple[str, Severity, str] | None:
    """A known token format in the value, else a credential-named key with a real value: the
    detector set's one judgement, the same ``hardbox lint`` makes of ARG and ENV."""
    verdict = policy.judge(key, value)
    return None if verdict is None else (verdict.title, verdict.severity, verdict.redacted)
