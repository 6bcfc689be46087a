"""The session's training runs: which to train, in what order, each proven before it counts.

This module owns the policy between the cluster and the verdicts: a kernel proof per
variant and stack before its first run (a refused proof fails every later ask for that
variant), fp32 and bf16 interleaved whenever both are wanted (drift hits both alike and the
gate's pairs are neighbours, in balanced seeded order within each pair), A/B pairs in
balanced seeded order, and a notice for every
worker whose CPUs were shared while it was measured.  It knows nothing of pytest: a failure
is a :class:`RunFailed` that the fixture turns into a test failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bf16perf.cluster.bringup import SparkCluster
from bf16perf.machine.interference import disturbance_notices
from bf16perf.machine.pinning import PinMode
from bf16perf.session.options import PerfOptions
from bf16perf.session.phases import Phases
from bf16perf.session.proofs import Proofs, RunFailed
from bf16perf.verdicts import balanced_order
from bf16perf.workloads.config import VARIANTS, TrainConfig, Variant
from bf16perf.workloads.definition import BUILTIN, DEFAULT_WORKLOAD, WorkloadDef
from bf16perf.workloads.launch import TrainingError, run_training
from bf16perf.workloads.program.launch import run_program
from bf16perf.workloads.results import RunResult
from bf16perf.workloads.task import HOST_GONE, unreachable_hosts

__all__ = ["BF16", "FP32", "AbPairs", "RunFailed", "TrainingRuns"]

FP32 = VARIANTS["fp32"]
BF16 = VARIANTS["bf16"]
_GATE_PAIR = (FP32, BF16)  # what the gate compares (each pair's order: pair_order)


@dataclass(frozen=True)
class AbPairs:
    """A/B runs of one variant: pair ``i`` of ``candidate`` ran next to pair ``i`` of
    ``reference``, ``order[i]`` first."""

    candidate: list[RunResult]
    reference: list[RunResult]
    order: list[str]


class TrainingRuns:
    """Runs of this session, by variant (:data:`VARIANTS`) and stack (candidate: this
    environment; reference: A/B mode's other stack), trained on request and kept in order.

    Args:
        cluster: where the runs train.
        options: the session's options (workload, A/B stack, emulation).
        wanted: the variants this session will ask for (interleaving needs to know).
        progress: called with one line per measured step of rank 0.
        on_run: called with each finished run and its workload key (``@reference`` added
            for the reference stack's runs).
        notices: where the disturbance notices go.
        workload: what trains (default: the built-in TensorFlow ResNet-50); a command
            workload runs through :mod:`bf16perf.workloads.program.launch`.
        phases: where each proof's and each run's time is added (the session's).
    """

    def __init__(
        self,
        cluster: SparkCluster,
        options: PerfOptions,
        wanted: frozenset[str] = frozenset(VARIANTS),
        progress: Callable[[str], None] | None = None,
        on_run: Callable[[RunResult, str], None] | None = None,
        notices: list[str] | None = None,
        workload: WorkloadDef = BUILTIN[DEFAULT_WORKLOAD],
        phases: Phases | None = None,
    ) -> None:
        self.cluster = cluster
        self.options = options
        self.workload = workload
        self.config = replace(options.train, workload=workload.name)
        self.wanted = wanted
        self.progress = progress
        self.on_run = on_run
        self.notices = notices if notices is not None else []
        self.runs: dict[str, list[RunResult]] = {name: [] for name in VARIANTS}
        self.reference: dict[str, list[RunResult]] = {name: [] for name in VARIANTS}
        self.errors: dict[str, str] = {}
        self.phases = phases if phases is not None else Phases()
        self.proofs = Proofs(cluster, options, workload, self.notices, self.phases)
        self._current = FP32.name

    @property
    def _seed(self) -> str:
        """The pair orders' seed: the session's (drawn per session, recorded)."""
        seed = self.options.order_seed
        return str(seed) if seed is not None else f"train-{self.config.seed}"

    def workload_key(self, variant: Variant) -> str:
        """The baseline key of ``variant`` on this cluster."""
        config = variant.apply(self.config)
        return config.workload_key(self.cluster.workers, self.cluster.cores_per_worker)

    def _step(self, event: dict[str, Any]) -> None:
        if self.progress is not None and event.get("rank") == 0 and "line" in event:
            self.progress(f"  [{self._current}] | {event['line']}")  # a command's output
        elif self.progress is not None and event.get("rank") == 0:
            self.progress(
                f"  [{self._current}] step {event['step']}/{event['of']} ({event['phase']}):"
                f" {event['images_per_second']:.1f} images/s, loss {event['loss']:.4f}"
            )

    def _fail(self, name: str, message: str) -> RunFailed:
        self.errors[name] = message
        return RunFailed(message)

    def _run(self, config: TrainConfig) -> RunResult:
        """One run of this session's workload on the cluster."""
        cluster, workload = self.cluster, self.workload
        if not config.is_command:
            return run_training(cluster.spark, config, cluster.workers, self._step)
        return run_program(cluster, workload, config, self._step)

    def _name(self, variant: Variant, reference: bool = False) -> str:
        """How messages and progress name a variant's runs (a command workload's first)."""
        name = f"{self.workload.name}:{variant.name}" if self.config.is_command else variant.name
        return f"{name} (reference)" if reference else name

    def _config(self, variant: Variant, reference: bool) -> TrainConfig:
        config = variant.apply(self.config)
        if reference:
            # the reference stack: its interpreter and knobs, never the injected slowdown
            options = self.options
            config = replace(
                config,
                python=options.reference_python,
                env=options.reference_env,
                inject_slowdown=0.0,
                inject_allreduce_sleep_s=0.0,
            )
        return config

    def train(self, variant: Variant, *, reference: bool = False) -> RunResult:
        """Train one more run of ``variant`` (on the reference stack if asked) and keep it."""
        name = self._name(variant, reference)
        if name in self.errors:
            raise RunFailed(self.errors[name])
        self._current = name
        config = self._config(variant, reference)
        if self.cluster.broken:
            raise RunFailed(f"{name} not run: {self.cluster.broken}")
        try:
            proof = self.proofs.get(variant, config, name)
        except RunFailed as exc:
            self.errors[name] = str(exc)
            raise
        before = self.cluster.executor_hosts()
        try:
            with self.phases.timed(f"runs {name}"):
                result = self._run(config)
        except TrainingError as exc:
            lost = self.cluster.lost(before) or self._unreachable(str(exc))
            detail = f"{lost}\n{exc}" if lost else str(exc)
            raise self._fail(name, f"{name} run failed: {detail}") from None
        stack = "reference" if reference else "candidate"
        run = replace(result, kernels=proof, variant=variant.name, stack=stack)
        kept = self.reference if reference else self.runs
        kept[variant.name].append(run)
        if self.on_run is not None:
            self.on_run(run, self.workload_key(variant) + ("@reference" if reference else ""))
        self._note_disturbance(run, f"{name} run {len(kept[variant.name])}")
        return run

    def _unreachable(self, message: str) -> str | None:
        """A host the failed run's workers could no longer reach (Spark notices a cut
        network only after ``spark.network.timeout``): the cluster is broken as for a
        host whose executor left."""
        hosts = unreachable_hosts(message)
        if hosts:
            self.cluster.broken = (
                f"executor host {', '.join(hosts)} stopped answering its peers during the run"
                f" ({HOST_GONE}); no further run is measured on this cluster"
            )
        return self.cluster.broken

    def _note_disturbance(self, run: RunResult, which: str) -> None:
        """A notice for each worker whose CPUs were shared while it was measured."""
        plan = self.cluster.plan
        exclusive = plan is not None and plan.pin is not PinMode.NONE
        workers = [(w.rank, w.cpus, w.window) for w in run.workers]
        self.notices.extend(disturbance_notices(workers, which, exclusive))

    def _partner(self, variant: Variant) -> Variant | None:
        if variant not in _GATE_PAIR:
            return None
        other = BF16 if variant is FP32 else FP32
        failed = self._name(other) in self.errors
        return other if other.name in self.wanted and not failed else None

    def runs_of(self, variant: Variant, count: int) -> list[RunResult]:
        """The first ``count`` runs of ``variant``, training what is missing; where the
        other precision of the gate's pair is wanted too, the two alternate."""
        while len(self.runs[variant.name]) < count:
            pair = len(self.runs[variant.name])
            for v in self.pair_order(pair) if self._partner(variant) else (variant,):
                if len(self.runs[v.name]) > pair or len(self.runs[v.name]) >= count:
                    continue
                try:
                    self.train(v)
                except RunFailed:
                    if v is variant:
                        raise
                    # the partner's own test reports its failure; go on alone
        return self.runs[variant.name][:count]

    def pair_order(self, pair: int) -> tuple[Variant, Variant]:
        """Which precision runs first in fp32/bf16 pair ``pair`` (0-based): balanced in
        blocks of two pairs, each block's order drawn from the session's order seed, so
        drift within a pair cancels out of the gate, and a session can be repeated."""
        block = balanced_order(2, f"{self._seed}-gate-{pair // 2}")
        return _GATE_PAIR if block[pair % 2] == "reference" else _GATE_PAIR[::-1]

    def gate_pairs(self, count: int) -> tuple[list[RunResult], list[RunResult]]:
        """``count`` neighbouring (bf16, fp32) pairs, training the missing ones, each pair
        in :meth:`pair_order`."""
        while (pair := min(len(self.runs[FP32.name]), len(self.runs[BF16.name]))) < count:
            for v in self.pair_order(pair):
                if len(self.runs[v.name]) <= pair:
                    self.train(v)
        return self.runs[BF16.name][:count], self.runs[FP32.name][:count]

    def ab_pairs(self, variant: Variant, pairs: int) -> AbPairs:
        """``pairs`` reference/candidate pairs of ``variant``, each pair in the balanced,
        seeded random order of :func:`balanced_order`.  Where the other precision of the
        gate's pair is wanted too, pair ``i`` of each is trained in one block (in
        :meth:`pair_order`), so the gate's candidate fp32 and bf16 runs are neighbours."""
        partner = self._partner(variant)
        for i in range(pairs):
            for v in self.pair_order(i) if partner else (variant,):
                try:
                    self._ab_pair(v, i, pairs)
                except RunFailed:
                    if v is variant:
                        raise
                    # the partner's own test reports its failure; go on alone
        order = balanced_order(pairs, f"{self._seed}-{variant.name}")
        return AbPairs(self.runs[variant.name][:pairs], self.reference[variant.name][:pairs], order)

    def _ab_pair(self, variant: Variant, i: int, pairs: int) -> None:
        first = balanced_order(pairs, f"{self._seed}-{variant.name}")[i]
        for reference in (True, False) if first == "reference" else (False, True):
            kept = self.reference if reference else self.runs
            if len(kept[variant.name]) <= i:
                self.train(variant, reference=reference)
