"""The quick reader of `hardbox run` and `hardbox exec` lines: the values argparse would
give, read from the same option table (cli/optable.py) without importing argparse — with
it, its gettext, locale, re and enum, and building the parser, a fifth of a container's
start-up (bench/RESULTS.md, issue 14).

It follows argparse's own algorithm (Python 3.11's ``_parse_known_args``) step by step for
the shapes a table can declare, and gives up — ``parse`` returns None and cli/main.py asks
argparse — wherever it is not certain to reach argparse's result: any error (a missing
value, a bad choice or number, an unknown or ambiguous option, no target), an abbreviated
option, ``-h``/``--help``, hardbox's own ``--debug``/``--no-color``/``-q`` (cli/main.py adds
them to every command), and a value argparse would turn into something odd (``--opt=--``).
So every message a user sees about the line is still argparse's.
tests/unit/test_cli_quickparse.py runs generated and hand-picked lines through both.
"""

from __future__ import annotations

from hardbox.cli.optable import APPEND, STORE_TRUE, Option, options_of, positionals_of

TYPE_CHECKING = False  # typing's own name would load typing (start-up, issue 14)
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from hardbox.cli.optable import Positional

# The option strings argparse knows besides a table's: every parser's -h/--help, and the
# ones cli/main.py adds to the top-level parser and to every subcommand. Meeting one (or a
# prefix only they complete) sends the line to argparse.
HELP = ("-h", "--help")
OWN = ("--debug", "--no-color", "-q", "--quiet")
TOP = (*HELP, "--version", *OWN)


class _Unsure(Exception):
    """The line needs argparse: an error to report, or a case this reader does not take."""


def parse(table: Iterable[Option | Positional], words: Sequence[str]) -> dict[str, object] | None:
    """What argparse's subparser for ``table`` would put in the namespace for ``words`` (the
    line after the command's name), or None when argparse must read the line itself."""
    options = options_of(table)
    positionals = positionals_of(table)
    if len(positionals) != 2 or positionals[0].remainder or not positionals[1].remainder:
        return None  # a table this reader was not written for
    if any(o.type is not None and isinstance(o.initial(), str) for o in options):
        return None  # argparse would convert such a default: not done here
    try:
        return _parse(options, positionals[0].dest, positionals[1].dest, list(words))
    except _Unsure:
        return None


def _parse(options: list[Option], target: str, rest: str, words: list[str]) -> dict[str, object]:
    by_flag: dict[str, Option | None] = {flag: None for flag in (*HELP, *OWN)}
    for option in options:
        by_flag.update(dict.fromkeys(option.flags, option))
    top: dict[str, Option | None] = dict.fromkeys(TOP)
    # argparse's first pass: each word before the first `--` is an option ('O') or not
    # ('A'); `--` itself is '-', every word after it 'A'. The top-level parser classifies
    # the same words first, and fails there on an ambiguous prefix of its own options.
    pattern: list[str] = []
    found: dict[int, tuple[Option | None, str, str | None]] = {}
    for i, word in enumerate(words):
        if word == "--":
            pattern.append("-")
            pattern.extend("A" * (len(words) - i - 1))
            break
        _classify(word, top)
        hit = _classify(word, by_flag)
        if hit is None:
            pattern.append("A")
        else:
            found[i] = hit
            pattern.append("O")

    values = {option.dest: option.initial() for option in options}
    i = 0
    while i < len(words):
        if pattern[i] == "O":
            i = _consume_option(found[i], by_flag, words, pattern, i, values)
            continue
        # The positionals, as argparse matches them: the target `(-*A-*)`, then the rest
        # `([-AO]*)`; the first `--` among the target's words is dropped.
        j = i
        while j < len(words) and pattern[j] == "-":
            j += 1
        if j == len(words):
            raise _Unsure  # no target: argparse's "required" error
        j += 1
        while j < len(words) and pattern[j] == "-":
            j += 1
        taken = words[i:j]
        if "--" in taken:
            taken.remove("--")
        if len(taken) != 1:
            raise _Unsure  # argparse would store a list here
        values[target] = taken[0]
        values[rest] = words[j:]
        return values
    raise _Unsure  # no target given


