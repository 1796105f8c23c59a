"""The parser on real Dockerfile syntax: directives, continuations, heredocs, forms, stages."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardbox.dockerfile.parser import expand, parse_file, parse_text
from hardbox.dockerfile.shell import run_script, split_commands
from hardbox.errors import InputError


def test_escape_directive_backtick_continuation_with_comment() -> None:
    df = parse_text(
        "# syntax=docker/dockerfile:1\n"
        "# escape=`\n"
        "FROM debian:12\n"
        "RUN apt-get update && `\n"
        "    # a comment inside the continuation\n"
        "\n"
        "    apt-get install -y curl\n"
        "COPY C:\\src\\app C:\\app\n"
    )
    assert df.directives == {"syntax": "docker/dockerfile:1", "escape": "`"}
    run, copy = df.final.instructions
    assert (run.line, run.end_line) == (4, 7)
    assert [c.name for c in run_script(run).commands] == ["apt-get", "apt-get"]
    # With ` as the escape character a backslash is an ordinary character.
    assert copy.args == ("C:\\src\\app", "C:\\app")


def test_backslash_continuation_keeps_line_numbers() -> None:
    df = parse_text("FROM alpine:3.19\n\nRUN echo a \\\n  # note\n  && echo b\nUSER 1000\n")
    run, user = df.final.instructions
    assert (run.line, run.end_line, user.line) == (3, 5, 6)
    assert [c.args for c in run_script(run).commands] == [("a",), ("b",)]


def test_heredocs_run_and_copy() -> None:
    df = parse_text(
        "FROM alpine:3.19\n"
        "RUN <<EOF\n"
        "set -e\n"
        "apk add --no-cache curl\n"
        "EOF\n"
        "COPY <<CONF /etc/app.conf\n"
        "key = value\n"
        "CONF\n"
        "RUN python3 <<PY\n"
        "import os\n"
        "PY\n"
    )
    run, copy, py = df.final.instructions
    assert (run.line, run.end_line) == (2, 5)
    assert run.heredocs[0].content == "set -e\napk add --no-cache curl\n"
    assert [c.name for c in run_script(run).commands] == ["set", "apk"]
    assert copy.heredocs[0].name == "CONF" and copy.args[-1] == "/etc/app.conf"
    # A python heredoc is python's stdin, not shell script.
    assert [c.name for c in run_script(py).commands] == ["python3"]


def test_exec_and_shell_forms() -> None:
    df = parse_text(
        'FROM alpine:3.19\nENTRYPOINT ["/bin/app", "--serve"]\nCMD run --now\n'
        'RUN ["/bin/sh", "-c", "apk add curl && rm -rf /var/cache/apk/*"]\n'
    )
    ep, cmd, run = df.final.instructions
    assert ep.exec_form and ep.args == ("/bin/app", "--serve")
    assert not cmd.exec_form and cmd.args == ("run --now",)
    assert run.exec_form
    assert [c.name for c in run_script(run).commands] == ["apk", "rm"]


def test_stages_platform_and_global_args() -> None:
    df = parse_text(
        "ARG BASE=golang\nARG VERSION=1.22\n"
        "FROM --platform=$BUILDPLATFORM ${BASE}:${VERSION} AS build\nRUN go build\n"
        "FROM build AS test\nFROM gcr.io/distroless/static:nonroot\n"
        "COPY --from=build /out /app\n"
    )
    assert [s.name for s in df.stages] == ["build", "test", None]
    assert df.stages[0].base_expanded == "golang:1.22"
    assert df.stages[0].platform == "$BUILDPLATFORM"
    assert df.final.instructions[0].flag("from") == "build"
    assert df.stage_names() == {"build", "test"}


def test_env_and_arg_pairs_are_unquoted() -> None:
    df = parse_text("FROM a:1\nENV A=1 B=\"x y\" C='z'\nENV D legacy form\nARG E\nARG F=\"g\"\n")
    env1, env2, arg1, arg2 = df.final.instructions
    assert env1.pairs() == (("A", "1"), ("B", "x y"), ("C", "z"))
    assert env2.pairs() == (("D", "legacy form"),)
    assert arg1.pairs() == (("E", None),) and arg2.pairs() == (("F", "g"),)


def test_expand() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert expand("x$A-${A}", env) == "x1-1"
    assert expand("${MISSING:-dflt}", env) == "dflt"
    assert expand("${A:+set}${EMPTY:+no}", env) == "set"
    assert expand("$MISSING", env) is None


def test_split_commands_pipes_wrappers_and_assignments() -> None:
    cmds = split_commands("DEBIAN_FRONTEND=noninteractive sudo -u app apt-get install x | tee log; (cd /a && make)")
    assert [(c.name, c.wrappers, c.piped) for c in cmds] == [
        ("apt-get", ("sudo",), True),
        ("tee", (), False),
        ("cd", (), False),
        ("make", (), False),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no instructions"),
        ("# only a comment\n", "no instructions"),
        ("FROM a:1\nFROBNICATE x\n", "2: unknown instruction 'FROBNICATE'"),
        ("RUN echo before from\n", "1: RUN before the first FROM"),
        ("ARG X=1\n", "no FROM instruction"),
        ("FROM a:1\nRUN <<EOF\necho\n", "unterminated heredoc"),
        ("FROM\n", "1: FROM without an image"),
        ("FROM a\x00\n", "NUL"),
    ],
)
def test_bad_dockerfiles_are_one_line_input_errors(text: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        parse_text(text, "bad.Dockerfile")
    assert message in err.value.message
    assert err.value.message.startswith("bad.Dockerfile")
    assert "\n" not in err.value.message


def test_parse_file_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(InputError, match="nope: cannot read"):
        parse_file(missing)
    binary = tmp_path / "bin.Dockerfile"
    binary.write_bytes(b"FROM a\n\xff\xfe\n")
    with pytest.raises(InputError, match=r"bin\.Dockerfile: not UTF-8"):
        parse_file(binary)
    with pytest.raises(InputError, match="cannot read"):
        parse_file(tmp_path)
