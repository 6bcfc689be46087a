"""A command workload's lone-step profile: the step-marking protocol (bf16perf.onednn.marks) end
to end, with a real program in a real subprocess that prints oneDNN-shaped lines."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bf16perf.workloads.config import PROFILES, Precision, Variant
from bf16perf.workloads.definition import WorkloadDef
from bf16perf.workloads.program.proof import profile_command, program_proof

# A program that trains "steps": each step runs one convolution (10 ms the cold first
# time, 4 ms after) and writes a record; it marks its steps only when asked to (--marks).
PROGRAM = r"""
import json, os, sys, time
from bf16perf.onednn.marks import mark_step
steps, marks = int(sys.argv[1]), sys.argv[2] == "marks"
line = ("onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx2,forward_training,"
        "src:f32::blocked:acdb::f0 wei:f32::blocked:Acdb8a::f0 dst:f32::blocked:acdb::f0,"
        "attr-scratchpad:user,alg:convolution_direct,"
        "mb4_ic32oc32_ih16oh16kh3sh1dh0ph1_iw16ow16kw3sw1dw0pw1,{ms}")
with open(os.environ["BF16PERF_METRICS"], "a") as out:
    for step in range(1, steps + 1):
        if marks:
            mark_step(step)
        print(line.format(ms=10.0 if step == 1 else 4.0), flush=True)
        out.write(json.dumps({"step": step, "images": 4, "seconds": 0.5, "loss": 1.0}) + "\n")
"""


def _workload(tmp_path: Path, marks: bool) -> WorkloadDef:
    script = tmp_path / "prog.py"
    script.write_text(PROGRAM)
    mode = "marks" if marks else "none"
    return WorkloadDef("fake", command=(sys.executable, str(script), "{total_steps}", mode))


def test_a_program_that_marks_its_steps_gets_the_second_steps_profile(tmp_path: Path) -> None:
    config = replace(PROFILES["smoke"], batch_per_worker=4, workload="fake")
    summary, profile, cost = profile_command(_workload(tmp_path, True), config, cores=1)
    assert len(summary.primitives) == 2  # a warm-up step and the profiled one
    assert profile is not None and profile.available
    (part,) = profile.parts
    assert part.name == "convolution forward" and part.ms == 4.0  # the warm step only
    assert part.gflop == pytest.approx(2 * 4 * 32 * 32 * 16 * 16 * 9 / 1e9)
    assert profile.step_s == pytest.approx(0.5)  # its wall time, from its record
    assert cost > 0


def test_a_program_that_marks_nothing_has_no_profile_and_says_so(tmp_path: Path) -> None:
    config = replace(PROFILES["smoke"], batch_per_worker=4, workload="fake")
    summary, profile, _ = profile_command(_workload(tmp_path, False), config, cores=1)
    assert summary.primitives and profile is None  # proven, but no step to profile
    proof, note = program_proof(
        Variant("fp32", Precision.FP32),
        config,
        "fake:fp32",
        _workload(tmp_path, False),
        cores=1,
        allow_emulated=False,
        step_profile=True,
    )
    assert proof["available"] and "profile" not in proof
    assert note is not None and "no lone-step profile: the program marks no steps" in note
