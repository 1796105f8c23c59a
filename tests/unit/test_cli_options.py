"""hardbox's own options on every command (--debug, --no-color, -q), the command -> module
table, usage errors from the deepest parser, and colour only where it belongs (issue 17)."""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.terminal import stderr_on_a_terminal

from hardbox.cli import main as cli_main
from hardbox.cli import terminal


def test_the_command_table_names_each_modules_commands_exactly() -> None:
    """COMMAND_MODULES is what lets `hardbox pull` load one module: a command missing from
    it, or mapped to a module that does not register it, fails here."""
    for module in cli_main.COMMANDS:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(f"hardbox.cli.{module}").register(sub)
        mapped = {cmd for cmd, mod in cli_main.COMMAND_MODULES.items() if mod == module}
        assert set(sub.choices) == mapped, module


@pytest.mark.parametrize("argv", [
    ["--debug", "-q", "--no-color", "image", "ls"],
    ["image", "ls", "--debug", "-q", "--no-color"],
    ["image", "--debug", "ls", "--no-color", "-q"],
    ["-q", "scan", "--debug", "--no-color", "img"],  # scan's own -q is the same option
    ["scan", "img", "-q", "--debug", "--no-color"],
])
def test_own_options_before_or_after_the_subcommand(argv: list[str]) -> None:
    args, extras = cli_main.build_parser(argv).parse_known_args(argv)
    assert extras == []
    assert (args.debug, args.quiet, args.no_color) == (True, True, True)


def test_own_options_default_to_off_everywhere() -> None:
    for argv in (["image", "ls"], ["scan", "img"], ["run", "bbtest", "-q"]):
        args, _ = cli_main.build_parser(argv).parse_known_args(argv)
        assert (args.debug, args.quiet, args.no_color) == (False, False, False), argv


def test_options_after_a_containers_command_are_its_own() -> None:
    """`hardbox run IMAGE sh -q`: -q belongs to the container's command, not to hardbox."""
    argv = ["run", "bbtest", "sh", "-q", "--debug"]
    args, _ = cli_main.build_parser(argv).parse_known_args(argv)
    assert args.command == ["sh", "-q", "--debug"] and not args.quiet and not args.debug


def _hardbox(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("HARDBOX_DEBUG", "NO_COLOR")} | env
    return subprocess.run([sys.executable, "-m", "hardbox", *argv], capture_output=True, text=True,
                          env=full, timeout=60)


@pytest.mark.parametrize("argv, usage", [
    (["image", "ls", "--bogus"], "usage: hardbox image ls "),
    (["image", "inspect"], "usage: hardbox image inspect "),
    (["profile", "export", "--format", "nope", "x"], "usage: hardbox profile export "),
    (["db", "status", "--bogus"], "usage: hardbox db status "),
    (["logs"], "usage: hardbox logs "),
])
def test_a_usage_error_shows_the_subcommands_own_usage(argv: list[str], usage: str) -> None:
    proc = _hardbox(*argv)
    assert proc.returncode == 2
    assert proc.stderr.startswith(usage), proc.stderr
    assert f"see `hardbox {' '.join(usage.split()[2:])} --help`" in proc.stderr


