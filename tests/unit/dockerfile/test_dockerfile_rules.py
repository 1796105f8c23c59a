"""Every lint rule: a Dockerfile that trips it (with the line) and one that must not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hardbox.dockerfile.lint import RULES, lint
from hardbox.dockerfile.parser import parse_text

GOOD_TAIL = "USER 10001\n"
# Credentials of the documented formats, not any issuer's published example.
AWS_KEY_ID = "AKIA" + "Z7Q2MXW4RT6YBN3K"
AWS_SECRET = "q9Vd2Lx7Tm4Kp8Rz1Hs6Nc3Wf5Yb0Ga/Ej+Uo7Qi"
GITHUB_TOKEN = "ghp_" + "Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0Lz9Xc8Vb7"


def found(text: str, rule: str) -> list[tuple[int, str]]:
    return [(f.line, f.message) for f in lint(parse_text(text)).findings if f.rule == rule]


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
