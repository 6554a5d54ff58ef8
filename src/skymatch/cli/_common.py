"""What every command shares: the forgiving parser, option helpers, table printing.

Nothing here imports numpy, astropy or the pipeline: ``skymatch --help`` must answer
at once.  Option defaults are read from the public functions' signatures, so the
command line and the library cannot disagree about them.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = [
    "Parser", "HelpFormatter", "BoolFlag", "api_defaults", "api_kwargs", "normalize_argv",
    "format_table", "print_table", "print_lines", "yes_no", "float_or_none", "int_or_none",
    "bits", "add_common", "add_log_file", "add_execution", "CLI_ONLY_DESTS", "cli_spelling",
]

# Destinations that belong to the command line only (not keywords of the api).
CLI_ONLY_DESTS = frozenset({"help", "sub_verbose", "version", "verbose", "command", "func"})

_TRUE = ("1", "true", "yes", "y", "t", "on")
_FALSE = ("0", "false", "no", "n", "f", "off")


# ---------------------------------------------------------------- value types
def yes_no(text: str) -> bool:
    """``true/false``, ``yes/no``, ``on/off``, ``1/0`` (any case)."""
    t = str(text).strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def float_or_none(text: str) -> float | None:
    """A number, or ``none``/``INDEF``/empty for None."""
    if text is None or str(text).strip().lower() in ("", "none", "indef"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'none', got {text!r}") from None


def int_or_none(text: str) -> int | None:
    """A whole number, or ``none`` for None."""
    if text is None or str(text).strip().lower() in ("", "none", "indef"):
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'none', got {text!r}") from None


def bits(text: str) -> str | None:
    """DQ bit flags as typed (``64``, ``4+8``, ``~4``), or ``none`` for None."""
    if text is None or str(text).strip().lower() in ("", "none", "indef"):
        return None
    return str(text).strip()


# ---------------------------------------------------------------- actions and help
class BoolFlag(argparse.Action):
    """``--flag`` / ``--no-flag`` (AstroDrizzle's ``--flag True``/``False`` are turned
    into these by :func:`normalize_argv`)."""

    def __init__(self, option_strings: Sequence[str], dest: str, default: Any = False,  # noqa: FBT002 - argparse's
                 help: str | None = None, **kwargs: Any) -> None:  # noqa: A002, ARG002 - argparse's signature
        strings = []
        for s in option_strings:
            strings.append(s)
            if s.startswith("--") and not s.startswith("--no-"):
                strings.append("--no-" + s[2:])
        super().__init__(strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # noqa: ARG002 - argparse's signature
        setattr(namespace, self.dest, not str(option_string).startswith("--no-"))

    def format_usage(self) -> str:
        return " | ".join(self.option_strings)


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if value is True:
        return "on"
    if value is False:
        return "off"
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default and, where there are, its choices."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if text is argparse.SUPPRESS or not action.option_strings:
            return text
        extra = []
        if action.choices and "choices" not in text and not isinstance(action, argparse._SubParsersAction):
            extra.append("choices: " + ", ".join(str(c) for c in action.choices))
        if action.required:
            extra.append("required")
        elif ("default:" not in text and action.default is not argparse.SUPPRESS
                and not isinstance(action, (argparse._StoreConstAction, argparse._HelpAction,
                                            argparse._VersionAction, argparse._CountAction))):
            extra.append(f"default: {_show(action.default)}")
        if extra:
            text = f"{text} ({'; '.join(extra).replace('%', '%%')})"
        return text


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that suggests the closest choice on a misspelt command or value."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:
            import difflib

            choices = [c.strip().strip("'") for c in m.group(2).split(",")]
            close = difflib.get_close_matches(m.group(1), choices, n=1, cutoff=0.5)
            if close:
                message = f"{message}; did you mean {close[0]!r}?"
        super().error(message)


# ---------------------------------------------------------------- argv habits
def _bool_flags(parsers: Iterable[argparse.ArgumentParser]) -> tuple[set[str], set[str]]:
    longs, flags = set(), set()
    for p in parsers:
        for a in p._actions:
            for s in a.option_strings:
                if s.startswith("--"):
                    longs.add(s)
            if isinstance(a, BoolFlag):
                flags.update(s for s in a.option_strings if s.startswith("--"))
    return longs, flags


def normalize_argv(argv: Sequence[str], parsers: Iterable[argparse.ArgumentParser]) -> list[str]:
    """Accept AstroDrizzle's habits: ``--final_bits 64`` (underscores) and
    ``--final-wcs True`` / ``--final_wcs=False`` (booleans with a value).

    Only option names the parsers know are rewritten; everything after ``--`` is
    left alone.
    """
    longs, flags = _bool_flags(parsers)
    out: list[str] = []
    args = list(argv)
    k = 0
    while k < len(args):
        tok = args[k]
        if tok == "--":
            out.extend(args[k:])
            break
        if tok.startswith("--") and len(tok) > 2:
            name, eq, value = tok.partition("=")
            if name not in longs and "_" in name and name.replace("_", "-") in longs:
                name = name.replace("_", "-")
            if name in flags:
                if not eq and k + 1 < len(args) and args[k + 1].strip().lower() in _TRUE + _FALSE:
                    value, eq = args[k + 1], "="
                    k += 1
                if eq:
                    truth = value.strip().lower() in _TRUE
                    if value.strip().lower() not in _TRUE + _FALSE:
                        out.append(f"{name}={value}")  # let argparse complain
                        k += 1
                        continue
                    positive = name[5:] if name.startswith("--no-") else name[2:]
                    negative = name.startswith("--no-")
                    name = f"--{positive}" if truth != negative else f"--no-{positive}"
                    out.append(name)
                    k += 1
                    continue
            out.append(f"{name}{eq}{value}" if eq else name)
        else:
            out.append(tok)
        k += 1
    return out


def suggest_option(unknown: str, parser: argparse.ArgumentParser) -> str | None:
    """The known option closest to ``unknown`` (``--final-bit`` -> ``--final-bits``)."""
    import difflib

    name = unknown.split("=", 1)[0]
    known = [s for a in parser._actions if a.help is not argparse.SUPPRESS for s in a.option_strings]
    close = difflib.get_close_matches(name.replace("_", "-"), known, n=1, cutoff=0.6)
    return close[0] if close else None


def cli_spelling(message: str, dests: Iterable[str]) -> str:
    """Write the api's names as the command line's flags: ``sky_bits='4+x'`` and
    ``relax sky_bits`` become ``--sky-bits='4+x'`` and ``relax --sky-bits``.

    Names with an underscore are identifiers wherever they appear; plain words
    (``table``, ``sigma``) are rewritten only as ``word=``.
    """
    names = sorted(set(dests), key=len, reverse=True)
    if not names:
        return message
    alt = "|".join(re.escape(n) for n in names)
    pattern = re.compile(r"(?<![\w.-])(" + alt + r")(?=(=)|\b)")

    def flag(m: re.Match) -> str:
        name = m.group(1)
        if m.group(2) or "_" in name:
            return "--" + name.replace("_", "-")
        return name

    return pattern.sub(flag, message)


# ---------------------------------------------------------------- the api link
def _keyword_names(fn: Callable) -> tuple[str, ...]:
    code = fn.__code__  # no inspect import: the parser is built on every start
    return code.co_varnames[code.co_argcount:code.co_argcount + code.co_kwonlyargcount]


def api_defaults(fn: Callable) -> dict[str, Any]:
    """``{keyword: default}`` of a public function's keyword-only options."""
    return dict(fn.__kwdefaults__ or {})


