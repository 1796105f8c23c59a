"""The quick reader of `hardbox run`/`exec` lines (cli/quickparse.py) against argparse.

Every line, generated or hand-picked, goes through both: where the quick reader answers, its
namespace must be argparse's to the value (but ``_parser``, the argparse parser itself);
where argparse fails or needs its own machinery (help, an abbreviation, hardbox's own
options), the quick reader must have stepped aside. The hand-picked well-formed lines must
be read quickly: a reader that always steps aside would be correct and useless.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardbox.cli import exec as exec_cli
from hardbox.cli import main as cli_main
from hardbox.cli import run as run_cli
from hardbox.cli.optable import options_of

_PARSERS: dict[str, object] = {}


def by_argparse(line: list[str]) -> dict[str, object] | None:
    """argparse's namespace for ``line`` (without ``_parser``), None for a usage error."""
    parser = _PARSERS.get(line[0]) or cli_main.build_parser(line)
    _PARSERS.setdefault(line[0], parser)
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            args, extras = parser.parse_known_args(line)  # type: ignore[attr-defined]
    except SystemExit:
        return None
    if extras:
        return None
    return {k: v for k, v in vars(args).items() if k != "_parser"}


def quickly(line: list[str]) -> dict[str, object] | None:
    args = cli_main.parse_quickly(line)
    return None if args is None else vars(args)


def agree(line: list[str]) -> dict[str, object] | None:
    quick = quickly(line)
    if quick is not None:
        assert quick == by_argparse(line), line
    return quick


def _flags(table: tuple[object, ...]) -> list[str]:
    return [flag for option in options_of(table) for flag in option.flags]  # type: ignore[arg-type]


RUN_FLAGS = _flags(run_cli.OPTIONS)
EXEC_FLAGS = _flags(exec_cli.OPTIONS)
# Words a line may hold besides the flags: values, images, commands, and what tends to
# trip a hand-written parser (--, -, negative numbers, spaces, =, abbreviations, hardbox's
# own options, help, combined short flags, unicode digits, newlines).
WORDS = [
    "img", "busybox", "sh", "-c", "echo hi", "", "-", "--", "---", "-1", "-1.5", "-.5", "-5\n", "-\u0663",
    "5", " 7 ", "0x10", "1_000", "0.25", "nan", "x", "a=b", "=", "-x y", "-e x", "--x y", "--=x", "-=x",
    "strict", "default", "none", "private", "host", "bogus", "missing", "always", "never", "true", "false",
    "-it", "-ti", "-dit", "-itd", "-ie", "-eFOO=1", "-e=FOO", "-e=", "-i=t", "-i=", "-itx", "-i-t", "-P",
    "--env=A=1", "--rm=1", "--profile=strict", "--profile=", "--profile=--", "--network=none",
    "--pids-limit=3", "--cpus=-0.5", "--prof", "--prof=strict", "--p", "--pu", "--pull=never",
    "--tls", "--dn", "--nam", "--hostn", "--de", "--deb", "--no", "--qu", "--v", "--ver",
    "-h", "--help", "--help=x", "--version", "--debug", "--no-color", "-q", "--quiet", "-qi", "-iq",
    "-la", "-u0", "-w/tmp", "-vx:/y", "-p80:80", "-e", "-u", "-w", "-v", "-p",
]
line_words = st.lists(st.sampled_from(WORDS) | st.sampled_from(RUN_FLAGS + EXEC_FLAGS)
                      | st.text(alphabet="-=eitdPx v1", max_size=5), max_size=9)


@settings(max_examples=400, deadline=None)
@given(command=st.sampled_from(["run", "exec"]), words=line_words)
def test_the_quick_reader_agrees_with_argparse(command: str, words: list[str]) -> None:
    agree([command, *words])


@settings(max_examples=200, deadline=None)
@given(words=line_words, tail=line_words)
def test_a_line_with_an_image_and_a_command_agrees(words: list[str], tail: list[str]) -> None:
    """The usual shape: options, IMAGE, then the container's command with its own options."""
    agree(["run", *words, "img", *tail])
    agree(["exec", *words, "web", *tail])


