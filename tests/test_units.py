"""Pure pieces: pinning plans, baselines store, replay timer, training config."""

from dataclasses import replace

import pytest

from bf16perf.machine.pinning import (
    PinMode,
    PlanError,
    Topology,
    format_cpu_list,
    make_plan,
    parse_cpu_list,
)
from bf16perf.plugin.steptimer import ReplayTimer
from bf16perf.workloads.config import PROFILES, VARIANTS, Precision, TrainConfig


def test_cpu_lists_round_trip() -> None:
    assert parse_cpu_list("0-3,8,10-11") == [0, 1, 2, 3, 8, 10, 11]
    assert format_cpu_list([0, 1, 2, 3, 8, 10, 11]) == "0-3,8,10-11"


def test_plan_this_kind_of_machine() -> None:
    plan = make_plan(Topology((((0,), (1,)),)))
    assert plan.cpu_sets == ((0,), (1,)) and plan.pin is PinMode.TASKSET


def test_plan_keeps_smt_siblings_and_numa_nodes_whole() -> None:
    node0 = ((0, 8), (1, 9), (2, 10), (3, 11))
    node1 = ((4, 12), (5, 13), (6, 14), (7, 15))
    plan = make_plan(Topology((node0, node1)), pin=PinMode.NONE)
    assert plan.cpu_sets == ((0, 8, 1, 9, 2, 10, 3, 11), (4, 12, 5, 13, 6, 14, 7, 15))
    four = make_plan(Topology((node0, node1)), workers=4, pin=PinMode.NONE)
    assert all(
        set(s) <= {c for core in node0 for c in core}
        or set(s) <= {c for core in node1 for c in core}
        for s in four.cpu_sets
    )
    with pytest.raises(PlanError, match="splits a physical core"):
        make_plan(Topology((node0, node1)), workers=2, cores_per_worker=3)
    with pytest.raises(PlanError, match="--perf-workers 3 needs at least 3 physical cores"):
        make_plan(Topology((((0,), (1,)),)), workers=3)


def test_replay_timer_gives_each_round_its_step_time() -> None:
    timer = ReplayTimer()
    timer.load([1.5, 2.0])
    rounds = [(-timer() + timer()) for _ in range(2)]
    assert rounds == [1.5, 2.0]
    with pytest.raises(RuntimeError, match="more rounds"):
        timer()


def test_config_json_round_trip_and_key() -> None:
    cfg = PROFILES["smoke"].with_precision(Precision.BF16)
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    assert cfg.workload_key(2, 1) == "resnet50-32px-b4-s8-2x1-synthetic-bf16"


def test_variants_apply_precision_and_their_own_isa_cap() -> None:
    base = PROFILES["smoke"]
    capped = TrainConfig(onednn_max_isa="AVX2")
    assert VARIANTS["fp32"].apply(base).precision is Precision.FP32
    assert VARIANTS["bf16"].apply(capped).onednn_max_isa == "AVX2"  # the session's cap holds
    avx512 = VARIANTS["bf16-avx512"]
    assert avx512.needs_amx and avx512.apply(capped).onednn_max_isa == "AVX512_CORE_BF16"
    keys = {v.apply(base).workload_key(2, 1) for v in VARIANTS.values()}
    assert len(keys) == 3  # each variant has its own baseline
    assert avx512.apply(base).workload_key(2, 1).endswith("-bf16-avx512_core_bf16")


def test_bf16_allreduce_touches_bf16_runs_only_and_has_its_own_key() -> None:
    base = replace(PROFILES["smoke"], bf16_allreduce=True)
    fp32, bf16 = base.with_precision(Precision.FP32), base.with_precision(Precision.BF16)
    assert not fp32.reduces_in_bf16 and bf16.reduces_in_bf16
    assert fp32.workload_key(2, 1) == PROFILES["smoke"].workload_key(2, 1)
    assert bf16.workload_key(2, 1).endswith("-bf16-bf16allreduce")
    assert TrainConfig.from_json(bf16.to_json()) == bf16


def test_threading_env_keeps_only_real_knobs() -> None:
    from bf16perf.machine.fingerprint import is_threading_knob

    knobs = ["OMP_NUM_THREADS", "KMP_BLOCKTIME", "ONEDNN_MAX_CPU_ISA", "DNNL_VERBOSE"]
    knobs += ["TF_ENABLE_ONEDNN_OPTS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"]
    assert all(is_threading_knob(k) for k in knobs)
    others = ["TF_CLI_CONFIG_FILE", "TF_CPP_MIN_LOG_LEVEL", "TF_CONFIG", "PATH", "OMPX"]
    assert not any(is_threading_knob(k) for k in others)