def api_kwargs(args: argparse.Namespace, fn: Callable, **override: Any) -> dict[str, Any]:
    """The keyword-only options of ``fn`` taken from the parsed options of the same names."""
    return {name: override[name] if name in override else getattr(args, name) for name in _keyword_names(fn)}


# ---------------------------------------------------------------- shared options
def add_common(p: argparse.ArgumentParser, *, progress: bool = True) -> None:
    """``-v`` (and ``--progress``) after the command too."""
    p.add_argument("-v", "--verbose", dest="sub_verbose", action="count", default=0,
                   help="more log output on stderr (-vv: debug)")
    if progress:
        p.add_argument("--progress", action=BoolFlag, default=argparse.SUPPRESS,
                       help="progress bars (default: when stderr is a terminal)")


def add_log_file(p: argparse.ArgumentParser, where: str) -> None:
    """``--log-file PATH`` and ``--no-log-file`` (dest ``log_file``)."""
    p.add_argument("--log-file", default=None, metavar="PATH",
                   help=f"the run's log: parameters, versions, timings, warnings (default: {where})")
    p.add_argument("--no-log-file", dest="log_file", action="store_const", const=False,
                   help="write no log file")


def add_execution(p: argparse.ArgumentParser, defaults: dict, *, dask: bool = True) -> None:
    """``--jobs`` and ``--dask``."""
    g = p.add_argument_group("execution")
    g.add_argument("--jobs", type=int_or_none, default=defaults["jobs"], metavar="N",
                   help="number of local workers (default: one per core)")
    if dask:
        g.add_argument("--dask", metavar="ADDRESS", default=defaults["dask"],
                       help="run the statistics on a dask.distributed scheduler at ADDRESS")


# ---------------------------------------------------------------- printing
def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain left-aligned text table."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(out)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print :func:`format_table`."""
    print(format_table(headers, rows))


def print_lines(table) -> None:
    """Print an astropy Table in full (units row included)."""
    print("\n".join(table.pformat(max_lines=-1, max_width=-1)))


def stderr(text: str) -> None:
    """One line on stderr, prefixed like every skymatch message."""
    print(f"skymatch: {text}", file=sys.stderr)
