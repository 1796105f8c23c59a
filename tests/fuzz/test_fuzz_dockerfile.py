"""Fuzz `hardbox lint` with Dockerfiles: lines from every instruction in JSON and shell
form, continuations (also as the last line), heredocs (also unterminated), escape and
syntax directives, odd bytes; and byte damage of the shipped fixture Dockerfiles."""

from __future__ import annotations

import itertools
from pathlib import Path

import fuzzkit
import mutate
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytestmark = [pytest.mark.fuzz]

_counter = itertools.count()
FIXTURES = Path(__file__).parent.parent / "fixtures" / "dockerfiles"

INSTRUCTIONS = ["FROM", "RUN", "CMD", "ENTRYPOINT", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD",
                "COPY", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
                "VOLUME", "from", "Run", "BOGUS", ""]
ARGS = st.sampled_from([
    "debian:12", "debian", "scratch AS build", "--platform=$X alpine:latest", "apt-get install -y curl",
    "curl https://x | sh", '["/bin/sh", "-c", "echo"]', '["unterminated', "[]", "[1, 2]", "22",
    "root", "0:0", "AWS_SECRET_ACCESS_KEY=AKIAABCDEFGHIJKLMNOP", "A=1 B", "=", "<<EOF", "<<-EOF",
    "<<'EOF' cat", "https://example.com/x.tar.gz /", "--chown=1:1 . /app", "\\", "$", "${A:-b}",
    "NONE", "CMD echo", "--interval=0s CMD true", "", "\t", "\x00", "é", "a" * 200,
])


@st.composite
def dockerfiles(draw: st.DrawFn) -> bytes:
    lines = []
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from(["# escape=`", "# escape=\\", "# syntax=docker/dockerfile:1",
                                            "# escape=", "# escape=xx"])))
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["instr", "instr", "instr", "cont", "heredoc", "comment", "raw"]))
        if kind == "instr":
            lines.append(f"{draw(st.sampled_from(INSTRUCTIONS))} {draw(ARGS)}")
        elif kind == "cont":
            lines.append(f"{draw(st.sampled_from(INSTRUCTIONS))} {draw(ARGS)} \\")
        elif kind == "heredoc":
            lines.append("RUN <<EOF")
            lines.append(draw(ARGS))
            if draw(st.booleans()):
                lines.append("EOF")
        elif kind == "comment":
            lines.append("# " + draw(st.text(max_size=20)))
        else:
            lines.append(draw(st.text(max_size=30)))
    ending = draw(st.sampled_from(["\n", "", "\r\n", " \\\n"]))
    return ("\n".join(lines) + ending).encode("utf-8", "surrogatepass")


def test_generated_dockerfiles(tmp_path: Path, store_root: Path) -> None:
    @fuzzkit.fuzz_settings(2)
    @given(data=dockerfiles())
    def one(data: bytes) -> None:
        path = tmp_path / f"Dockerfile-{next(_counter)}"
        path.write_bytes(data)
        fuzzkit.check("Dockerfile", fuzzkit.run_cli(["lint", str(path)], root=store_root))

    one()


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*Dockerfile")))
def test_damaged_fixture_dockerfiles(fixture: str, tmp_path: Path, store_root: Path) -> None:
    text = (FIXTURES / fixture).read_bytes()

    @fuzzkit.fuzz_settings(0.4)
    @given(data=mutate.damaged_bytes(text))
    def one(data: bytes) -> None:
        path = tmp_path / f"Dockerfile-{next(_counter)}"
        path.write_bytes(data)
        fuzzkit.check("Dockerfile", fuzzkit.run_cli(["lint", str(path)], root=store_root))

    one()