def _classify(word: str, flags: dict[str, Option | None]) -> tuple[Option | None, str, str | None] | None:
    """argparse's ``_parse_optional``: None for a positional word, else (option, the flag it
    matched, the value given with it); an unknown option, -h or hardbox's own is
    (None, …). A flag that is only a prefix (an abbreviation) or is ambiguous is _Unsure."""
    if not word or word[0] != "-":
        return None
    if word in flags:
        return flags[word], word, None
    if len(word) == 1:
        return None
    if "=" in word:
        flag, value = word.split("=", 1)
        if flag in flags:
            return flags[flag], flag, value
    matches = _prefix_matches(word, flags)
    if len(matches) > 1:
        raise _Unsure  # argparse: "ambiguous option"
    if matches:
        flag, attached = matches[0]
        if word[1] == "-" or flag != word[:2]:
            raise _Unsure  # an abbreviated option: argparse's own business
        return flags[flag], flag, attached
    if _looks_negative(word):
        return None  # no option of hardbox's looks like a negative number
    if " " in word:
        return None
    return None, word, None


def _prefix_matches(word: str, flags: dict[str, Option | None]) -> list[tuple[str, str | None]]:
    """argparse's ``_get_option_tuples`` (allow_abbrev on): ``--pre[=value]`` matches every
    long flag starting with ``--pre``; ``-xVALUE`` the short flag ``-x``, and any flag
    starting with the whole word."""
    if word[1] == "-":
        prefix, eq, value = word.partition("=")
        return [(flag, value if eq else None) for flag in flags if flag.startswith(prefix)]
    found: list[tuple[str, str | None]] = []
    for flag in flags:
        if flag == word[:2]:
            found.append((flag, word[2:]))
        elif flag.startswith(word):
            found.append((flag, None))
    return found


def _looks_negative(word: str) -> bool:
    """argparse's ``^-\\d+$|^-\\d*\\.\\d+$`` (``\\d`` any Unicode decimal digit; ``$``
    also before a final newline)."""
    body = word[1:-1] if word.endswith("\n") else word[1:]
    whole, dot, fraction = body.partition(".")
    if not dot:
        return body.isdecimal()
    return (not whole or whole.isdecimal()) and fraction.isdecimal()


def _consume_option(hit: tuple[Option | None, str, str | None], by_flag: dict[str, Option | None],
                    words: list[str], pattern: list[str], i: int, values: dict[str, object]) -> int:
    """argparse's ``consume_optional``: store what the option at ``words[i]`` gives (``-it``:
    each flag run together in one word) and return the index of the next word to read."""
    option, flag, given = hit
    taken: list[tuple[Option, str | None]] = []
    while True:
        if option is None:
            raise _Unsure  # unknown, -h/--help, or hardbox's own option
        if given is None:
            if not option.takes_value:
                taken.append((option, None))
                stop = i + 1
            elif i + 1 < len(words) and pattern[i + 1] == "A":
                taken.append((option, words[i + 1]))
                stop = i + 2
            else:
                raise _Unsure  # "expected one argument"
            break
        if not option.takes_value and flag[1] != "-" and given != "":
            taken.append((option, None))  # -it: -i, then -t read from the rest of the word
            flag, given = "-" + given[0], given[1:] or None
            if flag not in by_flag:
                raise _Unsure  # "ignored explicit argument"
            option = by_flag[flag]
            continue
        if not option.takes_value:
            raise _Unsure  # --rm=x, -i=: "ignored explicit argument"
        taken.append((option, given))
        stop = i + 1
        break
    for option, value in taken:
        _store(option, value, values)
    return stop


def _store(option: Option, word: str | None, values: dict[str, object]) -> None:
    """argparse's ``take_action``: the value converted and checked, then stored."""
    if option.action == STORE_TRUE:
        values[option.dest] = True
        return
    if word == "--":
        raise _Unsure  # argparse drops it and stores an empty list
    value: object = word
    if option.type is not None:
        try:
            value = option.type(word)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise _Unsure from None  # "invalid int value"
    if option.choices is not None and value not in option.choices:
        raise _Unsure  # "invalid choice"
    if option.action == APPEND:
        items = values[option.dest]
        assert isinstance(items, list)
        items.append(value)
    else:
        values[option.dest] = value
