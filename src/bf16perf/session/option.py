"""One ``--perf-*`` flag's declaration (:class:`Option`): the rows of
:data:`bf16perf.session.flags.OPTIONS`, which both front ends read (the plugin's option group, the
``bf16perf`` command's copies).  No pytest here: a row adds itself to whatever option
group it is given."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bf16perf.session.options import PerfOptions

__all__ = ["Option"]


@dataclass(frozen=True)
class Option:
    """One ``--perf-*`` flag.

    Attributes:
        flag: the command-line flag.
        help: its help line.
        fills: the :class:`PerfOptions` field it sets (``""``: none, it is read apart).
        train: the :class:`TrainConfig` field it overrides, where it is a workload knob.
        parse: the value parser (``None``: a switch).
        default: the value when the flag is absent; for a value option that fills a
            :class:`PerfOptions` field, that field's default (one default an option:
            :attr:`value_default`).  ``{default}`` in ``help`` shows it.
        metavar: the value's name in ``--help``.
        repeat: the flag may be given several times (values collect in a list).
        negate: a ``--perf-no-*`` switch: its field is the switch's opposite.
    """

    flag: str
    help: str
    fills: str = ""
    train: str = ""
    parse: Callable[[str], Any] | None = None
    default: Any = None
    metavar: str | None = None
    repeat: bool = False
    negate: bool = False

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def value_default(self) -> Any:
        """The value when the flag is absent (a filled field's: :class:`PerfOptions`')."""
        if self.parse is not None and self.fills and not self.repeat:
            return getattr(_DEFAULTS, self.fills)
        return self.default

    @property
    def help_text(self) -> str:  # the help line, with the default it names filled in
        return self.help.replace("{default}", str(self.value_default))

    def add_to(self, group: Any) -> None:
        if self.parse is None:
            action = "store_true"
            group.addoption(self.flag, action=action, default=self.default, help=self.help_text)
            return
        group.addoption(
            self.flag,
            type=self.parse,
            default=[] if self.repeat else self.value_default,
            action="append" if self.repeat else "store",
            metavar=self.metavar,
            help=self.help_text,
        )


#: Every default of :class:`PerfOptions`, which the table's value options take.
_DEFAULTS = PerfOptions()
