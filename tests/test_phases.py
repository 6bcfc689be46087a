"""Where a session's time went (#35 item 4): the phases line and the report's figures."""

from __future__ import annotations

from bf16perf.session.phases import Phases


def test_phases_add_up_and_name_the_rest() -> None:
    phases = Phases()
    phases.add("kernel probe", 7.0)
    phases.add("bring-up", 13.3)
    phases.add("proof fp32", 21.0)
    phases.add("proof bf16", 11.0)
    for _ in range(3):
        phases.add("runs fp32", 42.4)
        phases.add("runs bf16", 30.1)
    phases.add("report", 2.0)
    (line,) = phases.lines(total_s=400.0)
    assert line.startswith("bf16perf phases: kernel probe 7.0 s; bring-up 13.3 s;")
    assert "proofs and profiles 32.0 s (fp32 21.0 s, bf16 11.0 s)" in line
    assert "runs 217.5 s (fp32 3 x 42.4 s, bf16 3 x 30.1 s)" in line
    assert "report 2.0 s" in line
    assert "the rest 128.2 s" in line  # 400 - 271.8: what no phase timed
    assert phases.to_dict()["runs fp32"] == 127.2


def test_a_timed_block_counts_when_it_raises() -> None:
    phases = Phases()
    try:
        with phases.timed("runs fp32"):
            raise RuntimeError("a run failed")
    except RuntimeError:
        pass
    assert phases.counts == {"runs fp32": 1} and phases.spent["runs fp32"] >= 0
    assert Phases().lines(10.0) == []
