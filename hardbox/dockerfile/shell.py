"""The shell commands a ``RUN`` instruction executes, split into simple commands.

The lint rules ask questions like "does this RUN call ``apk add`` without ``--no-cache``" or
"is ``curl`` piped into ``sh``". They need the script as the shell would see it — shell form,
exec form (``["sh", "-c", "…"]``) or a heredoc body — split at ``&&``, ``||``, ``;``, ``|``,
``&``, newlines and subshell parentheses into simple commands, each with its words (quotes
removed, leading ``VAR=value`` assignments and wrappers such as ``sudo``/``env`` noted and
skipped) and whether its output is piped into the next one.

This is not a shell: no expansion, no functions. It is the reading a reviewer does, made
repeatable, and a script it cannot tokenise falls back to whitespace splitting.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from hardbox.dockerfile.parser import Instruction

_SEPARATORS = frozenset({"&&", "||", ";", ";;", "&", "|", "\n", "(", ")", "|&"})
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# Commands that run their arguments as another command.
_WRAPPERS = frozenset({"sudo", "env", "nice", "nohup", "time", "exec", "command", "doas", "su-exec", "gosu"})
_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh", "/bin/sh", "/bin/bash", "/bin/ash", "/bin/dash"})


@dataclass(frozen=True)
class SimpleCommand:
    """One simple command: ``program`` and ``args`` after assignments and wrappers;
    ``wrappers`` the wrappers skipped (``sudo`` among them); ``piped`` if ``|`` follows."""

    program: str
    args: tuple[str, ...]
    wrappers: tuple[str, ...] = ()
    piped: bool = False

    @property
    def name(self) -> str:
        """The program's basename: ``/usr/bin/apt-get`` → ``apt-get``."""
        return self.program.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Script:
    """The shell text a RUN executes and its simple commands, in order."""

    text: str
    commands: tuple[SimpleCommand, ...]


def run_script(ins: Instruction) -> Script:
    """The script of a RUN instruction (also used for shell-form CMD/ENTRYPOINT)."""
    text = _script_text(ins)
    return Script(text, tuple(split_commands(text)))


def _script_text(ins: Instruction) -> str:
    if ins.exec_form:
        args = list(ins.args)
        if len(args) >= 3 and args[0].rsplit("/", 1)[-1] in {"sh", "bash", "ash", "dash"} and args[1] == "-c":
            return args[2]
        return shlex.join(args)
    text = " ".join(ins.args)
    if ins.heredocs:
        # `RUN <<EOF` alone: the heredoc body is the script. `RUN bash <<EOF` or
        # `RUN python3 <<EOF`: the body is that program's stdin; only a shell's counts as script.
        head = re.sub(r"<<-?\s*[\"']?\w+[\"']?", "", text).strip()
        bodies = "\n".join(h.content for h in ins.heredocs)
        words = head.split()
        if not words or words[0] in _SHELLS or (len(words) > 1 and words[1] in {"sh", "bash"}):
            return bodies if not words else f"{head}\n{bodies}"
        return head
    return text


def split_commands(text: str) -> list[SimpleCommand]:
    tokens = _tokens(text)
    out: list[SimpleCommand] = []
    current: list[str] = []
    for tok in tokens:
        if tok in _SEPARATORS:
            cmd = _simple(current, piped=tok in ("|", "|&"))
            if cmd is not None:
                out.append(cmd)
            current = []
        else:
            current.append(tok)
    last = _simple(current, piped=False)
    if last is not None:
        out.append(last)
    return out


def _tokens(text: str) -> list[str]:
    lex = shlex.shlex(text, posix=True, punctuation_chars="();<>|&\n")
    lex.whitespace = " \t\r"
    lex.whitespace_split = True
    try:
        tokens = list(lex)
    except ValueError:
        # Unbalanced quotes (a heredoc of another language, say): read it word by word.
        tokens = [t for line in text.splitlines() for t in ([*line.split(), "\n"])]
    # A backslash-newline that survived (exec form text) is a continuation, not a word.
    return [t for t in tokens if t != "\\"]


def _simple(words: list[str], *, piped: bool) -> SimpleCommand | None:
    wrappers: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if _ASSIGNMENT.match(word) or word in {"<", ">", ">>", "<<", "2>", "!"}:
            i += 1
        elif word.rsplit("/", 1)[-1] in _WRAPPERS:
            wrappers.append(word.rsplit("/", 1)[-1])
            i += 1
            # Skip the wrapper's own options (`sudo -u user`, `env -i`).
            while i < len(words) and words[i].startswith("-"):
                i += 2 if words[i] in {"-u", "-g", "-n"} else 1
        else:
            break
    rest = [w for w in words[i:] if w]
    if not rest:
        return None
    return SimpleCommand(rest[0], tuple(rest[1:]), tuple(wrappers), piped)


def positional(args: tuple[str, ...], with_value: frozenset[str]) -> list[str]:
    """Arguments that are not options, skipping the value of each option in ``with_value``
    (``-o Dpkg::Options=x``, ``--virtual .deps``). ``--opt=value`` carries its own value."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg.startswith("-"):
            skip = arg in with_value
        elif arg in {">", ">>", "<", ">&", "&>"}:
            skip = True
        else:
            out.append(arg)
    return out
