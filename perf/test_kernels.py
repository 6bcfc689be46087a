"""The oneDNN kernel proof as a perf test: bf16 must run in bf16 kernels on bf16 hardware."""

import pytest

from bf16perf.machine import Machine


@pytest.mark.usefixtures("bf16_hardware")
def test_bf16_kernels_ran(machine: Machine) -> None:
    if machine.kernels is None:
        pytest.fail(
            f"kernel proof unavailable: {machine.probe_error or 'probe disabled'}", pytrace=False
        )
    verdict = machine.kernels.verdict()
    assert verdict.bf16_ran, verdict.message + "\n" + "\n".join(verdict.evidence)
