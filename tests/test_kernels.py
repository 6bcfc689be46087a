"""oneDNN verbose parsing on text captured here, on a lent AMX machine, and on oneDNN's
documented format; the kernel proof's refusals on those captures.

Host-dependent (:mod:`tests.hostview`): ``test_probe_on_this_machine_agrees_with_cpuinfo``
runs the real probe and asserts bf16 kernels where the harness sees bf16 hardware, the
fallback where it sees none (on a bf16 host under ``make test-no-bf16``: oneDNN capped at
AVX512_CORE, the fallback)."""

from pathlib import Path

import pytest

from bf16perf.machine.cpu import Capability
from bf16perf.onednn.capture import run_probe
from bf16perf.onednn.kernels import parse_verbose, verbose_lines
from bf16perf.workloads.config import VARIANTS
from bf16perf.workloads.proof import refusal
from tests.hostview import described_capability, host_has_bf16

ONEDNN = Path(__file__).parent / "data" / "onednn"


def test_fallback_captured_on_this_machine() -> None:
    summary = parse_verbose((ONEDNN / "linux-zen-avx2-fallback.txt").read_text())
    verdict = summary.verdict()
    assert not verdict.bf16_ran
    assert verdict.message.startswith("bf16 fell back: no bf16 oneDNN")
    assert summary.cpu_isa == "Intel AVX2"
    assert summary.version == "v3.7.3"
    assert summary.bf16_primitives() == []
    # the fp32 gemm calls were seen, and attributed to their phase
    assert summary.primitives and {p.phase for p in summary.primitives} == {"fp32", "bf16"}
    assert all(dict(p.dtypes)["src"] == "f32" for p in summary.primitives)


def test_forced_onednn_keeps_tensorflows_own_fallback_note() -> None:
    summary = parse_verbose((ONEDNN / "linux-zen-avx2-onednn-forced.txt").read_text())
    verdict = summary.verdict()
    assert not verdict.bf16_ran
    assert any("DT_BFLOAT16 only on platforms with AVX-512" in line for line in verdict.evidence)


def test_avx512_bf16_documented_format() -> None:
    summary = parse_verbose((ONEDNN / "documented-avx512-bf16.txt").read_text())
    verdict = summary.verdict()
    assert verdict.bf16_ran and verdict.isa == "avx512_core_bf16"
    assert (
        verdict.message
        == "bf16 kernels ran on avx512_core_bf16 (convolution 2, matmul 1 bf16 primitives)"
    )
    assert summary.bf16_counts_by_kind() == {
        "convolution": 2,
        "matmul": 1,
        "batch_normalization": 1,
    }
    assert summary.isas("fp32") == {"avx512_core": 2}
    conv = summary.bf16_primitives("bf16")[0]
    assert conv.kind == "convolution" and conv.prop_kind == "forward_training"
    assert dict(conv.dtypes)["wei"] == "bf16"
    assert all("avx512_core_bf16" in line for line in verdict.evidence)


def test_probe_captured_on_zen4() -> None:
    """The real probe's output on a Zen 4 build machine (avx512_bf16, no AMX)."""
    summary = parse_verbose((ONEDNN / "linux-zen4-avx512-bf16-probe.txt").read_text())
    verdict = summary.verdict()
    assert verdict.bf16_ran and verdict.isa == "avx512_core_bf16"
    assert summary.cpu_isa == "Intel AVX-512 with Intel DL Boost and bfloat16 support"
    # fp32 ran on plain AVX-512, bf16 on the bf16 kernels: the phases keep them apart
    assert set(summary.isas("fp32")) == {"avx512_core"}
    assert set(summary.isas("bf16")) == {"avx512_core_bf16"}
    assert summary.bf16_counts_by_kind() == {"convolution": 3, "matmul": 3, "reorder": 3}
    props = {p.prop_kind for p in summary.bf16_primitives("bf16") if p.kind == "convolution"}
    assert props == {"forward_training", "backward_data", "backward_weights"}