def test_debug_after_the_subcommand_shows_the_traceback(tmp_path: Path) -> None:
    proc = _hardbox("logs", "nope", "--debug", HARDBOX_ROOT=str(tmp_path / "store"))
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr and "UsageError: no such container: nope" in proc.stderr
    proc = _hardbox("logs", "nope", HARDBOX_ROOT=str(tmp_path / "store"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def _stderr_on_a_terminal(*argv: str, **env: str) -> bytes:
    """Run hardbox with a pty as stderr, colour left to the terminal (TERM=xterm, no
    NO_COLOR, no --debug); what it wrote there."""
    full = {k: v for k, v in os.environ.items() if k not in ("HARDBOX_DEBUG", "NO_COLOR")} | env
    full["TERM"] = "xterm"
    return stderr_on_a_terminal(*argv, env=full)[1]


def test_errors_are_coloured_on_a_terminal_only(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    coloured = _stderr_on_a_terminal("logs", "nope", HARDBOX_ROOT=store)
    assert b"\x1b[1;31mhardbox:\x1b[0m no such container: nope" in coloured, coloured
    assert b"\x1b[2mhint:\x1b[0m" in coloured
    for plain in (_stderr_on_a_terminal("logs", "nope", "--no-color", HARDBOX_ROOT=store),
                  _stderr_on_a_terminal("--no-color", "logs", "nope", HARDBOX_ROOT=store),
                  _stderr_on_a_terminal("logs", "nope", HARDBOX_ROOT=store, NO_COLOR="1")):
        assert b"\x1b[" not in plain and b"hardbox: no such container: nope" in plain, plain
    piped = _hardbox("logs", "nope", HARDBOX_ROOT=store)
    assert "\x1b[" not in piped.stderr and piped.stderr.startswith("hardbox: no such container: nope")


def test_colour_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    master, slave = os.openpty()
    with os.fdopen(slave, "w") as tty_stream:
        monkeypatch.delenv("NO_COLOR", raising=False)
        monkeypatch.setenv("TERM", "xterm-256color")
        terminal.configure()
        assert terminal.paint("x", "error", tty_stream) == "\x1b[1;31mx\x1b[0m"
        monkeypatch.setenv("NO_COLOR", "")  # no-color.org: present but empty does not count
        assert terminal.colour(tty_stream)
        monkeypatch.setenv("NO_COLOR", "1")
        assert terminal.paint("x", "error", tty_stream) == "x"
        monkeypatch.delenv("NO_COLOR")
        monkeypatch.setenv("TERM", "dumb")
        assert not terminal.colour(tty_stream)
        monkeypatch.setenv("TERM", "xterm")
        terminal.configure(no_color=True)
        assert not terminal.colour(tty_stream)
        terminal.configure()
    os.close(master)
    with open(os.devnull, "w") as null:
        assert not terminal.colour(null)


def test_quiet_silences_progress_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from hardbox.cli import output

    master, slave = os.openpty()
    with os.fdopen(slave, "w") as tty_stream:
        monkeypatch.setattr(sys, "stderr", tty_stream)
        terminal.configure()
        assert output.Progress("x").enabled
        terminal.configure(quiet=True)
        try:
            assert not output.Progress("x").enabled
            assert not output.stderr_is_tty()
        finally:
            terminal.configure()
    os.close(master)


def test_scan_summary_colours_severities_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from hardbox.cli.scan import summary
    from hardbox.scan.result import from_dict

    fixture = Path(__file__).parents[1] / "fixtures" / "report" / "sample-scan.json"
    result = from_dict(json.loads(fixture.read_text()))
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    terminal.configure()
    worst = result.top(1)[0].severity.value
    master, slave = os.openpty()
    with os.fdopen(slave, "w") as tty_stream:
        coloured = summary(result, [], tty_stream)
        assert f"\x1b[{terminal.STYLES[worst]}m{worst.upper():8}\x1b[0m" in coloured
        monkeypatch.setenv("NO_COLOR", "1")
        assert "\x1b[" not in summary(result, [], tty_stream)
    os.close(master)
    with open(os.devnull, "w") as null:
        monkeypatch.delenv("NO_COLOR")
        plain = summary(result, [], null)
    assert "\x1b[" not in plain and plain == summary(result, [])


def test_a_usage_error_is_coloured_unless_no_color(tmp_path: Path) -> None:
    coloured = _stderr_on_a_terminal("logs", "--tail", "x", "c")
    assert b"\x1b[1;31mhardbox: error:\x1b[0m argument -n/--tail" in coloured, coloured
    plain = _stderr_on_a_terminal("logs", "--no-color", "--tail", "x", "c")
    assert b"\x1b[" not in plain and b"hardbox: error: argument -n/--tail" in plain, plain
