"""Parse a Dockerfile into stages and instructions with their line numbers.

The syntax is BuildKit's, and so is the parser: the PyPI package ``dockerfile`` wraps
BuildKit's own Go parser (``moby/buildkit/frontend/dockerfile/parser``) in a binary wheel. It
handles everything a hand-written parser gets subtly wrong — the ``# escape=`` and
``# syntax=`` parser directives, line continuations with comments and blank lines inside them,
heredocs (``RUN <<EOF``, ``COPY <<EOF``, ``<<-EOF``), JSON (exec) versus shell form — and gives
each instruction its first and last line. ``dockerfile-parse`` (the other maintained choice)
was rejected: it has no heredoc support and reads the escape directive only partly.

What BuildKit's parser leaves to its later stages is done here: grouping instructions into
stages (``FROM … AS name``), splitting ``--flag=value`` options, unquoting ``ENV``/``ARG``/
``LABEL`` pairs, rejecting unknown instructions, and ``$VAR``/``${VAR:-default}`` expansion
for the values the lint rules need (the image in ``FROM``, ports in ``EXPOSE``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import dockerfile as _buildkit

from hardbox.errors import InputError
from hardbox.named_input import require_file_or_dir

# The instructions of the Dockerfile reference (docs.docker.com/reference/dockerfile/).
INSTRUCTIONS = frozenset(
    {
        "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
        "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
        "WORKDIR",
    }
)  # fmt: skip

# Dockerfiles are small; a multi-megabyte one is not a Dockerfile.
MAX_DOCKERFILE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Heredoc:
    name: str
    content: str


@dataclass(frozen=True)
class Instruction:
    """One instruction: ``cmd`` upper-case, ``args`` as BuildKit split them, ``flags`` the
    ``--name=value`` options in order, ``exec_form`` for the JSON form."""

    cmd: str
    line: int
    end_line: int
    args: tuple[str, ...]
    flags: tuple[tuple[str, str], ...] = ()
    exec_form: bool = False
    heredocs: tuple[Heredoc, ...] = ()
    original: str = ""
    onbuild: bool = False

    def flag(self, name: str) -> str | None:
        """The value of ``--name`` (last one wins, as in BuildKit), or None if absent."""
        value = None
        for key, val in self.flags:
            if key == name:
                value = val
        return value

    def pairs(self) -> tuple[tuple[str, str | None], ...]:
        """``ENV``/``LABEL``/``ARG`` as (key, value) with shell quotes removed.

        BuildKit hands ENV and LABEL over as alternating key, value; ARG as ``k`` or ``k=v``.
        """
        if self.cmd == "ARG":
            out: list[tuple[str, str | None]] = []
            for arg in self.args:
                key, sep, value = arg.partition("=")
                out.append((key, unquote(value) if sep else None))
            return tuple(out)
        it = iter(self.args)
        return tuple((k, unquote(v)) for k, v in zip(it, it, strict=False))


@dataclass(frozen=True)
class Stage:
    """A build stage: from its FROM to the next. ``base`` is the FROM image as written,
    ``base_expanded`` with global ARG defaults substituted (None if a variable has no default)."""

    index: int
    name: str | None
    base: str
    base_expanded: str | None
    platform: str | None
    from_line: int
    instructions: tuple[Instruction, ...]


@dataclass(frozen=True)
class Dockerfile:
    """``ignores`` maps an instruction's first line to the rule ids its ignore comments name
    (``# hardbox ignore=HB-DF-007`` or ``# hadolint ignore=DL3008`` on the lines just above)."""

    path: str
    stages: tuple[Stage, ...]
    global_args: tuple[Instruction, ...] = ()
    directives: Mapping[str, str] = field(default_factory=dict)
    ignores: Mapping[int, frozenset[str]] = field(default_factory=dict)

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage_names(self) -> frozenset[str]:
        return frozenset(s.name.lower() for s in self.stages if s.name)

    def variables(self, stage: Stage, line: int) -> dict[str, str]:
        """The ARG and ENV values visible to the instruction at ``line`` of ``stage``, as the
        Dockerfile reference scopes them: a global ARG reaches a stage only when the stage
        declares it again (``ARG NAME``); ARG defaults and ENV values apply from their line on.
        """
        global_defaults = {k: v for a in self.global_args for k, v in a.pairs() if v is not None}
        env: dict[str, str] = {}
        for ins in stage.instructions:
            if ins.line >= line:
                break
            for key, value in ins.pairs() if ins.cmd in ("ARG", "ENV") and not ins.onbuild else ():
                if value is None:
                    value = global_defaults.get(key)
                if value is not None:
                    env[key] = expand(value, env) or value
        return env


def parse_file(path: str | Path) -> Dockerfile:
    """Read and parse the Dockerfile at ``path``; an unusable file is an ``InputError``."""
    p = require_file_or_dir(path, "Dockerfile")
    try:
        with p.open("rb") as fh:
            return _parse_stream(fh, str(p))
    except OSError as err:
        raise InputError(f"{p}: cannot read Dockerfile: {err.strerror or err}") from None


def parse_stdin(stream: BinaryIO) -> Dockerfile:
    """A Dockerfile piped in (``hardbox lint -``); findings name it ``-``, as hadolint does."""
    try:
        return _parse_stream(stream, "-")
    except OSError as err:
        raise InputError(f"-: cannot read the Dockerfile from standard input: {err.strerror or err}") from None


def _parse_stream(stream: BinaryIO, name: str) -> Dockerfile:
    data = stream.read(MAX_DOCKERFILE_BYTES + 1)
    if len(data) > MAX_DOCKERFILE_BYTES:
        raise InputError(f"{name}: larger than {MAX_DOCKERFILE_BYTES} bytes; not a Dockerfile")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{name}: not UTF-8 text (byte {err.start})") from None
    return parse_text(text, name)


def parse_text(text: str, name: str = "Dockerfile") -> Dockerfile:
    if "\x00" in text:
        raise InputError(f"{name}: contains NUL bytes; not a Dockerfile")
    try:
        commands = _buildkit.parse_string(text)
    except _buildkit.GoParseError as err:
        raise InputError(f"{name}: {err}") from None
    instructions = [_instruction(c, name) for c in commands]
    if not instructions:
        raise InputError(f"{name}: no instructions")
    ignores = _ignore_comments(text, {ins.line for ins in instructions})
    return _group(instructions, name, _directives(text), ignores)


def _instruction(c: _buildkit.Command, name: str) -> Instruction:
    if c.cmd is None:
        # BuildKit's parser hands back a command without a name for a line that is only a
        # continuation backslash (at the end of the file, say); docker build refuses it too.
        raise InputError(f"{name}:{c.start_line}: a line continuation (\\) with no instruction")
    cmd = c.cmd.upper()
    if cmd not in INSTRUCTIONS:
        raise InputError(f"{name}:{c.start_line}: unknown instruction {c.cmd!r}")
    onbuild = cmd == "ONBUILD"
    if onbuild:
        cmd = (c.sub_cmd or "").upper()
    return Instruction(
        cmd=cmd,
        line=c.start_line,
        end_line=c.end_line,
        args=tuple(c.value),
        flags=tuple(_split_flag(f) for f in c.flags),
        exec_form=bool(c.json),
        heredocs=tuple(Heredoc(h.name, h.content) for h in c.heredocs),
        original=c.original,
        onbuild=onbuild,
    )


def _split_flag(flag: str) -> tuple[str, str]:
    key, _, value = flag.removeprefix("--").partition("=")
    return key.lower(), value


def _group(
    instructions: list[Instruction], name: str, directives: dict[str, str], ignores: dict[int, frozenset[str]]
) -> Dockerfile:
    global_args: list[Instruction] = []
    stages: list[Stage] = []
    current: list[Instruction] = []
    header: Instruction | None = None

    def close() -> None:
        if header is not None:
            stages.append(_stage(len(stages), header, current, global_args, name))

    for ins in instructions:
        if ins.cmd == "FROM" and not ins.onbuild:
            close()
            header, current = ins, []
        elif header is None:
            # Only ARG may precede the first FROM (Dockerfile reference, "Understand how ARG
            # and FROM interact"); BuildKit rejects anything else.
            if ins.cmd != "ARG":
                raise InputError(f"{name}:{ins.line}: {ins.cmd} before the first FROM")
            global_args.append(ins)
        else:
            current.append(ins)
    if header is None:
        raise InputError(f"{name}: no FROM instruction")
    close()
    return Dockerfile(name, tuple(stages), tuple(global_args), directives, ignores)


def _stage(
    index: int, ins: Instruction, body: list[Instruction], gargs: list[Instruction], name: str
) -> Stage:
    args = list(ins.args)
    if not args or not args[0]:
        raise InputError(f"{name}:{ins.line}: FROM without an image")
    stage_name = args[2] if len(args) >= 3 and args[1].upper() == "AS" else None
    defaults = {k: v for a in gargs for k, v in a.pairs() if v is not None}
    return Stage(
        index=index,
        name=stage_name,
        base=args[0],
        base_expanded=expand(args[0], defaults),
        platform=ins.flag("platform"),
        from_line=ins.line,
        instructions=tuple(body),
    )


_DIRECTIVE = re.compile(r"#\s*([A-Za-z]+)\s*=\s*(.*?)\s*$")


def _directives(text: str) -> dict[str, str]:
    """Parser directives: ``# key=value`` lines at the very top, before any other line."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _DIRECTIVE.match(line)
        if not m:
            break
        out[m.group(1).lower()] = m.group(2)
    return out


# hadolint's pragma and hardbox's own: `# hadolint ignore=DL3008,DL3015`, `# hardbox ignore=HB-DF-007`.
_IGNORE = re.compile(r"#\s*(?:hadolint|hardbox)\s+ignore\s*=\s*([A-Za-z0-9-]+(?:\s*,\s*[A-Za-z0-9-]+)*)\s*$")


def _ignore_comments(text: str, starts: set[int]) -> dict[int, frozenset[str]]:
    """The ignore comments of each instruction: those on the comment lines directly above its
    first line, as hadolint reads them. A blank line or anything else in between breaks the
    link, so a stale comment does not silence a later instruction."""
    out: dict[int, frozenset[str]] = {}
    pending: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            m = _IGNORE.match(stripped)
            if m:
                pending.update(rule.strip().upper() for rule in m.group(1).split(","))
            continue
        if pending and number in starts:
            out[number] = frozenset(pending)
        pending = set()
    return out


def unquote(value: str) -> str:
    """Remove the shell quoting BuildKit keeps in ENV/LABEL/ARG values (``"x y"``, ``'x'``)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        inner = value[1:-1]
        return inner if value[0] == "'" else re.sub(r"\\(.)", r"\1", inner)
    return value


_VAR = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-+])?(?P<word>[^}]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


def expand(text: str, env: Mapping[str, str]) -> str | None:
    """Substitute ``$VAR``, ``${VAR}``, ``${VAR:-word}`` and ``${VAR:+word}`` as the Dockerfile
    reference defines them; None when a variable has no value (it would come from
    ``--build-arg``, so the result cannot be known statically)."""
    unknown = False

    def sub(m: re.Match[str]) -> str:
        nonlocal unknown
        name = m.group("braced") or m.group("plain")
        op, word = m.group("op"), m.group("word") or ""
        value = env.get(name)
        if op in (":-", "-"):
            return value if value else word
        if op in (":+", "+"):
            return word if value else ""
        if value is None:
            unknown = True
            return ""
        return value

    result = _VAR.sub(sub, text)
    return None if unknown else result