def test_resnet50_bf16_step_captured_on_zen4() -> None:
    """One bf16 training step of the harness's ResNet-50 (the per-run kernel proof's
    output): convolutions *and* the fused batch norm run in bf16 oneDNN kernels."""
    summary = parse_verbose((ONEDNN / "linux-zen4-resnet50-bf16-step.txt").read_text())
    conv = summary.verdict(kinds=("convolution",))
    assert conv.bf16_ran and conv.isa == "avx512_core_bf16"
    bn = [p for p in summary.bf16_primitives() if p.kind == "batch_normalization"]
    # 53 batch norms in ResNet-50, each forward and backward, all on the bf16 JIT
    assert {p.prop_kind for p in bn} == {"forward_training", "backward"}
    assert len(bn) == 2 * 53
    assert {p.isa for p in bn} == {"avx512_core_bf16"}
    assert all(dict(p.dtypes)["data"] == "bf16" for p in bn)
    counts = summary.bf16_counts_by_kind()
    # forward, backward data and backward weights, except no input gradient for the stem
    assert counts["convolution"] == 3 * 53 - 1
    assert "reorder" in {p.kind for p in summary.primitives}


_BF16_CONV = (
    "onednn_verbose,v1,primitive,exec,cpu,convolution,{impl},forward_training,"
    "src:bf16::blocked:acdb::f0 wei:bf16:a:blocked:abcd::f0 bia:undef::undef:::"
    " dst:bf16::blocked:acdb::f0,,alg:convolution_direct,mb4_ic32oc32_ih16oh16kh3,1.5"
)


@pytest.mark.parametrize("impl", ["ref:any", "gemm:ref", "jit:avx512_core", "jit:avx2"])
def test_bf16_in_generic_or_emulating_kernels_is_a_fallback(impl: str) -> None:
    """bf16 data in a reference kernel, or in AVX-512 without bf16 (oneDNN's emulation), is
    the slow path the proof exists to catch."""
    verdict = parse_verbose(_BF16_CONV.format(impl=impl)).verdict()
    assert not verdict.bf16_ran and verdict.isa is None
    assert verdict.message.startswith("bf16 fell back: bf16 convolution/matmul ran only in")
    assert impl in verdict.message and verdict.evidence


@pytest.mark.parametrize(
    ("impl", "isa"),
    [
        ("brg_conv_fwd:avx512_core_bf16", "avx512_core_bf16"),
        ("brg_conv_fwd:avx512_core_amx", "avx512_core_amx"),
        ("brg_conv_fwd:avx2_vnni_2", "avx2_vnni_2"),
        ("brg_conv_fwd:avx10_1_512_amx", "avx10_1_512_amx"),
    ],
)
def test_bf16_hardware_kernels(impl: str, isa: str) -> None:
    verdict = parse_verbose(_BF16_CONV.format(impl=impl)).verdict()
    assert verdict.bf16_ran and verdict.isa == isa


def test_amx_with_timestamps() -> None:
    summary = parse_verbose((ONEDNN / "documented-amx.txt").read_text())
    verdict = summary.verdict()
    assert verdict.bf16_ran and verdict.isa == "avx512_core_amx"
    assert summary.isas() == {"avx512_core_amx": 2, "avx10_1_512_amx": 1}
    assert summary.cpu_isa is not None and "AMX" in summary.cpu_isa


def test_non_onednn_lines_are_ignored() -> None:
    summary = parse_verbose("hello\nonednn_verbose,v1,primitive,exec,gpu,x\n")
    assert summary.primitives == () and summary.cpu_isa is None


@pytest.mark.slow
def test_probe_on_this_machine_agrees_with_cpuinfo() -> None:
    """The real probe: where the harness sees no bf16 hardware it must report the fallback,
    and where it sees bf16 hardware, bf16 kernels (under the no-bf16 view of a bf16 host,
    oneDNN is capped below bf16: the fallback again)."""
    summary = run_probe()
    assert summary.primitives, "oneDNN printed nothing: is ONEDNN_VERBOSE honoured?"
    verdict = summary.verdict()
    if described_capability() is Capability.NONE:
        assert not verdict.bf16_ran, verdict.message
    if host_has_bf16():
        assert verdict.bf16_ran, verdict.message
    # with oneDNN off, bf16 never runs in oneDNN kernels, whatever the CPU
    off = run_probe(env={"TF_ENABLE_ONEDNN_OPTS": "0"})
    verdict = off.verdict()
    assert not verdict.bf16_ran and verdict.message.startswith("bf16 fell back")


