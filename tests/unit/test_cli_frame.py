"""The CLI frame: help, version, exit codes and error rendering shared by every command."""

from __future__ import annotations

import argparse
import importlib

import pytest
from helpers.cli import hardbox as hardbox_cli

from hardbox import __version__
from hardbox.cli import main as cli_main
from hardbox.errors import HardboxError, ImageNotFound, PolicyFailed


def test_bare_hardbox_prints_help_and_exits_zero() -> None:
    proc = hardbox_cli()
    assert proc.returncode == 0
    assert "usage: hardbox" in proc.stdout
    listed = {line.split()[0] for line in proc.stdout.splitlines() if line.startswith("    ") and line.split()}
    assert set(cli_main.COMMAND_MODULES) <= listed


def test_version() -> None:
    proc = hardbox_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"hardbox {__version__}"


def test_unknown_command_is_a_usage_error() -> None:
    proc = hardbox_cli("no-such-command")
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_every_registered_command_has_a_module_with_register() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    for name in cli_main.COMMANDS:
        module = importlib.import_module(f"hardbox.cli.{name}")
        assert callable(getattr(module, "register", None)), name
        module.register(sub)
    # Every subcommand the modules registered has a handler, or subcommands of its own.
    for name, subparser in sub.choices.items():
        if subparser.get_default("func") is None and subparser._subparsers is None:
            pytest.fail(f"subcommand {name!r} registers no handler")


def _run_with_handler(handler: object, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    original = cli_main.build_parser

    def build(argv: object = None) -> argparse.ArgumentParser:
        parser = original()
        parser.set_defaults(func=handler)
        return parser

    cli_main.build_parser = build
    try:
        code = cli_main.main(list(argv))
    finally:
        cli_main.build_parser = original
    return code, capsys.readouterr().err


def test_hardbox_error_becomes_one_line_and_its_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    def handler(args: argparse.Namespace) -> int:
        raise ImageNotFound("image 'nope' not found")

    code, err = _run_with_handler(handler, capsys)
    assert code == 2
    assert err.splitlines()[0] == "hardbox: image 'nope' not found"
    assert "hint: list stored images" in err
    assert "Traceback" not in err


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    def handler(args: argparse.Namespace) -> int:
        raise PolicyFailed("policy failed")

    code, err = _run_with_handler(handler, capsys, "--debug")
    assert code == 1
    assert "Traceback" in err


def test_exit_codes_follow_the_shared_conventions() -> None:
    from hardbox import errors

    assert errors.UsageError("x").exit_code == 2
    assert errors.InvalidImage("x").exit_code == 2
    assert errors.ContainerError("x").exit_code == 125
    assert errors.CommandNotExecutable("x").exit_code == 126
    assert errors.CommandNotFound("x").exit_code == 127
    assert errors.PolicyFailed("x").exit_code == 1
    assert issubclass(errors.PolicyFailed, HardboxError)


def test_cli_choices_map_to_real_implementations() -> None:
    from hardbox.cli import profile as profile_cli
    from hardbox.runtime.profile import export

    assert profile_cli.EXPORT_FORMATS == export.FORMATS


def test_building_the_parser_imports_no_library_code() -> None:
    """Every `hardbox` start builds the whole parser: it must stay cheap (``hardbox run``)."""
    import subprocess
    import sys

    code = ("import sys, hardbox.cli.main as m; m.build_parser();"
            "print(sorted(n for n in sys.modules if n.startswith('hardbox.') "
            "and not n.startswith(('hardbox.cli', 'hardbox.errors', 'hardbox.records'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_a_named_command_registers_only_itself() -> None:
    """`hardbox run ...` loads no other command's module; `--help` and typos get all."""
    import subprocess
    import sys

    def loaded(*argv: str) -> list[str]:
        code = ("import sys, hardbox.cli.main as m; m.build_parser(sys.argv[1:]);"
                "print(' '.join(sorted(n for n in sys.modules if n.startswith('hardbox.cli.'))))")
        out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True)
        return out.stdout.split()

    assert loaded("--debug", "run", "--rm", "busybox") == [
        "hardbox.cli.main", "hardbox.cli.optable", "hardbox.cli.options", "hardbox.cli.parser",
        "hardbox.cli.run", "hardbox.cli.terminal"]
    # A command that shares its module with others loads that module alone (issue 11).
    commands = {f"hardbox.cli.{name}" for name in cli_main.COMMANDS}
    assert commands & set(loaded("pull", "busybox")) == {"hardbox.cli.registry"}
    assert commands & set(loaded("-q", "logs", "web")) == {"hardbox.cli.containers"}
    assert commands & set(loaded("--no-color", "image", "ls")) == {"hardbox.cli.image"}
    every = {f"hardbox.cli.{name}" for name in cli_main.COMMANDS}
    assert every <= set(loaded("--help"))
    assert every <= set(loaded("rnu", "busybox"))
    assert every <= set(loaded())


def test_a_mistyped_command_still_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main.main(["rnu", "busybox"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'rnu'" in err
    assert "'minimize'" in err and "'run'" in err


def test_an_os_error_no_layer_explained_is_one_line_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    def handler(args: argparse.Namespace) -> int:
        raise PermissionError(13, "Permission denied", "/var/lib/hardbox/tags.json")

    code, err = _run_with_handler(handler, capsys)
    assert code == 2
    assert err == "hardbox: /var/lib/hardbox/tags.json: Permission denied\n"
    code, err = _run_with_handler(handler, capsys, "--debug")
    assert code == 2 and "Traceback" in err


def test_an_error_quoting_control_characters_stays_one_line() -> None:
    """A YAML key, tar entry or path quoted in a message may hold a newline or an ESC: the
    CLI prints it escaped, one line, nothing the terminal would act on (fuzz finding)."""
    from hardbox.cli.main import one_line

    assert one_line("rlimits.\n: unknown field") == "rlimits.\\x0a: unknown field"
    assert one_line("\x1b[31mRED\x1b[0m\x7f\t") == "\\x1b[31mRED\\x1b[0m\\x7f\\x09"
    assert one_line("plain: ünïcode stays") == "plain: ünïcode stays"