QUICK = [
    ["run", "--rm", "--profile", "strict", "busybox", "/bin/true"],
    ["run", "busybox"],
    ["run", "-it", "busybox", "sh"],
    ["run", "-dit", "--name", "web", "busybox"],
    ["run", "-e", "A=1", "-eB=2", "--env=C", "-e=D", "busybox", "env"],
    ["run", "-v", "/srv:/www:ro", "--volume=/a:/b", "-p", "8080:80", "-p8081:81", "-P", "busybox"],
    ["run", "--network", "none", "--network=private", "--pull", "never", "--tls-verify=false", "bb"],
    ["run", "--pids-limit", "-5", "--pids-limit=7", "--cpus", "0.5", "--cpus=-1.5", "bb"],
    ["run", "--memory", "256m", "--cap-add", "NET_ADMIN", "--cap-drop=ALL", "--read-only", "bb"],
    ["run", "--entrypoint", "", "--hostname", "h", "-u", "0:0", "-w", "/tmp", "--init", "bb"],
    ["run", "--dns", "1.1.1.1", "--add-host", "a:1.2.3.4", "--explain", "--json", "bb"],
    ["run", "busybox", "sh", "-c", "ls -la", "--rm", "-q", "--debug", "-h", "--help", "--", "x"],
    ["run", "busybox", "--", "sh"],
    ["run", "--", "busybox", "sh"],
    ["run", "--rm", "--", "busybox", "--", "sh"],
    ["run", "-e", "x", "--", "busybox"],
    ["run", "-e", "-1", "busybox", "-1"],
    ["run", "-e", "has space", "busybox", "-x y"],
    ["run", ""],
    ["run", "-1"],
    ["exec", "web", "ps"],
    ["exec", "-it", "-u", "nobody", "-w", "/tmp", "-e", "DEBUG=1", "web", "env"],
    ["exec", "-ti", "web", "sh", "-c", "x", "-it"],
    ["exec", "web", "--", "ls", "--color=auto"],
    ["exec", "web"],  # no command: the handler's error, not a usage error
]


@pytest.mark.parametrize("line", QUICK, ids=" ".join)
def test_well_formed_lines_are_read_quickly_and_as_argparse_reads_them(line: list[str]) -> None:
    assert agree(line) is not None, line


ARGPARSE = [
    ["run"], ["run", "--rm"], ["run", "--rm", "--"], ["exec"],  # no target
    ["run", "--prof", "strict", "bb"], ["run", "--profile=--", "bb"],  # abbreviation, odd value
    ["run", "--p", "bb"], ["run", "bb", "sh", "--p"], ["run", "--=x", "bb"],  # ambiguous
    ["run", "--bogus", "bb"], ["run", "-x", "bb"], ["exec", "-itx", "web", "sh"],  # unknown
    ["run", "-e"], ["run", "--profile", "--rm", "bb"], ["run", "-e", "--", "bb"],  # no value
    ["run", "--network", "bad", "bb"], ["run", "--pull", "sometimes", "bb"],  # choices
    ["run", "--pids-limit", "x", "bb"], ["run", "--cpus", "y", "bb"],  # types
    ["run", "--rm=1", "bb"], ["run", "-i=", "bb"],  # a flag given a value
    ["run", "-h"], ["run", "--help", "bb"], ["exec", "-h", "web"],  # help
    ["run", "--debug", "bb"], ["run", "-q", "bb"], ["run", "-iq", "bb"], ["exec", "--no-color", "w", "x"],
    ["--debug", "run", "bb"], ["-q", "exec", "web", "ps"],  # hardbox's own options first
]


@pytest.mark.parametrize("line", ARGPARSE, ids=" ".join)
def test_lines_the_quick_reader_leaves_to_argparse(line: list[str]) -> None:
    assert quickly(line) is None


def test_completion_is_left_to_argparse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_ARGCOMPLETE", "1")
    assert quickly(["run", "busybox"]) is None


def test_pull_takes_its_default_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, expected in (("always", "always"), ("", "missing"), ("bogus", "bogus")):
        monkeypatch.setenv("HARDBOX_PULL", value)
        line = ["run", "busybox"]
        args, _ = cli_main.build_parser(line).parse_known_args(line)
        assert quickly(line) == {k: v for k, v in vars(args).items() if k != "_parser"}
        assert vars(args)["pull"] == expected


def test_a_quick_line_runs_the_same_handler() -> None:
    assert quickly(["run", "bb"])["func"] is run_cli.handle  # type: ignore[index]
    assert quickly(["exec", "w", "x"])["func"] is exec_cli.handle  # type: ignore[index]


@pytest.mark.parametrize("line, code, message", [
    (["run", "--network", "bad", "busybox"], 125, "argument --network: invalid choice: 'bad'"),
    (["run", "--prof", "strict"], 125, "the following arguments are required: IMAGE"),
    (["exec", "-x", "web", "ps"], 125, "unrecognized arguments: -x"),
    (["run", "--=x", "busybox"], 2, "ambiguous option: --=x could match --help"),
])
def test_a_usage_error_is_still_argparses(line: list[str], code: int, message: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "hardbox", *line], capture_output=True, text=True,
                          env={**os.environ, "HARDBOX_ROOT": "/nonexistent/hardbox"}, timeout=60)
    assert proc.returncode == code
    assert f"hardbox: error: {message}" in proc.stderr
    assert proc.stderr.startswith("usage: hardbox")