# Captured on a lent Emerald Rapids (family 6 model 207, AMX) with PyTorch's bundled oneDNN
# v3.10.2, by benchmarks/amx_check.py: TensorFlow could not be installed there, and both
# frameworks print the same oneDNN verbose lines and obey the same ONEDNN_MAX_CPU_ISA.
EMR = {m: ONEDNN / f"linux-emeraldrapids-torch-{m}.txt" for m in ("fp32", "bf16", "bf16-avx512")}
_AMX_CPU = (
    "Intel AVX-512 with float16, Intel DL Boost and bfloat16 support and Intel AMX with"
    " bfloat16 and 8-bit integer support"
)


def test_amx_captured_on_emerald_rapids() -> None:
    summary = parse_verbose(EMR["bf16"].read_text())
    verdict = summary.verdict()
    # oneDNN 3.10 names the AMX ISA avx10_1_512_amx (3.7 said avx512_core_amx)
    assert verdict.bf16_ran and verdict.isa == "avx10_1_512_amx", verdict.message
    assert summary.version == "v3.10.2" and summary.cpu_isa == _AMX_CPU
    assert summary.isas() == {"avx10_1_512_amx": 6}
    assert len(summary.amx_primitives()) == 6
    props = {p.prop_kind for p in summary.bf16_primitives() if p.kind == "convolution"}
    assert props == {"forward_training", "backward_data", "backward_weights"}
    # a fused implementation name ("brg_conv_bwd:...+brg_conv_fwd:...") keeps its ISA
    fused = [p for p in summary.primitives if "+" in p.impl]
    assert fused and all(p.isa == "avx10_1_512_amx" for p in fused)


def test_isa_cap_keeps_emerald_rapids_off_amx() -> None:
    """Under ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 (the bf16-avx512 variant's cap) the same
    bf16 work ran on AVX512-BF16 kernels, and oneDNN reports the capped ISA."""
    summary = parse_verbose(EMR["bf16-avx512"].read_text())
    verdict = summary.verdict()
    assert verdict.bf16_ran and verdict.isa == "avx512_core_bf16"
    assert summary.amx_primitives() == []
    assert summary.cpu_isa == "Intel AVX-512 with Intel DL Boost and bfloat16 support"


def test_fp32_on_emerald_rapids_stays_off_amx() -> None:
    summary = parse_verbose(EMR["fp32"].read_text())
    assert not summary.verdict().bf16_ran and summary.bf16_primitives() == []
    assert summary.isas() == {"avx512_core": 3} and summary.amx_primitives() == []


def test_refusal_of_bf16_avx512_where_amx_ran() -> None:
    capped = VARIANTS["bf16-avx512"]
    amx = parse_verbose(EMR["bf16"].read_text())
    reason = refusal(capped, amx, "AVX512_CORE_BF16")
    assert reason is not None
    assert (
        "did not keep oneDNN off AMX" in reason and "ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16" in reason
    )
    assert "brg_conv_fwd:avx10_1_512_amx" in reason  # names the implementations, with a line
    assert (
        refusal(capped, parse_verbose(EMR["bf16-avx512"].read_text()), "AVX512_CORE_BF16") is None
    )
    # plain bf16 may (and should) run on AMX
    assert refusal(VARIANTS["bf16"], amx, None) is None


def test_refusal_of_bf16_without_bf16_kernels() -> None:
    fp32_kernels = parse_verbose(EMR["fp32"].read_text())
    reason = refusal(VARIANTS["bf16"], fp32_kernels, "AVX2")
    assert reason is not None and "did not run in bf16 kernels" in reason
    assert "ONEDNN_MAX_CPU_ISA=AVX2" in reason
    assert refusal(VARIANTS["bf16"], fp32_kernels, None, allow_emulated=True) is None
    assert refusal(VARIANTS["fp32"], fp32_kernels, None) is None


@pytest.mark.parametrize(
    "capture",
    [
        "linux-zen4-resnet50-bf16-step.txt",
        "linux-zen4-avx512-bf16-probe.txt",
        "linux-zen-avx2-fallback.txt",
        "documented-amx.txt",
    ],
)
def test_the_lines_a_host_sends_back_prove_the_same(capture: str) -> None:
    """An executor's proof sends back only what the parser reads: the same summary, fewer
    bytes."""
    text = (ONEDNN / capture).read_text()
    kept = verbose_lines(text + "\nsome TensorFlow log line\nEpoch 1/1\n")
    assert parse_verbose(kept) == parse_verbose(text)
    assert "some TensorFlow log line" not in kept and "Epoch" not in kept
