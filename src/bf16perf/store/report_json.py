"""``report.json``, typed for its readers: :class:`Report` owns reading a finished session's
report (strict JSON, checked against ``report.schema.json``, every problem one line naming
the file and the field) and the one view every reader shares: the verdicts, each run's
figure and stack, and this stack's own runs (:meth:`Report.candidate_runs`, the one
candidate filter).  The report is built by :mod:`bf16perf.report` and written through
:func:`~bf16perf.store.formats.versioned`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bf16perf.onednn.run_proof import RunProof
from bf16perf.store.formats import loads, problem
from bf16perf.workloads.results import WorkerResult, slowest_parts

__all__ = ["Report", "ReportDecision", "ReportError", "ReportRun"]


class ReportError(ValueError):
    """A report that cannot be read, in one line naming it.

    Attributes:
        unreadable: the file is not one JSON document at all (it may be a history).
    """

    def __init__(self, message: str, unreadable: bool = False) -> None:
        super().__init__(message)
        self.unreadable = unreadable


@dataclass(frozen=True)
class ReportRun:
    """One run as the report keeps it.

    Attributes:
        index: its place in the report's runs, from 1.
        workload_key: the workload key it was trained under (``@reference`` marks the
            reference stack's in an A/B session).
        variant: fp32, bf16 or bf16-avx512 (its precision where an old report has none).
        stack: ``candidate`` (this stack) or ``reference`` (A/B mode's other stack).
        figure: the run figure (:func:`bf16perf.stats.figures.run_figure`) as stored.
        fields: the stored run whole (for what copies it, such as a baseline).
    """

    index: int
    workload_key: str
    variant: str
    stack: str
    figure: float
    fields: Mapping[str, Any]

    @property
    def candidate(self) -> bool:
        """A run of this session's own stack."""
        return self.stack == "candidate"

    @property
    def kernels(self) -> Mapping[str, Any] | None:
        """The run's kernel proof as stored."""
        kernels = self.fields.get("kernels")
        return kernels if isinstance(kernels, Mapping) else None

    @property
    def proof(self) -> RunProof:
        """:attr:`kernels`, typed."""
        return RunProof.of(self.kernels)

    @property
    def label(self) -> str:
        """The variant, marked where the run is the reference stack's."""
        return self.variant if self.candidate else f"{self.variant} (reference)"

    @property
    def precision(self) -> str:
        return str(self.fields["precision"])

    @property
    def ci(self) -> tuple[float, float]:
        """The 95% interval of the run's median step (images/s)."""
        low, high = self.fields["images_per_second_ci"]
        return float(low), float(high)

    @property
    def step_times_s(self) -> list[float]:
        """The synchronous measured steps."""
        return [float(x) for x in self.fields["step_times_s"]]

    @property
    def images_per_second(self) -> list[float]:
        """Each measured step's throughput."""
        return [float(x) for x in self.fields["images_per_second"]]

    @property
    def losses(self) -> list[float]:
        return [float(x) for x in self.fields["losses"]]

    @property
    def workers(self) -> list[WorkerResult]:
        return [WorkerResult.from_dict(dict(w)) for w in self.fields["workers"]]

    @property
    def step_parts(self) -> list[dict[str, float]]:
        """Each measured step's timed parts, the slowest worker's (empty: not timed)."""
        return slowest_parts(self.workers)

    @property
    def config(self) -> Mapping[str, Any]:
        """The run's training configuration as stored."""
        config = self.fields.get("config")
        return config if isinstance(config, Mapping) else {}

    @property
    def workload(self) -> str:
        """The workload's name (the built-in's where an old report has none)."""
        return str((self.fields.get("config") or {}).get("workload", "resnet50-tf"))

    @property
    def decomposition(self) -> Mapping[str, Any] | None:
        """The step split into compute, communication and the rest, where profiled."""
        return self.fields.get("decomposition") or None

    @property
    def share_of_peak(self) -> list[Mapping[str, Any]]:
        return list(self.fields.get("share_of_peak") or [])


@dataclass(frozen=True)
class ReportDecision:
    """One recorded verdict: the test, the check, its outcome's words, whether it failed
    the session, the detail line and its figures."""

    test: str
    check: str
    outcome: str
    fails: bool
    detail: str
    figures: Mapping[str, Any]


@dataclass(frozen=True)
class Report:
    """A finished session's report.

    Attributes:
        started: when the session started (UTC, ``%Y-%m-%dT%H:%M:%SZ``).
        fingerprint: the machine's fingerprint (``slug`` and ``id`` among its keys).
        metadata: the stack's versions and threading knobs.
        session: what kind of session it was (kind, reference, injected, ...).
        labels: the user's labels.
        speedup: the gate's figures (``None``: no gate).
        exit_code: the session's exit code.
        runs: every run, in the order trained.
        decisions: every recorded verdict.
        baselines: the stored baselines the runs met, by workload key.
        cluster: how the cluster was made.
        kernel_proof: the session's kernel probe (``None``: not run).
        stopped_because: why the session ended early (``None``: it did not).
        workloads: each workload that trained, as defined.
    """

    started: str
    fingerprint: Mapping[str, Any]
    metadata: Mapping[str, Any]
    session: Mapping[str, Any]
    labels: Mapping[str, Any]
    speedup: Mapping[str, Any] | None
    exit_code: int
    runs: tuple[ReportRun, ...]
    decisions: tuple[ReportDecision, ...]
    baselines: Mapping[str, Any]
    cluster: Mapping[str, Any]
    kernel_proof: Mapping[str, Any] | None
    stopped_because: str | None
    workloads: tuple[Mapping[str, Any], ...]

    @property
    def slug(self) -> str:
        """The machine's slug, the store's folder for it."""
        return str(self.fingerprint["slug"])

    @property
    def kind(self) -> str | None:
        """What kind of session: stored, save, ab or paired."""
        return self.session.get("kind")

    @property
    def reference(self) -> str | None:
        """The paired nightly's kept reference (``None``: none)."""
        return self.session.get("reference")

    @property
    def injected(self) -> float:
        """The injected slowdown of a self-test (0: none)."""
        return float(self.session.get("injected") or 0.0)

    @property
    def duration_s(self) -> float | None:
        duration = self.session.get("duration_s")
        return float(duration) if isinstance(duration, int | float) else None

    def baseline_figures(self, key: str) -> list[float]:
        """The run figures of the stored baseline ``key``'s runs met (none: no baseline)."""
        return [float(x) for x in (self.baselines.get(key) or {}).get("run_figures") or []]

    def baseline_losses(self, key: str) -> list[float] | None:
        """The stored baseline's loss curve for ``key`` (``None``: no baseline)."""
        base = self.baselines.get(key)
        return [float(x) for x in base["losses"]] if base else None

    def candidate_runs(self) -> list[ReportRun]:
        """This stack's own runs (an A/B session's reference runs are not its history)."""
        return [r for r in self.runs if r.candidate]

    def figures(self) -> dict[str, list[float]]:
        """This stack's run figures by workload key, in the order trained."""
        out: dict[str, list[float]] = {}
        for run in self.candidate_runs():
            out.setdefault(run.workload_key, []).append(run.figure)
        return out

    @classmethod
    def of(cls, data: Any, where: str = "report.json") -> Report:
        """The typed report of a parsed document; :class:`ReportError` names what is
        wrong with it (``where``: the file, for the message)."""
        wrong = problem("report", data)
        if wrong:
            raise ReportError(f"{where}: {wrong}")
        runs = tuple(
            ReportRun(
                index=i,
                workload_key=str(r["workload_key"]),
                variant=str(r.get("variant") or r["precision"]),
                stack=str(r.get("stack") or "candidate"),
                figure=float(r["median_images_per_second"]),
                fields=r,
            )
            for i, r in enumerate(data["runs"], 1)
        )
        decisions = tuple(
            ReportDecision(
                str(d["test"]),
                str(d["check"]),
                str(d["outcome"]),
                bool(d["fails"]),
                str(d["detail"]),
                d.get("figures") if isinstance(d.get("figures"), Mapping) else {},
            )
            for d in data["decisions"]
        )
        return cls(
            started=str(data["started"]),
            fingerprint=data["fingerprint"],
            metadata=data["metadata"],
            session=data.get("session") or {},
            labels=data.get("labels") or {},
            speedup=data["speedup"],
            exit_code=int(data["exit_code"]),
            runs=runs,
            decisions=decisions,
            baselines=data["baselines"],
            cluster=data["cluster"],
            kernel_proof=data["kernel_proof"],
            stopped_because=data["stopped_because"],
            workloads=tuple(data.get("workloads") or ()),
        )

    @classmethod
    def read(cls, given: Path) -> Report:
        """The report of a session's report directory, or of its ``report.json``."""
        path = given / "report.json" if given.is_dir() else given
        if not path.exists():
            raise ReportError(
                f"{path}: no such report (give a report directory or its report.json)"
            )
        if not path.is_file():
            raise ReportError(f"{path}: not a regular file (a report is a report.json)")
        try:
            data = loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ReportError(f"{path}: not a readable report ({exc})", unreadable=True) from None
        if isinstance(data, dict) and "sessions" in data and "benchmarks" in data:
            raise ReportError(
                f"{path}: this is a baseline, not a report: compare two sessions' report"
                " directories (bf16perf baselines lists what a baseline holds)"
            )
        if not isinstance(data, dict) or "runs" not in data:
            raise ReportError(f"{path}: not a bf16perf report.json (no 'runs')")
        return cls.of(data, str(path))
