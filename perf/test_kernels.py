"""The oneDNN kernel proof as a perf test: bf16 must run in bf16 kernels on bf16 hardware."""

import pytest

from bf16perf.machine.host import Machine
from bf16perf.session.state import PerfSession


@pytest.mark.bf16
def test_bf16_kernels_ran(machine: Machine, bf16perf_session: PerfSession) -> None:
    if bf16perf_session.options.allow_emulated_bf16 and machine.why_no_bf16():
        pytest.skip("--perf-allow-emulated-bf16: emulated bf16 has no bf16 kernels to prove")
    if machine.probe is None:
        pytest.fail(
            f"kernel proof unavailable: {machine.probe_error or 'probe disabled'}", pytrace=False
        )
    verdict = machine.probe.verdict()
    assert verdict.bf16_ran, verdict.message + "\n" + "\n".join(verdict.evidence)
