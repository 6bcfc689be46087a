"""The one options table: every ``--perf-*`` flag, its default, its parser and the setting it
fills, for both front ends (the plugin's option group, :mod:`bf16perf.plugin.options`; the
``bf16perf`` command's copies).

Each :class:`Option` of :data:`OPTIONS` names its parser (:mod:`bf16perf.session.parsers`,
which reject a bad value at the command line) and the
:class:`~bf16perf.session.options.PerfOptions` field (or
:class:`~bf16perf.workloads.config.TrainConfig` override) it fills, so adding an option is one
entry.  No pytest here."""

from __future__ import annotations

from pathlib import Path

from bf16perf.session import parsers as p
from bf16perf.session.option import Option

__all__ = ["OPTIONS", "Option"]


OPTIONS: tuple[Option, ...] = (
    # the machine and the hardware gate
    Option("--perf-cpuinfo", "cpuinfo file describing the machine (default:"
           " $BF16PERF_CPUINFO or /proc/cpuinfo)", "cpuinfo", parse=Path, metavar="PATH"),
    Option("--perf-require-bf16", "fail, instead of skipping, bf16 tests on hardware without"
           " bf16 (nightly jobs)"),
    Option("--perf-allow-emulated-bf16", "self-test without bf16 hardware: run bf16 tests"
           " anyway, marked emulated", "allow_emulated_bf16", default=False),
    Option("--perf-no-probe", "do not run the oneDNN kernel probe for the session header",
           "probe", default=False, negate=True),
    Option("--perf-no-step-profile", "prove kernels with one small step instead of"
           " profiling a lone step at the run's batch (no decomposition of the step, no"
           " explained speedup)", "step_profile", default=False, negate=True),
    # the cluster
    Option("--perf-workers", "local Spark workers (default: one per physical core group)",
           "workers", parse=p.positive_int, metavar="N"),
    Option("--perf-cores-per-worker", "CPUs pinned to each local worker", "cores_per_worker",
           parse=p.positive_int, metavar="N"),
    Option("--perf-pin", "how local workers are pinned (default: numactl if installed and"
           " NUMA > 1, else taskset)", "pin", parse=p.pin_mode,
           metavar="taskset|numactl|none"),
    Option("--spark-master", "use this existing cluster instead of starting one (pinning is"
           " then the cluster's business)", "spark_master", parse=p.master_url, metavar="URL"),
    Option("--perf-spark-secret-file", "with --spark-master: the cluster's shared secret (as"
           " given to bf16perf master/worker); the driver authenticates with it",
           "spark_secret_file", parse=Path, metavar="FILE"),
    Option("--perf-allow-mixed-hosts", "with --spark-master: measure executors whose hosts"
           " differ in bf16 capability (refused by default)", "allow_mixed_hosts",
           default=False),
    Option("--perf-lock-timeout", "wait this long for another perf session on this machine"
           " (default {default})", "lock_timeout_s", parse=p.positive_float,
           metavar="SECONDS"),
    Option("--perf-run-dir", "Spark conf, logs, work and scratch dirs (default: a temporary"
           " dir)", "run_dir", parse=Path, metavar="DIR"),
    Option("--perf-keep-run-dir", "keep the run directory even when everything passed",
           "keep_run_dir", default=False),
    # the workload
    Option("--perf-workload", "train this workload (repeatable; default resnet50-tf): a"
           " built-in one, or a [tool.bf16perf.workloads.NAME] table of --perf-workload-file",
           "workloads", parse=str, metavar="NAME", repeat=True),
    Option("--perf-workload-file", "TOML file with [tool.bf16perf.workloads.NAME] tables"
           " (default: {default})", "workload_file", parse=Path, metavar="PATH"),
    Option("--perf-profile", "workload size preset (default: {default})", "profile",
           parse=p.profile, metavar="smoke|default|full"),
    Option("--perf-image-size", "image side in pixels", train="image_size",
           parse=p.positive_int, metavar="PIXELS"),
    Option("--perf-batch-per-worker", "images per worker per step", train="batch_per_worker",
           parse=p.positive_int, metavar="N"),
    Option("--perf-warmup-steps", "unmeasured steps before the measured ones",
           train="warmup_steps", parse=p.positive_int, metavar="N"),
    Option("--perf-steps", "measured steps per run (3 or more)", train="measured_steps",
           parse=p.measured_steps, metavar="N"),
    Option("--perf-data-dir", "ImageNet-format TFRecords (default: synthetic data)",
           train="data_dir", parse=p.existing_dir, metavar="DIR"),
    Option("--perf-step-timeout", "fail a run when no step finishes within this time",
           train="step_timeout_s", parse=p.positive_float, metavar="SECONDS"),
    Option("--perf-inject-slowdown", "self-test: add this fraction of each measured step's"
           " time as delay", train="inject_slowdown", parse=p.fraction, metavar="FRACTION"),
    Option("--perf-onednn-max-isa", "cap oneDNN's ISA (ONEDNN_MAX_CPU_ISA), e.g."
           " AVX512_CORE_BF16", train="onednn_max_isa", parse=str, metavar="ISA"),
    Option("--perf-bf16-allreduce", "bf16 runs all-reduce gradients in bf16 (half the bytes;"
           " the reference recipe reduces fp32); a separate baseline key",
           train="bf16_allreduce", default=False),
    Option("--perf-bytes-per-pack", "pack gradients into all-reduces of about this many"
           " bytes (default 33554432, 32 MiB; 0: one per gradient); a separate baseline key",
           train="bytes_per_pack", parse=p.non_negative_int, metavar="BYTES"),
    Option("--perf-collective", "the collective implementation (default ring; auto lets"
           " TensorFlow pick); a separate baseline key", train="collective",
           parse=p.collective, metavar="ring|auto"),
    # verdicts
    Option("--perf-baselines", "baseline store (default: {default}/)", "baselines_dir",
           parse=Path, metavar="DIR"),
    Option("--perf-save-baseline", "add this session to the baseline, which keeps the last"
           " --perf-baseline-sessions sessions (the previous file is kept beside it)",
           "save_baseline", default=False),
    Option("--perf-baseline-sessions", "sessions a baseline keeps (default 7, ini"
           " perf_baseline_sessions); with 3 or more their own scatter is the between-session"
           " spread of the stored verdict", parse=p.positive_int, metavar="K"),
    Option("--perf-max-regression", "throughput drop that is a regression when significant"
           " (default {default})", "max_regression", parse=p.fraction,
           metavar="FRACTION"),
    Option("--perf-min-bf16-speedup", "release gate: minimum bf16/fp32 speedup (default 1.0;"
           " none for the smoke profile)", parse=p.positive_float, metavar="RATIO"),
    Option("--perf-repeats", "runs per variant, interleaved fp32/bf16: the unit of every"
           " verdict, and the runs a saved baseline keeps (default {default})", "repeats",
           parse=p.positive_int, metavar="N"),
    Option("--perf-extra-pairs", "fp32/bf16 pairs added when the gate is inconclusive; both"
           " looks then run at half the error (default {default}; 0: one look)", "extra_pairs",
           parse=p.non_negative_int, metavar="N"),
    Option("--perf-alpha", "one-sided false-alarm rate of the throughput verdicts (default"
           " {default})", "alpha", parse=p.alpha, metavar="P"),
    Option("--perf-release", "release mode: a throughput verdict must rule out a drop beyond"
           " --perf-max-regression, else it is inconclusive (exit 11); without it (nightly"
           " mode) only evidence of a drop fails: two sessions in a row below the baseline"
           " (this one and the history's previous), and 'cannot tell' or one session"
           " below ('suspect') is a notice",
           "release", default=False),
    Option("--perf-bf16-loss-band", "largest mean |bf16 - fp32| loss difference within a run"
           " (default {default})", "bf16_loss_band", parse=p.positive_float,
           metavar="LOSS"),
    # A/B mode and the paired nightly
    Option("--perf-reference", "the paired nightly: alternate each variant's runs with this"
           " kept reference stack (bf16perf reference create NAME; ini perf_reference) and"
           " judge tonight's pairs with the last nights'", parse=p.reference_name,
           metavar="NAME"),
    Option("--perf-references", "where kept references are (default: $BF16PERF_STATE/"
           "references, else ~/.local/share/bf16perf/references)", "references_dir",
           parse=Path, metavar="DIR"),
    Option("--perf-order-seed", "seed of this session's pair orders (default: drawn at"
           " random and recorded in the report)", "order_seed", parse=p.non_negative_int,
           metavar="N"),
    Option("--perf-reference-python", "A/B mode: alternate runs with this interpreter's stack"
           " (e.g. last release's TensorFlow) instead of comparing against a stored baseline",
           "reference_python", parse=str, metavar="PATH"),
    Option("--perf-reference-env", "A/B mode: environment of the reference runs (repeatable),"
           " e.g. a oneDNN knob; ONEDNN_MAX_CPU_ISA here wins over --perf-onednn-max-isa",
           "reference_env", parse=p.env_assignment, metavar="NAME=VALUE", repeat=True),
    Option("--perf-pairs", "A/B mode: reference/candidate pairs per variant, in balanced"
           " random order (default {default}; with --perf-reference: 2 a night)", "pairs",
           parse=p.positive_int, metavar="N"),
    # reports
    Option("--perf-reports", "report directories go here (default: {default}/)",
           "reports_dir", parse=Path, metavar="DIR"),
    Option("--perf-history", "append-only history file (default: <reports>/history.jsonl)",
           "history", parse=Path, metavar="PATH"),
    Option("--perf-label", "a label of this session's history line (repeatable), e.g."
           " commit=abc123; a change point names the labels that changed", "labels",
           parse=p.label, metavar="KEY=VALUE", repeat=True),
    Option("--perf-trend-confirm", "sessions after a drop in the history that make it a"
           " regression (default {default}; 0: no trend verdict)", "trend_confirm",
           parse=p.non_negative_int, metavar="N"),
    Option("--perf-no-report", "write no report directory and no history line", "report",
           default=False, negate=True),
)  # fmt: skip
