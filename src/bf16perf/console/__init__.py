"""The ``bf16perf`` command: the history, two reports compared, the stored baselines, this
machine's noise, and the pinned daemons of a multi-host cluster (:mod:`bf16perf.hosts`).

    bf16perf history [PATH] [--page FILE] [--confirm N]
    bf16perf compare A B [--release]
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
from typing import Any

from bf16perf.console import (
    baselines,
    calibrate,
    compare,
    daemons,
    history,
    reference,
    summary,
)
from bf16perf.console._common import InputError
from bf16perf.inert import inert

__all__ = ["EXIT_CODES", "inert", "main", "parser"]

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
    for module in (history, compare, summary, calibrate, baselines, reference, daemons):
        module.add(sub)
    return top


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
