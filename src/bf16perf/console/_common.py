"""What every subcommand shares: the input error, the plugin's option table, and the
refusal to write over an input."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["PROBLEMS_SHOWN", "InputError", "like_the_plugin", "refuse_overwriting"]

#: Skipped history lines named one by one; the rest are counted.
PROBLEMS_SHOWN = 10


class InputError(Exception):
    """A missing or unreadable input: the message names it."""


def like_the_plugin(parser: argparse.ArgumentParser, name: str, flag: str) -> None:
    """Add ``name`` with the parser, default and help of the plugin's ``flag`` (one table,
    :data:`bf16perf.session.flags.OPTIONS`, for both front ends)."""
    from bf16perf.session.flags import OPTIONS

    (option,) = [o for o in OPTIONS if o.flag == flag]
    if option.parse is None:
        raise TypeError(f"{flag} is a switch, not a value")
    parser.add_argument(
        name,
        type=option.parse,
        default=option.value_default,
        help=f"as {flag}: {option.help_text}",
    )


#: What every page bf16perf writes carries near its top; a page is only written over a
#: file that has it (or none at all).
PAGE_MARK = b'<meta name="generator" content="bf16perf">'


def refuse_overwriting(output: Path, inputs: list[Path]) -> None:
    """An output path that is one of the inputs (after resolving symlinks and ``..``, or a
    hard link to the same inode), a directory, in a missing directory, or an existing file
    that is not a page bf16perf wrote (a baseline, a report, a history, anything else) is
    a usage error: a command never writes over what it did not make."""
    if output.is_dir():
        raise InputError(f"{output}: is a directory; give a file path for the output")
    if not output.parent.is_dir():
        raise InputError(f"{output}: its directory {output.parent} does not exist")
    for given in inputs:
        same = output.resolve() == given.resolve()
        if not same and output.exists() and given.exists():
            same = output.samefile(given)
        if same:
            raise InputError(
                f"{output} is the input {given}: writing it would destroy the input;"
                " give another output path"
            )
    if output.exists() or output.is_symlink():
        head = b""
        if output.is_file() and not output.is_symlink():
            with output.open("rb") as fh:
                head = fh.read(512)
        if PAGE_MARK not in head and b"<title>bf16perf" not in head:  # or an older page
            raise InputError(
                f"{output} exists and is not a page bf16perf wrote: writing it would destroy"
                " it; give a new path (or one of bf16perf's own pages)"
            )
