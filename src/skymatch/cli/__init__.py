"""The ``skymatch`` command line: ``main(argv=None) -> int``.

Each command turns its options into a call of the public function of the same name
(``skymatch sky`` -> :func:`skymatch.sky`) with the same keyword names, prints the
result and maps errors to exit codes: 0 success, 1 a skymatch error (one line on
stderr), 2 a usage error, 3 ``align`` left an image unaligned, 130 interrupted, 141
output pipe closed.  This package is the only place that configures logging or prints.
Only the standard library is imported until a command runs, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

from .._version import __version__
from ..exceptions import SkymatchError, SkymatchWarning
from ._common import BoolFlag, Parser, cli_spelling, normalize_argv, stderr, suggest_option

__all__ = ["main", "build_parser"]


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser and ``{command: subparser}``."""
    from ._align import add_align_commands
    from ._data import add_data_commands
    from ._demo import add_demo_command
    from ._sky import add_sky_commands

    p = Parser(prog="skymatch",
               description="Match the sky background of overlapping exposures (AstroDrizzle's skymethod), "
                           "drizzle mosaics, align visits. Every command is also a Python function: "
                           "skymatch sky ... is skymatch.sky(...), with the same option names "
                           "(--sky-bits is sky_bits=).",
               epilog="AstroDrizzle spellings work: --final_bits 64, --final-wcs True. "
                      "'skymatch COMMAND --help' lists a command's options.")
    p.add_argument("--version", action="version", version=f"skymatch {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="more log output on stderr (-vv: debug); works after the command too")
    p.add_argument("--progress", action=BoolFlag, default=None,
                   help="progress bars (default: when stderr is a terminal)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    add_sky_commands(sub)
    add_data_commands(sub)
    add_align_commands(sub)
    add_demo_command(sub)
    return p, dict(sub.choices)


def _setup_logging(verbosity: int) -> None:
    import logging

    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("skymatch: %(levelname)s: %(message)s"))
    # The level is the handler's, so a run's log file can still receive INFO records.
    handler.setLevel(level)
    logger = logging.getLogger("skymatch")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ARG001 - warnings.showwarning's signature
    kind = "warning" if issubclass(category, SkymatchWarning) else category.__name__
    print(f"skymatch: {kind}: {message}", file=sys.stderr)


def _parse(argv: Sequence[str]) -> tuple[argparse.Namespace, argparse.ArgumentParser]:
    parser, commands = build_parser()
    args, extra = parser.parse_known_args(normalize_argv(argv, [parser, *commands.values()]))
    sub = commands.get(args.command, parser)
    if extra:
        unknown = next((e for e in extra if e.startswith("-")), extra[0])
        hint = suggest_option(unknown, sub) if unknown.startswith("-") else None
        # The other unrecognized options by name (the words after an unknown option are its
        # values); with no unknown option, every stray word.
        rest = extra[extra.index(unknown) + 1:] if unknown.startswith("-") else extra[1:]
        also = [e for e in rest if e.startswith("-")] if unknown.startswith("-") else rest
        sub.error(f"unrecognized argument {unknown}" + (f"; did you mean {hint}?" if hint else "")
                  + (f" (also unrecognized: {' '.join(also)})" if also else ""))
    args.verbose = args.verbose + getattr(args, "sub_verbose", 0)
    return args, sub


def _quiet_broken_pipe() -> int:
    # Python's advice (docs: signal, "Note on SIGPIPE"): point stdout at devnull so the
    # interpreter's final flush does not fail again, and exit like a process killed by it.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor
        pass
    return 141


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 success, 1 a skymatch error, 2 a usage error, 3 not every image aligned,
        130 interrupted, 141 the output pipe was closed.
    """
    interrupted: list[int] = []
    restore = _catch_interrupts(interrupted)
    try:
        args, sub = _parse(list(sys.argv[1:] if argv is None else argv))
        _setup_logging(args.verbose)
        with warnings.catch_warnings():
            # skymatch's own warnings are reported as one line each, never raised.
            warnings.simplefilter("always", SkymatchWarning)
            warnings.showwarning = _show_warning
            try:
                return int(args.func(args) or 0)
            except SkymatchError as exc:
                dests = {a.dest for a in sub._actions if a.option_strings}
                stderr(f"error: {cli_spelling(str(exc), dests)}")
                return 1
            finally:
                sys.stdout.flush()
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except KeyboardInterrupt:
        stderr("interrupted")
        return 130
    except Exception:
        # Ctrl-C can surface as another library's error (matplotlib interrupted while
        # drawing raises ValueError): after an interrupt, say so, not a traceback.
        if interrupted:
            stderr("interrupted")
            return 130
        raise
    finally:
        restore()


def entry() -> int:
    """The ``skymatch`` command: :func:`main`, then Ctrl-C ignored while the interpreter
    shuts down — the run has finished (committed or rolled back) and said so; an
    interrupt now would only kill the process without a word."""
    import signal

    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


def _catch_interrupts(interrupted: list[int]):
    """Record SIGINT in ``interrupted`` (then raise KeyboardInterrupt as Python does);
    returns the function restoring the previous handler.  Only in the main thread, and
    only where SIGINT has Python's default handler (an ignored SIGINT stays ignored)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return lambda: None

    def on_sigint(signum, _frame):
        interrupted.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    return lambda: signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
