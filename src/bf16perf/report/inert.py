"""Stored strings shown, never obeyed: what both front ends print passes through here.

Workload keys, labels, paths and notices come from files a session reads (a history, a
baseline, a workload table) and end on a terminal: :func:`inert` writes every character a
terminal would act on (control characters, escape sequences, Unicode line separators,
format characters) as an escape.  Imports only the standard library.
"""

from __future__ import annotations

__all__ = ["inert"]


def inert(text: str) -> str:
    """``text`` with every character a terminal would act on written as an escape
    (``\\x1b``), newlines and tabs kept."""
    return "".join(
        c if c in "\n\t" or c.isprintable() else c.encode("unicode_escape").decode("ascii")
        for c in text
    )
