"""The state of one perf session: its inputs, and the typed results its tests hand on.

Data flows one way: fixtures and tests add runs, verdicts, notices, the gate's figures and
the cluster's facts; the plugin's end-of-session hooks read them for the summary table, the
exit code and the report.  :meth:`PerfSession.conclude` is where a test fails on its
recorded verdicts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bf16perf.machine.host import Machine
from bf16perf.machine.lock import MachineLock
from bf16perf.session.options import PerfOptions
from bf16perf.session.phases import Phases
from bf16perf.verdicts.outcomes import Decision
from bf16perf.workloads.definition import WorkloadDef

if TYPE_CHECKING:  # numpy and scipy load only in perf sessions that write a report
    from bf16perf.cluster.bringup import ClusterFacts
    from bf16perf.store.baseline import Baseline
    from bf16perf.verdicts import ErrorBudget, GateVerdict
    from bf16perf.verdicts.settings import VerdictSettings
    from bf16perf.workloads.results import RunResult

__all__ = ["PerfSession", "VerdictsFailed"]


class VerdictsFailed(Exception):
    """A test's recorded verdicts failed (:meth:`PerfSession.conclude`); the message names
    them all.  The pytest front end turns it into the test's failure, without a traceback
    (:mod:`bf16perf.plugin.hooks`): this module imports nothing from pytest."""


@dataclass
class PerfSession:
    """State of one perf session.

    Attributes:
        options: the parsed ``--perf-*`` options.
        machine: the detected machine.
        notices: lines for the terminal summary (baselines used, skips, ...).
        decisions: every check's verdict, shown in one table at the end.
        runs: every training run with its workload key, in the order trained.
        baselines: the baselines compared against, by workload key.
        cluster: how the cluster was made, once it is up (for the report).
        logs: Spark and worker logs to copy into the report when something failed.
        started: session start, UTC; names the report directory.
        lock: the machine lock, where the session took it at start (before the kernel
            probe); ``None`` where the cluster fixture takes it later.
        gate: the release gate's verdict (:class:`bf16perf.verdicts.GateVerdict`),
            where the gate ran; the report shows its figures as they were decided.
        reference: the reference stack's versions in A/B mode.
        workloads: the workloads this session trains (``--perf-workload``), in order.
        verdicts: the verdicts planned that can fail the session with exit 10, counted
            when its tests are collected; they share ``--perf-alpha``.
        started_at: session start, seconds since the epoch (its duration).
        phases: where its time went (:mod:`bf16perf.session.phases`).
    """

    options: PerfOptions
    machine: Machine
    notices: list[str] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    runs: list[tuple[RunResult, str]] = field(default_factory=list)
    baselines: dict[str, Baseline] = field(default_factory=dict)
    cluster: ClusterFacts | None = None
    logs: list[Path] = field(default_factory=list)
    started: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    lock: MachineLock | None = None
    gate: GateVerdict | None = None
    reference: dict[str, str] | None = None
    workloads: list[WorkloadDef] = field(default_factory=list)
    verdicts: int = 1
    started_at: float = field(default_factory=time.time)
    phases: Phases = field(default_factory=Phases)
    _report_dir: Path | None = field(default=None, repr=False)

    @property
    def budget(self) -> ErrorBudget:
        """The session's one error budget (:mod:`bf16perf.verdicts.family`)."""
        from bf16perf.verdicts import ErrorBudget

        return ErrorBudget(self.options.alpha, self.verdicts)

    @property
    def verdict_settings(self) -> VerdictSettings:
        """What each verdict is judged with: ``alpha`` is its share of the session's error
        budget (planned once, :attr:`budget`); ``options.alpha`` stays the whole."""
        return self.options.verdict_settings(self.budget.share)

    def adjust(self) -> None:
        """Every family verdict's raw p and Holm-adjusted p, into its figures (for the
        report), once its tests have all run."""
        from bf16perf.verdicts import holm

        family = [d for d in self.decisions if d.figures.get("p") is not None]
        adjusted = holm([float(d.figures["p"]) for d in family])
        for d, p in zip(family, adjusted, strict=True):
            d.figures["p_adjusted"] = p
            d.figures["alpha_share"] = self.budget.share

    @property
    def report_dir(self) -> Path:
        """This session's own report directory, made on first use: ``<start>-<slug>``, or
        with ``-2``, ``-3`` where a session that started in the same second has it."""
        if self._report_dir is None:
            stamp = self.started.replace("-", "").replace(":", "")
            name = f"{stamp}-{self.machine.fingerprint.slug}"
            self.options.reports_dir.mkdir(parents=True, exist_ok=True)
            for n in range(1, 1000):
                path = self.options.reports_dir / (name if n == 1 else f"{name}-{n}")
                try:
                    path.mkdir()
                except FileExistsError:
                    continue
                self._report_dir = path
                break
            else:
                raise OSError(f"{self.options.reports_dir}: 999 reports named {name}")
        return self._report_dir

    def record(self, *decisions: Decision) -> None:
        """Keep verdicts for the end-of-session table, the report and the exit code."""
        self.decisions.extend(decisions)

    def conclude(self, test: str) -> None:
        """Fail ``test`` once (:class:`VerdictsFailed`) if any of its recorded verdicts
        fails, naming them all; the failure then counts by its verdicts' exit code, not as a
        plain failure.  Call it
        after a test has recorded every verdict, so none goes unreported."""
        failing = [d for d in self.decisions if d.test == test and d.outcome.fails]
        if failing:
            raise VerdictsFailed("\n".join(f"{d.outcome.value}: {d.detail}" for d in failing))
