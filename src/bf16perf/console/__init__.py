"""The ``bf16perf`` command: the history, two reports compared, the stored baselines, this
machine's noise, and the pinned daemons of a multi-host cluster (:mod:`bf16perf.cluster.hosts`).

    bf16perf history [PATH] [--page FILE] [--confirm N]
    bf16perf compare A B [--release]
    bf16perf side-by-side REPORT... [--format markdown|json]
    bf16perf baselines [DIR]
    bf16perf calibrate [--sessions 8] [--runs 3] [--state DIR] [-- PYTEST-PERF-OPTIONS]
    bf16perf reference create NAME [--requirements FILE] | list | remove NAME
    bf16perf master --host ADDR [--port 7077] --secret-file FILE [--state DIR]
    bf16perf worker --master spark://ADDR:PORT --host ADDR (--cpus LIST | --numa-node N)
                    --secret-file FILE [--memory 2g] [--state DIR]

One module a subcommand (its options and what it does); this one assembles the parser and
turns an :class:`~bf16perf.console._common.InputError` into one line on stderr and exit
code 2.  A corrupt history line is named by its number and skipped, never rewritten.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import textwrap
from typing import Any

from bf16perf.console import (
    baselines,
    calibrate,
    compare,
    daemons,
    history,
    reference,
    sidebyside,
    summary,
)
from bf16perf.console._common import InputError
from bf16perf.report.inert import inert

__all__ = ["COMMAND_EXITS", "EXIT_CODES", "inert", "main", "parser"]

EXIT_CODES = """exit codes (0, 10 and 11 mean what they mean for a pytest perf/ session):
  0   all good, or nothing shown (nightly: "cannot tell" is no failure)
  2   a usage error or a bad input, named on stderr; nothing is written (a pytest perf/
      session says the same with pytest's usage-error code, 4)
  10  a regression: compare shows a drop beyond the threshold; history reports a new
      lasting drop in a series
  11  compare --release: a drop beyond the threshold is not ruled out"""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bf16perf")
    except PackageNotFoundError:
        return "unknown"


def parser() -> argparse.ArgumentParser:
    """The command's parser: each subcommand's module adds its own."""
    top = argparse.ArgumentParser(
        prog="bf16perf",
        description=__doc__.split("\n\n")[0].replace("``", "").replace(":mod:", ""),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"bf16perf {_version()}")
    sub = top.add_subparsers(dest="command", required=True)
    for module in (history, compare, summary, sidebyside, calibrate, baselines, reference, daemons):
        module.add(sub)
    _document(sub)
    return top


#: Each subcommand's exit codes, the last part of its ``--help``.
COMMAND_EXITS = {
    "history": "0 no new lasting drop; 10 a series shows a new lasting drop",
    "compare": '0 no drop shown ("cannot tell" included); 10 a drop beyond the threshold'
    " shown; 11 with --release, such a drop not ruled out",
    "summary": "0 the report was read (the session's own exit code is the table's last line)",
    "side-by-side": "0 every report was read and set in the table",
    "calibrate": "0 the estimate was made (and saved, unless --no-save)",
    "baselines": "0 done; also 2 when the listing names an unusable file",
    "reference": "0 done (a reference that fails its check is a bad input: nothing is kept)",
    "master": "the daemon's own exit code once it stops",
    "worker": "the daemon's own exit code once it stops",
}


def _document(sub: Any) -> None:
    """Every subcommand's ``--help``: a description (its one-line help where it has none),
    each option's default, and its exit codes."""
    helps = {a.dest: a.help for a in sub._choices_actions}  # argparse keeps them only here
    for name, command in sub.choices.items():
        command.description = command.description or helps.get(name)
        command.epilog = textwrap.fill(
            f"exit codes: {COMMAND_EXITS[name]}; 2 a usage error or a bad input, named on"
            " stderr, with nothing written",
            width=78,
            subsequent_indent="  ",
        )
        _defaults(command)


def _defaults(command: argparse.ArgumentParser) -> None:
    """Each option's help ends with its default where it has one and does not say it."""
    for action in command._actions:  # argparse has no public list of a parser's actions
        if isinstance(action, argparse._SubParsersAction):  # a verb: its own help page
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, verb in action.choices.items():
                verb.description = verb.description or helps.get(name)
                verb.epilog = command.epilog
                _defaults(verb)
            continue
        default = action.default
        if default in (None, False, argparse.SUPPRESS) or action.help == argparse.SUPPRESS:
            continue
        text = action.help or ""
        if "default" not in text.lower():
            action.help = f"{text} (default: %(default)s)" if text else "default: %(default)s"


class _Inert:
    """A text stream that writes through :func:`inert`."""

    def __init__(self, out: Any) -> None:
        self._out = out

    def write(self, text: str) -> int:
        return int(self._out.write(inert(text)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._out, name)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bf16perf`` console script (its output made inert)."""
    with (
        contextlib.redirect_stdout(_Inert(sys.stdout)),
        contextlib.redirect_stderr(_Inert(sys.stderr)),
    ):
        args = parser().parse_args(argv)
        try:
            return int(args.run(args))
        except InputError as exc:
            print(f"bf16perf {args.command}: {exc}", file=sys.stderr)
            return 2
