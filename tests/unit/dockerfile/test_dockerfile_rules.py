"""Every lint rule: a Dockerfile that trips it (with the line) and one that must not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hardbox.dockerfile.config import LintConfig, load_config
from hardbox.dockerfile.lint import RULES, lint
from hardbox.dockerfile.parser import parse_text
from hardbox.errors import InputError

GOOD_TAIL = "USER 10001\n"
# Credentials of the documented formats, not any issuer's published example.
AWS_KEY_ID = "AKIA" + "Z7Q2MXW4RT6YBN3K"
AWS_SECRET = "q9Vd2Lx7Tm4Kp8Rz1Hs6Nc3Wf5Yb0Ga/Ej+Uo7Qi"
GITHUB_TOKEN = "ghp_" + "Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0Lz9Xc8Vb7"


# The cases run with a project that trusts Docker Hub and one private registry (HB-DF-018 is
# judged only when trusted registries are configured).
TRUSTING = LintConfig(trusted_registries=("docker.io", "registry.example.com"))


def found(text: str, rule: str) -> list[tuple[int, str]]:
    return [(f.line, f.message) for f in lint(parse_text(text), config=TRUSTING).findings if f.rule == rule]


def lines(text: str, rule: str) -> list[int]:
    return [line for line, _ in found(text, rule)]


# (rule, Dockerfile that trips it, expected lines, Dockerfile that does not)
CASES = [
    ("HB-DF-001", "FROM alpine:latest\n" + GOOD_TAIL, [1], "FROM alpine:3.19\n" + GOOD_TAIL),
    ("HB-DF-001", "ARG V\nFROM alpine:3\nFROM ubuntu\n" + GOOD_TAIL, [3],
     "FROM scratch\n" + GOOD_TAIL),
    ("HB-DF-001", "FROM localhost:5000/app\n" + GOOD_TAIL, [1],
     "FROM golang:1.22 AS build\nFROM build\n" + GOOD_TAIL),
    ("HB-DF-001", "ARG TAG=latest\nFROM alpine:$TAG\n" + GOOD_TAIL, [2],
     "FROM alpine@sha256:" + "a" * 64 + "\n" + GOOD_TAIL),
    ("HB-DF-002", "FROM a:1\nMAINTAINER me <me@x>\n" + GOOD_TAIL, [2],
     'FROM a:1\nLABEL org.opencontainers.image.authors="me"\n' + GOOD_TAIL),
    ("HB-DF-003", "FROM a:1 AS b\nUSER app\nFROM a:1\nRUN true\n", [3], "FROM a:1\nUSER app:app\n"),
    ("HB-DF-003", "FROM a:1\nUSER app\nUSER 0:0\n", [3], "FROM a:1\nUSER root\nRUN x\nUSER 1000\n"),
    # A stage built FROM an earlier stage inherits that stage's USER.
    ("HB-DF-003", "FROM a:1 AS base\nUSER root\nFROM base\nRUN x\n", [2], "FROM a:1 AS base\nUSER app\nFROM base\nRUN x\n"),
    # USER through ARG: the global default reaches the stage because the stage re-declares it;
    # an ARG with no default comes from --build-arg and is not judged.
    ("HB-DF-003", "ARG UID=0\nFROM a:1\nARG UID\nUSER $UID\n", [4], "FROM a:1\nARG UID\nUSER ${UID}:1000\n"),
    ("HB-DF-004", "FROM a:1\nENV DB_PASSWORD=hunter2\n" + GOOD_TAIL, [2],
     "FROM a:1\nENV GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D PASSWORD_FILE=/run/secrets/pw\n" + GOOD_TAIL),
    ("HB-DF-004", "FROM a:1\nARG GITHUB_TOKEN\n" + GOOD_TAIL, [2], "FROM a:1\nARG GIT_HASH=UNSET\n" + GOOD_TAIL),
    ("HB-DF-004", "FROM a:1\nENV X=" + AWS_KEY_ID + "\n" + GOOD_TAIL, [2],
     "FROM a:1\nENV API_TOKEN=$API_TOKEN\n" + GOOD_TAIL),
    # AWS's documented example pair and a filler are placeholders, as in `hardbox scan`.
    ("HB-DF-004", "FROM a:1\nENV AWS_SECRET_ACCESS_KEY=" + AWS_SECRET + "\n" + GOOD_TAIL, [2],
     "FROM a:1\nENV X=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
     "ENV GITHUB_TOKEN=ghp_" + "x" * 36 + "\n" + GOOD_TAIL),
    # RUN lines and heredoc bodies are searched with the same rule set (issue 17).
    ("HB-DF-004", "FROM a:1\nRUN curl -H 'Authorization: token " + GITHUB_TOKEN + "' https://api.github.com/x\n" + GOOD_TAIL, [2],
     'FROM a:1\nRUN curl -H "Authorization: token $GITHUB_TOKEN" https://api.github.com/x\n' + GOOD_TAIL),
    ("HB-DF-004", "FROM a:1\nRUN <<EOF\nset -e\nprintf 'aws_access_key_id = " + AWS_KEY_ID + "' > /c\nEOF\n" + GOOD_TAIL, [4],
     "FROM a:1\nRUN <<EOF\nset -e\nprintf 'aws_access_key_id = %s' \"$KEY\" > /c\nEOF\n" + GOOD_TAIL),
    ("HB-DF-005", "FROM a:1\nADD app.py /app/\n" + GOOD_TAIL, [2], "FROM a:1\nADD rootfs.tar.gz /\n" + GOOD_TAIL),
    ("HB-DF-005", "FROM a:1\nADD https://example.com/x.sh /x.sh\n" + GOOD_TAIL, [2],
     "FROM a:1\nADD --checksum=sha256:" + "b" * 64 + " https://example.com/x.tgz /x\n" + GOOD_TAIL),
    ("HB-DF-006", "FROM debian:12\nRUN apt-get update && apt-get install -y curl=7.88\n" + GOOD_TAIL, [2],
     "FROM debian:12\nRUN apt-get update && apt-get install -y curl=7.88 \\\n && rm -rf /var/lib/apt/lists/*\n" + GOOD_TAIL),
    ("HB-DF-006", "FROM alpine:3\nRUN apk add curl=8.5.0-r0\n" + GOOD_TAIL, [2],
     "FROM alpine:3\nRUN apk add --no-cache curl=8.5.0-r0\n" + GOOD_TAIL),
    ("HB-DF-006", "FROM fedora:40\nRUN dnf install -y curl\n" + GOOD_TAIL, [2],
     "FROM fedora:40\nRUN dnf install -y curl && dnf clean all\n" + GOOD_TAIL),
    ("HB-DF-006", "FROM alpine:3\nRUN <<EOF\napk add curl=1\nEOF\n" + GOOD_TAIL, [2],
     "FROM alpine:3\nRUN --mount=type=cache,target=/var/cache/apk apk add curl=1\n" + GOOD_TAIL),
    ("HB-DF-007", "FROM debian:12\nRUN apt-get install -y --no-install-recommends curl git=1:2.39 \\\n"
     " && rm -rf /var/lib/apt/lists/*\n" + GOOD_TAIL, [2],
     "FROM debian:12\nRUN apt-get install -y -o Dpkg::Options::=--force-confnew curl=7.88 ./local.deb"
     " && rm -rf /var/lib/apt/lists/*\n" + GOOD_TAIL),
    ("HB-DF-007", "FROM python:3.12\nRUN pip install --no-cache-dir flask requests==2.32.3\n" + GOOD_TAIL, [2],
     "FROM python:3.12\nRUN pip install -r requirements.txt && python -m pip install --index-url https://x/simple flask==3.0.3 .\n" + GOOD_TAIL),
    ("HB-DF-007", "FROM alpine:3\nRUN apk add --no-cache --virtual .deps gcc\n" + GOOD_TAIL, [2],
     "FROM alpine:3\nRUN apk add --no-cache --virtual .deps gcc=13.2.1_git20231014-r0 musl-dev~1.2\n" + GOOD_TAIL),
    ("HB-DF-008", "FROM a:1\nEXPOSE 80 22/tcp\n" + GOOD_TAIL, [2], "FROM a:1\nEXPOSE 2222 8022\n" + GOOD_TAIL),
    # A global ARG is not visible in a stage that does not declare it again.
    ("HB-DF-008", "FROM a:1\nENV SSH_PORT=22\nEXPOSE ${SSH_PORT}/tcp\n" + GOOD_TAIL, [3],
     "ARG P=22\nFROM a:1\nEXPOSE $P\n" + GOOD_TAIL),
    ("HB-DF-009", "FROM a:1\n" + GOOD_TAIL + "ENTRYPOINT /app --serve\n", [3],
     "FROM a:1 AS b\nENTRYPOINT /only/in/builder\nFROM a:1\n" + GOOD_TAIL + 'ENTRYPOINT ["/app"]\n'),
    ("HB-DF-010", "FROM a:1\n" + GOOD_TAIL + "CMD python app.py\n", [3],
     "FROM a:1\n" + GOOD_TAIL + 'CMD ["python", "app.py"]\n'),
    ("HB-DF-011", "FROM a:1\nRUN sudo make install\n" + GOOD_TAIL, [2],
     "FROM a:1\nRUN echo sudo is just a word here\n" + GOOD_TAIL),
    ("HB-DF-011", "FROM debian:12\nRUN apt-get install -y sudo=1.9 && rm -rf /var/lib/apt/lists/*\n" + GOOD_TAIL, [2],
     "FROM debian:12\nRUN apt-get install -y sudoku=1 && rm -rf /var/lib/apt/lists/*\n" + GOOD_TAIL),
    ("HB-DF-012", "FROM a:1\nRUN curl -fsSL https://get.example.com | sh -s -- -y\n" + GOOD_TAIL, [2],
     "FROM a:1\nRUN curl -fsSLo i.sh https://x/i.sh && echo \"$SUM  i.sh\" | sha256sum -c && sh i.sh\n" + GOOD_TAIL),
    ("HB-DF-012", "FROM a:1\nRUN wget -O- http://x/install | sudo bash\n" + GOOD_TAIL, [2],
     "FROM a:1\nRUN wget -O- http://x/data | tar xz\n" + GOOD_TAIL),
    ("HB-DF-012", 'FROM a:1\nRUN sh -c "$(curl -fsSL https://x/install.sh)"\n' + GOOD_TAIL, [2],
     'FROM a:1\nRUN echo "$(curl -fsSL https://x/version)"\n' + GOOD_TAIL),
    ("HB-DF-013", "FROM debian:12\nRUN apt-get update && apt-get -y dist-upgrade\n" + GOOD_TAIL, [2],
     "FROM debian:12\nRUN apt-get update\n" + GOOD_TAIL),
    ("HB-DF-014", "FROM debian:12\nRUN apt-get install -y openssh-server=1:9.2 && rm -rf /var/lib/apt/lists/*\n" + GOOD_TAIL, [2],
     "FROM debian:12\nRUN apt-get install -y openssh-client=1:9.2 && rm -rf /var/lib/apt/lists/*\n" + GOOD_TAIL),
    ("HB-DF-015", "FROM debian:12\nRUN apt-get update && apt-get install -y curl=7.88 && rm -rf /var/lib/apt/lists/*\n" + GOOD_TAIL, [2],
     "FROM debian:12\nRUN apt-get update && apt-get install -y --no-install-recommends curl=7.88 && rm -rf /var/lib/apt/lists/*\n" + GOOD_TAIL),
    ("HB-DF-015", "FROM debian:12\nRUN apt install -y curl=7.88\n" + GOOD_TAIL, [2],
     "FROM debian:12\nRUN apt-get -o APT::Install-Recommends=false install -y curl=7.88\n" + GOOD_TAIL),
    ("HB-DF-016", "FROM a:1\nRUN curl -fsSL https://x/a.tgz | tar xz\n" + GOOD_TAIL, [2],
     'FROM a:1\nSHELL ["/bin/bash", "-o", "pipefail", "-c"]\nRUN curl -fsSL https://x/a.tgz | tar xz\n' + GOOD_TAIL),
    ("HB-DF-016", "FROM a:1\nRUN set -eu; wget -qO- https://x/a.tgz | tar xz\n" + GOOD_TAIL, [2],
     "FROM a:1\nRUN set -eux -o pipefail; wget -qO- https://x/a.tgz | tar xz && echo a || echo b\n" + GOOD_TAIL),
    ("HB-DF-017", "FROM a:1\nRUN cd /src && make\n" + GOOD_TAIL, [2],
     "FROM a:1\nWORKDIR /src\nRUN make && echo cd\n" + GOOD_TAIL),
    ("HB-DF-018", "FROM quay.io/org/app:1\n" + GOOD_TAIL, [1],
     "FROM registry.example.com/app:1 AS b\nFROM b\nFROM debian:12\n" + GOOD_TAIL),
    ("HB-DF-018", "FROM localhost:5000/app:1 AS b\nFROM b\n" + GOOD_TAIL, [1],
     "FROM library/debian:12\n" + GOOD_TAIL),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "bad", "expected", "good"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_positive_and_negative(rule: str, bad: str, expected: list[int], good: str) -> None:
    assert lines(bad, rule) == expected
    assert found(good, rule) == []


def test_every_registered_rule_has_a_case_and_unique_id() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert {c[0] for c in CASES} == set(ids)


def test_every_rule_is_documented() -> None:
    doc = (Path(__file__).parents[3] / "docs" / "gate.md").read_text()
    documented = set(re.findall(r"`(HB-DF-\d{3})`", doc))
    assert documented == {r.id for r in RULES}


def test_secret_format_is_critical_and_names_the_format() -> None:
    ((_, message),) = found("FROM a:1\nARG X=" + GITHUB_TOKEN + "\n" + GOOD_TAIL, "HB-DF-004")
    assert "GitHub token" in message and GITHUB_TOKEN not in message
    (f,) = [f for f in lint(parse_text("FROM a:1\nENV K=" + GITHUB_TOKEN + "\n")).findings if f.rule == "HB-DF-004"]
    assert f.severity.value == "critical"


def test_findings_carry_a_fix_and_convert_to_the_shared_model() -> None:
    result = lint(parse_text("FROM alpine\n", "x/Dockerfile"))
    assert all(f.fix for f in result.findings)
    finding = result.findings[0].to_finding()
    assert finding.kind.value == "misconfiguration" and finding.path == "x/Dockerfile"
    assert finding.line == 1


def test_untrusted_registry_is_judged_only_when_registries_are_configured() -> None:
    text = "FROM quay.io/org/app:1\n" + GOOD_TAIL
    assert [f for f in lint(parse_text(text)).findings if f.rule == "HB-DF-018"] == []


# Ignore comments, as hadolint reads them: on the comment lines directly above an instruction.
IGNORED = (
    "FROM debian:12\n"
    "# hadolint ignore=DL3008,DL3015\n"
    "RUN apt-get install -y curl && rm -rf /var/lib/apt/lists/*\n"
    "# hardbox ignore=HB-DF-017\n"
    "# (a second comment between is fine)\n"
    "RUN cd /src && make\n"
    "# hardbox ignore=HB-DF-017\n"
    "\n"
    "RUN cd /tmp && make\n"
    "# hardbox ignore=HB-DF-004\n"
    "RUN <<EOF\nset -e\nprintf 'aws_access_key_id = " + AWS_KEY_ID + "' > /c\nEOF\n" + GOOD_TAIL
)


def test_inline_ignores_silence_the_instruction_below_and_are_reported() -> None:
    result = lint(parse_text(IGNORED))
    left = {(f.rule, f.line) for f in result.findings}
    ignored = {(i.finding.rule, i.finding.line, i.by, i.via) for i in result.ignored}
    assert ("HB-DF-007", 3, "inline", "DL3008") in ignored and ("HB-DF-015", 3, "inline", "DL3015") in ignored
    assert ("HB-DF-017", 6, "inline", "HB-DF-017") in ignored
    # A blank line between the comment and the instruction breaks the link.
    assert ("HB-DF-017", 9) in left
    # A secret on a heredoc line is silenced by the comment above its RUN.
    assert any(rule == "HB-DF-004" and by == "inline" for rule, _, by, _ in ignored)
    assert not any(rule == "HB-DF-004" for rule, _ in left)
    assert result.to_dict()["ignored"]


def test_config_ignored_list_takes_both_id_kinds() -> None:
    config = LintConfig(ignored=frozenset({"DL3003", "HB-DF-015"}))
    result = lint(parse_text("FROM debian:12\nRUN cd /x && apt-get install -y curl=1\n" + GOOD_TAIL), config=config)
    assert {(i.finding.rule, i.by, i.via) for i in result.ignored} >= {
        ("HB-DF-017", "config", "DL3003"), ("HB-DF-015", "config", "HB-DF-015")}
    assert not {"HB-DF-015", "HB-DF-017"} & {f.rule for f in result.findings}


def test_every_hadolint_id_is_well_formed_and_covered_once() -> None:
    seen: dict[str, str] = {}
    for rule in RULES:
        for dl in rule.hadolint:
            assert re.fullmatch(r"DL\d{4}", dl), dl
            assert seen.setdefault(dl, rule.title) == rule.title or dl == "DL3025", dl
    # The hadolint rules hadolint users rely on most, each covered (issue 17).
    assert {"DL3015", "DL4006", "DL3009", "DL3003", "DL3013", "DL3004"} <= set(seen)


def test_config_file_hadolint_shape(tmp_path: Path) -> None:
    path = tmp_path / ".hardbox.yaml"
    path.write_text("ignored: [DL3008, HB-DF-017]\nfailure-threshold: warning\ntrusted-registries: [registry.example.com:5000]\n")
    config = load_config(path)
    assert config.ignored == {"DL3008", "HB-DF-017"} and config.failure_threshold is not None
    assert config.failure_threshold.value == "medium" and not config.never_fail
    assert config.trusted_registries == ("registry.example.com:5000",)
    path.write_text("failure-threshold: none\n")
    assert load_config(path).never_fail


@pytest.mark.parametrize(("text", "message"), [
    ("ignord: [DL3008]\n", r"\.hardbox\.yaml:1: ignord: unknown field"),
    ("ignored: [rm -rf]\n", r"\.hardbox\.yaml:1: ignored\.0: "),
    ("failure-threshold: severe\n", r"\.hardbox\.yaml:1: failure-threshold: 'severe' is not one of"),
    ("- a\n", r"must be a YAML mapping"),
    ("ignored: [\n", r"not valid YAML"),
])  # fmt: skip
def test_a_bad_config_file_is_one_error_naming_it(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / ".hardbox.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_config(path)
