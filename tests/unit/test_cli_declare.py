"""How commands are declared (hardbox/cli/options.py): help texts laid out as written or
wrapped, the handler and the group a line reaches, the exit code of a usage error, and the
shared ``--json`` and ``--db`` options as every command that takes them declares them."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hardbox.cli import main as cli_main
from hardbox.cli.inputs import add_db_argument
from hardbox.cli.options import add_command, add_group, add_json_flag
from hardbox.cli.parser import Parser

_LONG = " ".join(["word"] * 60)


def _top() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = Parser(prog="hb")
    return parser, parser.add_subparsers(dest="command", parser_class=Parser)


def _handler(args: argparse.Namespace) -> int:
    return 7


def test_a_description_with_line_breaks_is_printed_as_written_and_one_line_is_wrapped() -> None:
    _, sub = _top()
    block = add_command(sub, "block", _handler, help="h", description="first line\n    indented second")
    wrapped = add_command(sub, "wrapped", _handler, help="h", description=_LONG, epilog="one line")
    assert "first line\n    indented second" in block.format_help()
    text = wrapped.format_help()
    assert _LONG not in text and text.count("word") == 60  # wrapped, nothing lost


def test_an_epilog_with_line_breaks_keeps_them_too() -> None:
    _, sub = _top()
    p = add_command(sub, "ex", _handler, help="h", description="d", epilog="examples:\n  hb ex a\n  hb ex b")
    assert "examples:\n  hb ex a\n  hb ex b" in p.format_help()


def test_the_command_runs_its_handler_and_a_group_alone_has_none() -> None:
    parser, sub = _top()
    group = add_group(sub, "things", help="h", description="d")
    add_command(group, "ls", _handler, help="list")
    args = parser.parse_args(["things", "ls"])
    assert args.func(args) == 7 and args.things_command == "ls"
    alone = parser.parse_args(["things"])
    assert getattr(alone, "func", None) is None and alone.things_command is None


def test_a_usage_error_exits_with_the_commands_code(capsys: pytest.CaptureFixture[str]) -> None:
    parser, sub = _top()
    add_command(sub, "plain", _handler, help="h").add_argument("image")
    add_command(sub, "workload", _handler, help="h", usage_exit_code=125).add_argument("image")
    for argv, code in ((["plain"], 2), (["workload"], 125)):  # IMAGE missing: the command's error
        with pytest.raises(SystemExit) as exited:
            parser.parse_args(argv)
        assert exited.value.code == code, argv
    assert "see `hb workload --help`" in capsys.readouterr().err


def test_json_and_db_are_a_flag_and_a_path() -> None:
    parser, sub = _top()
    p = add_command(sub, "status", _handler, help="h")
    add_db_argument(p, "the index")
    add_json_flag(p, "print it as JSON")
    args = parser.parse_args(["status", "--json", "--db", "x/osv.sqlite"])
    assert args.json is True and args.db == Path("x/osv.sqlite")
    args = parser.parse_args(["status"])
    assert args.json is False and args.db is None
    with pytest.raises(SystemExit):
        parser.parse_args(["status", "--json=yes"])


def _every_parser() -> list[tuple[str, argparse.ArgumentParser]]:
    found = []

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for word, child in action.choices.items():
                    found.append((f"{name} {word}", child))
                    walk(child, f"{name} {word}")

    walk(cli_main.build_parser(None), "hardbox")
    return found


def test_every_commands_json_and_db_are_the_shared_options() -> None:
    """A command that spelt --json or --db its own way (another type, a value) fails here."""
    seen = set()
    for name, parser in _every_parser():
        for action in parser._actions:
            if "--json" in action.option_strings and not action.metavar:  # scan's --json FILE is a report
                assert isinstance(action, argparse._StoreTrueAction), name
                seen.add("json")
            if "--db" in action.option_strings:
                assert action.type is Path and action.metavar == "PATH" and action.default is None, name
                seen.add("db")
    assert seen == {"json", "db"}


def test_every_command_reports_its_own_usage_errors() -> None:
    """No module sets ``_parser``: cli/main.py records it on each parser, the deepest wins."""
    for name, parser in _every_parser():
        assert parser.get_default("_parser") is parser, name


@pytest.mark.parametrize("argv, usage, code", [
    (["pull", "--bogus", "x"], "usage: hardbox pull ", 2),
    (["db", "import", "--bogus", "x"], "usage: hardbox db import ", 2),
    (["profile", "record", "--bogus"], "usage: hardbox profile record ", 125),
])
def test_usage_errors_end_to_end(argv: list[str], usage: str, code: int) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HARDBOX_DEBUG"}
    proc = subprocess.run([sys.executable, "-m", "hardbox", *argv], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.startswith(usage), proc.stderr
