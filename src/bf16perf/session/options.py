"""The session's options as one frozen value, :class:`PerfOptions` (no pytest here: the
command line that fills it is :mod:`bf16perf.session.flags`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bf16perf.cluster.bringup import ClusterRequest
from bf16perf.machine.pinning import PinMode
from bf16perf.store.baseline import DEFAULT_SESSIONS
from bf16perf.store.formats import DEFAULT_BASELINES
from bf16perf.verdicts import SESSION_ALPHA
from bf16perf.verdicts.paired import PAIRED_PAIRS
from bf16perf.verdicts.settings import VerdictSettings
from bf16perf.workloads.config import PROFILES, TrainConfig, Variant

__all__ = ["PAIRED_PAIRS", "PerfOptions"]


@dataclass(frozen=True)
class PerfOptions:
    """Parsed ``--perf-*`` options.

    Attributes:
        cpuinfo: a cpuinfo file describing the machine (``None``: ``$BF16PERF_CPUINFO`` or
            ``/proc/cpuinfo``).
        require_bf16: turn the skip of bf16 tests on hardware without bf16 into a failure.
        allow_emulated_bf16: self-test of the harness on machines without bf16: run the
            bf16 tests anyway, marked emulated; their figures are never performance data.
        probe: run the oneDNN kernel probe for the session header.
        step_profile: take each variant's kernel proof as a profiled step (two steps at the
            run's batch, one worker alone, pinned, under oneDNN's verbose timing) and split
            the measured step into compute, communication and the rest.
        workers: local Spark workers (``None``: derived from the machine); with
            ``spark_master``, the executors to wait for and train on (``None``: 1).
        cores_per_worker: CPUs per worker (``None``: derived from the machine); with
            ``spark_master``, ``spark.executor.cores`` and ``spark.task.cpus``.
        pin: pinning tool for local workers (``None``: numactl where installed and NUMA > 1).
        spark_master: an existing cluster's master URL; skips the local bring-up.
        spark_secret_file: that cluster's shared secret (``bf16perf master/worker``).
        allow_mixed_hosts: measure executors whose hosts differ in bf16 capability.
        lock_timeout_s: how long to wait for another perf session on this machine.
        run_dir: where Spark's conf, logs, work and local dirs go (``None``: a temp dir).
        keep_run_dir: keep the run directory even when everything passed.
        train: the training configuration (profile plus overrides), precision fp32.
        workloads: the ``--perf-workload`` names, in order (empty: the default workload).
        workload_file: the TOML file with the user's workload definitions.
        profile: the ``--perf-profile`` it started from.
        baselines_dir: the baseline store.
        save_baseline: add this session to the baseline (the old file is kept beside it).
        baseline_sessions: the sessions a baseline keeps, the latest last.
        max_regression: throughput drop (fraction) that counts as a regression when
            significant.
        min_bf16_speedup: the release gate's minimum bf16/fp32 throughput ratio (0: no
            gate, the smoke profile's default).
        repeats: runs per variant, the unit of every verdict and of a saved baseline;
            fp32 and bf16 runs interleave pair by pair, in balanced seeded order.
        repeats_given: ``--perf-repeats`` was given: every variant runs ``repeats``
            times, its own ``runs`` (:meth:`runs_of`) aside.
        extra_pairs: fp32/bf16 pairs added when the gate's first look is inconclusive (0:
            one look); with a second look both are made at half the error.
        alpha: one-sided false-alarm rate of the throughput rules (stored baseline, A/B).
        release: the release mode: a throughput verdict must rule out a drop beyond
            ``max_regression`` (else INCONCLUSIVE, exit 11); the nightly mode (default)
            fails only on evidence of a drop (against a stored baseline: two sessions in
            a row, :mod:`bf16perf.verdicts.confirm`), and "cannot tell" is a notice.
        reference_python: the interpreter of a reference stack for A/B runs (``None``:
            this one, where ``reference_env`` alone makes the difference).
        reference_env: environment of the reference runs, ``(name, value)`` pairs.
        reference_name: a kept reference stack (``--perf-reference``,
            :mod:`bf16perf.store.references`): the paired nightly; ``reference_python`` is then its
            interpreter.
        references_dir: where kept references are (``None``: the default,
            :func:`bf16perf.store.references.default_references_dir`).
        pairs: reference/candidate pairs of runs per variant in A/B mode (the paired
            nightly: :data:`PAIRED_PAIRS` unless given).
        pairs_given: ``--perf-pairs`` was given; else the paired nightly sizes each
            variant's pairs from its measured pair spread
            (:func:`bf16perf.session.checks.paired_pairs`).
        order_seed: the seed of this session's pair orders (fp32/bf16 and A/B), drawn at
            random when not given and recorded in the report, so a session can be
            repeated.
        bf16_loss_band: the largest mean |bf16 - fp32| loss difference within a run.
        report: write ``reports/<timestamp>-<slug>/`` at the end of the session.
        reports_dir: where report directories, ``latest`` and the default history go.
        history: the append-only history file (``None``: ``reports_dir/history.jsonl``).
        labels: free ``(key, value)`` labels of this session's history line.
        trend_confirm: sessions after a drop in the history that make it a regression
            (:func:`bf16perf.verdicts.trend.nightly_rule`; 0: no trend verdict).
    """

    cpuinfo: Path | None = None
    require_bf16: bool = False
    allow_emulated_bf16: bool = False
    probe: bool = True
    step_profile: bool = True
    workers: int | None = None
    cores_per_worker: int | None = None
    pin: PinMode | None = None
    spark_master: str | None = None
    spark_secret_file: Path | None = None
    allow_mixed_hosts: bool = False
    lock_timeout_s: float = 600.0
    run_dir: Path | None = None
    keep_run_dir: bool = False
    train: TrainConfig = field(default_factory=lambda: PROFILES["default"])
    workloads: tuple[str, ...] = ()
    workload_file: Path = Path("pyproject.toml")
    profile: str = "default"
    baselines_dir: Path = DEFAULT_BASELINES
    save_baseline: bool = False
    baseline_sessions: int = DEFAULT_SESSIONS
    max_regression: float = 0.05
    min_bf16_speedup: float = 1.0
    repeats: int = 3
    repeats_given: bool = False
    extra_pairs: int = 2
    alpha: float = SESSION_ALPHA
    release: bool = False
    reference_python: str | None = None
    reference_env: tuple[tuple[str, str], ...] = ()
    reference_name: str | None = None
    references_dir: Path | None = None
    pairs: int = 8
    pairs_given: bool = False
    order_seed: int | None = None
    report: bool = True
    reports_dir: Path = Path("reports")
    history: Path | None = None
    bf16_loss_band: float = 0.5
    labels: tuple[tuple[str, str], ...] = ()
    trend_confirm: int = 3

    def input_errors(self) -> list[str]:
        """Inputs that would only fail after the cluster and the first run (checked when a
        perf session activates, before the machine lock and the kernel probe)."""
        errors = []
        if self.spark_secret_file is not None:
            from bf16perf.cluster.hosts import DaemonError, read_secret

            try:
                read_secret(self.spark_secret_file)
            except DaemonError as exc:
                errors.append(str(exc).replace("--secret-file", "--perf-spark-secret-file"))
        from bf16perf.store.history import history_problem

        wrong = history_problem(self.history_path)
        if wrong:
            errors.append(
                f"--perf-history {self.history_path}: {wrong}; give a history file or a new"
                " path (the session appends a line to it)"
            )
        if not (self.ab_mode or self.save_baseline or self.baselines_dir.is_dir()):
            errors.append(
                f"--perf-baselines {self.baselines_dir}: no such directory, so no run could"
                " meet its baseline; point it at your baseline store, or create it and save"
                " one with --perf-save-baseline"
            )
        return errors

    def conflict(self) -> str | None:
        """Options that contradict each other, in one line naming them and the fix
        (``None``: none); the command line refuses them (a usage error)."""
        if self.require_bf16 and self.allow_emulated_bf16:
            return (
                "--perf-require-bf16 and --perf-allow-emulated-bf16 contradict each other:"
                " a nightly job needs real bf16 hardware; drop one of them"
            )
        if self.spark_master and self.pin:
            return (
                "--spark-master uses an existing cluster whose pinning is its own business:"
                " drop --perf-pin, which only pins a local cluster"
            )
        if self.spark_secret_file and not self.spark_master:
            return (
                "--perf-spark-secret-file authenticates with an existing cluster: give its"
                " --spark-master too (the local cluster makes its own secret)"
            )
        if self.ab_mode and self.save_baseline:
            return (
                "--perf-save-baseline saves this stack's runs; A/B mode (--perf-reference-python"
                " or --perf-reference-env) compares two stacks and saves nothing: drop one"
            )
        return None

    def runs_of(self, variant: Variant) -> int:
        """How many runs ``variant`` gets: its own count where it has one and
        ``--perf-repeats`` was not given, else :attr:`repeats`."""
        if variant.runs is not None and not self.repeats_given:
            return variant.runs
        return self.repeats

    def verdict_settings(self, share: float | None = None) -> VerdictSettings:
        """The verdict layer's settings, judged at ``share`` of the error budget (``None``:
        the whole :attr:`alpha`, one verdict alone)."""
        return VerdictSettings(
            alpha=self.alpha if share is None else share,
            max_regression=self.max_regression,
            release=self.release,
            trend_confirm=self.trend_confirm,
            min_bf16_speedup=self.min_bf16_speedup,
            bf16_loss_band=self.bf16_loss_band,
            baselines_dir=self.baselines_dir,
            reference_name=self.reference_name,
        )

    def cluster_request(self) -> ClusterRequest:
        """What the cluster layer is asked for."""
        return ClusterRequest(
            spark_master=self.spark_master,
            spark_secret_file=self.spark_secret_file,
            workers=self.workers,
            cores_per_worker=self.cores_per_worker,
            pin=self.pin,
            allow_mixed_hosts=self.allow_mixed_hosts,
        )

    @property
    def ab_mode(self) -> bool:
        """Runs alternate with a reference stack instead of meeting a stored baseline."""
        return self.reference_python is not None or bool(self.reference_env)

    @property
    def paired(self) -> bool:
        """The paired nightly: A/B against a kept reference, judged with the last nights'
        pairs (:mod:`bf16perf.verdicts.paired`)."""
        return self.reference_name is not None

    @property
    def session_kind(self) -> str:
        """What kind of session this is, as the history records it: ``paired`` (against a
        kept reference), ``ab`` (an ad-hoc A/B), ``save`` (saving a baseline) or
        ``stored`` (against the stored baseline)."""
        if self.paired:
            return "paired"
        if self.ab_mode:
            return "ab"
        return "save" if self.save_baseline else "stored"

    @property
    def history_path(self) -> Path:
        """The history file: ``--perf-history`` or ``<reports>/history.jsonl``."""
        return self.history or self.reports_dir / "history.jsonl"
