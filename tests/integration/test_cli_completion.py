"""Shell completion (issue 17): the completers in-process against a real store and real
container state, the parser's IMAGE and container positionals wired to them, and one real
bash completion through the script `hardbox completion bash` prints."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import hardbox

from hardbox.cli import completion
from hardbox.cli import main as cli_main


@pytest.fixture
def stored(busybox_archive: Path, hardbox_root: Path) -> Path:
    hardbox("image", "import", str(busybox_archive), "--tag", "bbtest", check=True)
    hardbox("image", "tag", "bbtest", "quay.io/team/tool:2", check=True)
    return hardbox_root


def test_image_names_come_from_the_store(stored: Path) -> None:
    assert completion.image_names("bb") == ["bbtest:latest"]
    assert completion.image_names("quay") == ["quay.io/team/tool:2"]
    assert "docker.io/library/bbtest:latest" in completion.image_names("docker.io/")
    assert completion.image_names("zz") == []


def test_no_store_means_no_names_and_none_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARDBOX_ROOT", str(tmp_path / "absent"))
    assert completion.image_names("") == [] and completion.container_names("") == []
    assert not (tmp_path / "absent").exists()


@pytest.mark.root
def test_container_names_come_from_state(stored: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to start a container")
    proc = hardbox("run", "--name", "webby", "bbtest", "true")
    assert proc.returncode == 0, proc.stderr
    names = completion.container_names("")
    assert "webby" in names
    short_id = next(n for n in names if n != "webby")
    assert len(short_id) == 12 and completion.container_names(short_id[:4]) == [short_id]
    assert completion.container_names("web") == ["webby"]


def _positionals(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _positionals(sub, (*path, name))
        elif not action.option_strings:
            yield path, action


def test_every_image_and_container_positional_has_its_completer() -> None:
    parser = cli_main.build_parser()
    completion.attach_completers(parser)
    wired = {(path, a.dest): getattr(a, "completer", None) for path, a in _positionals(parser)}
    assert wired[(("run",), "image")] is completion.image_names
    assert wired[(("scan",), "image")] is completion.image_names
    assert wired[(("image", "rm"), "refs")] is completion.image_names
    assert wired[(("push",), "local")] is completion.image_names
    assert wired[(("exec",), "container")] is completion.container_names
    assert wired[(("logs",), "container")] is completion.container_names
    assert wired[(("rm",), "containers")] is completion.container_names
    assert wired[(("pull",), "ref")] is None  # a remote name: not the store's
    for (path, dest), found in wired.items():
        action = next(a for p, a in _positionals(parser) if p == path and a.dest == dest)
        if action.metavar == "IMAGE":
            assert found is completion.image_names, (path, dest)


def _bash_complete(line: str, env: dict[str, str], bindir: Path) -> list[str]:
    """Complete ``line`` the way bash does at a prompt, through the printed script."""
    script = subprocess.run([sys.executable, "-m", "hardbox", "completion", "bash"], capture_output=True,
                            text=True, check=True, env=env).stdout
    words = line.split() + ([""] if line.endswith(" ") else [])
    probe = (
        f"{script}\n"
        f"COMP_LINE={line!r}; COMP_POINT=${{#COMP_LINE}}; COMP_TYPE=9\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
        "_python_argcomplete hardbox\n"
        "printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", probe], capture_output=True, text=True,
                          env={**env, "PATH": f"{bindir}:{env['PATH']}"}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [w.strip() for w in proc.stdout.splitlines() if w.strip()]


def test_a_real_bash_completion(stored: Path, tmp_path: Path) -> None:
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "hardbox"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m hardbox "$@"\n')
    wrapper.chmod(0o755)
    env = dict(os.environ)
    assert _bash_complete("hardbox run bb", env, bindir) == ["bbtest:latest"]
    assert set(_bash_complete("hardbox pu", env, bindir)) == {"pull", "push"}
    assert "--tail" in _bash_complete("hardbox logs --t", env, bindir)
    assert "quay.io/team/tool:2" in _bash_complete("hardbox image inspect q", env, bindir)
