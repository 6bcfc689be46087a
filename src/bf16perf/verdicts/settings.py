"""What a verdict is judged with: the settings the rules read, apart from the session's
options (:class:`bf16perf.session.options.PerfOptions` builds them once per session)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["VerdictSettings"]


@dataclass(frozen=True)
class VerdictSettings:
    """The verdict layer's settings (no defaults here: the one table of defaults is the
    options table, :data:`bf16perf.session.flags.OPTIONS`).

    Attributes:
        alpha: this verdict's share of the session's error budget (the session's whole
            alpha is :attr:`PerfOptions.alpha`; the share is planned once per session).
        max_regression: the throughput drop that is a regression when shown.
        release: a release session: one session judged as it is, "cannot tell" fails.
        trend_confirm: sessions the trend takes to confirm a lasting drop (0: none).
        min_bf16_speedup: the release gate's minimum bf16/fp32 ratio.
        bf16_loss_band: the largest mean |bf16 - fp32| loss difference.
        baselines_dir: the store a missing baseline is named in.
        reference_name: the paired nightly's kept reference (``None``: none).
    """

    alpha: float
    max_regression: float
    release: bool
    trend_confirm: int
    min_bf16_speedup: float
    bf16_loss_band: float
    baselines_dir: Path
    reference_name: str | None
