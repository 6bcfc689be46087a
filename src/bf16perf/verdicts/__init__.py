"""The verdict rules users get, as pure functions returning typed verdicts.

Every throughput decision works on *run figures* (the median images/s of a run's measured
steps, :func:`bf16perf.stats.figures.run_figure`), on a log scale, with between-run variance
estimated from repeated runs; steps only describe a run.  Three rules:

* :func:`baseline_rule`: this session's runs against a stored baseline's runs.  The effect
  is the ratio of geometric means with a t interval on log figures (the spread pooled from
  both sides and, where saved, the machine's measured noise) and, since a baseline comes
  from another session, the between-session spread (:data:`SESSION_PRIOR` until the
  machine measured its own).  REGRESSION when the
  one-sided test at ``alpha`` says slower *and* the estimate is worse than the threshold;
  a pass when a drop beyond the threshold is ruled out (one-sided, at ``PASS_ALPHA``);
  INCONCLUSIVE otherwise.
* :func:`ab_rule`: candidate against reference runs alternated on one cluster.  Per-pair
  log ratios, exact one-sided Wilcoxon signed-rank, Hodges-Lehmann estimate and interval;
  the same three outcomes.
* :func:`gate_rule`: the release gate on bf16/fp32 over interleaved pairs: the mean
  per-pair log ratio with a t interval; with a second look (more pairs after an
  inconclusive first one), each look is made at half the error (Bonferroni), so the
  overall error stays at the stated level.

Each verdict carries the minimum detectable effect at 80% power and, where that exceeds
the threshold, how many runs or pairs would bring it below.  :func:`loss_rule` and
:func:`bf16_loss_rule` judge the loss curves.  Nothing here touches pytest or files.
"""

from bf16perf.verdicts._common import GATE_CONFIDENCE, PASS_ALPHA, SESSION_ALPHA
from bf16perf.verdicts.ab import AbVerdict, ab_rule, balanced_order
from bf16perf.verdicts.baseline import (
    SESSION_PRIOR,
    ThroughputVerdict,
    baseline_rule,
    sessions_rule,
)
from bf16perf.verdicts.family import ErrorBudget, holm
from bf16perf.verdicts.gate import GateVerdict, gate_confidence, gate_rule
from bf16perf.verdicts.loss import LossVerdict, bf16_loss_rule, loss_rule

__all__ = [
    "GATE_CONFIDENCE",
    "PASS_ALPHA",
    "SESSION_ALPHA",
    "SESSION_PRIOR",
    "AbVerdict",
    "ErrorBudget",
    "GateVerdict",
    "LossVerdict",
    "ThroughputVerdict",
    "ab_rule",
    "balanced_order",
    "baseline_rule",
    "bf16_loss_rule",
    "gate_confidence",
    "gate_rule",
    "holm",
    "loss_rule",
    "sessions_rule",
]
