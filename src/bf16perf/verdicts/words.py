"""How a front end names the remedies a verdict points to.

The rules decide and compute (how many runs or pairs would resolve a drop, whether a
baseline is missing a spread); what a user types to get there belongs to the front end
that judged: ``pytest perf/`` names its flags (:data:`SESSION`), ``bf16perf compare``,
which judges two finished sessions, says what to rerun (:data:`COMMAND`).  No flag name is
written into a rule.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COMMAND", "SESSION", "Remedies"]


@dataclass(frozen=True)
class Remedies:
    """The words for each remedy.

    Attributes:
        more_runs: more runs per session (after "N runs per session would bring it below").
        more_pairs: more A/B pairs.
        unbounded: one run a side, no spread known: what bounds the between-run variance.
        accept: a faster session accepted as the new baseline.
        one_pair: one gate pair: what gives the gate a between-run variance.
        set_gate: a gate where the profile has none.
    """

    more_runs: str
    more_pairs: str
    unbounded: str
    accept: str
    one_pair: str
    set_gate: str


SESSION = Remedies(
    more_runs="--perf-repeats",
    more_pairs="--perf-pairs",
    unbounded="--perf-repeats 3, or bf16perf calibrate",
    accept="accept it with --perf-save-baseline",
    one_pair="--perf-repeats 3",
    set_gate="gate with --perf-min-bf16-speedup",
)

COMMAND = Remedies(
    more_runs="rerun both sessions with pytest perf/ --perf-repeats",
    more_pairs="rerun with pytest perf/ --perf-pairs",
    unbounded="rerun both sessions with 3 runs or more, or run bf16perf calibrate",
    accept="to make B the baseline, save its stack's session with pytest perf/"
    " --perf-save-baseline",
    one_pair="rerun with 3 runs or more",
    set_gate="rerun with a gate, pytest perf/ --perf-min-bf16-speedup",
)
