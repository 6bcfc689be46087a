"""The kernel proof kept with a run, typed for its readers: which ISA the deciding
primitives ran on, whether bf16 was emulated, and the lone step's profile."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["RunProof"]


@dataclass(frozen=True)
class RunProof:
    """The kernel proof kept with a run (``RunResult.kernels``: oneDNN's summary of its
    proof step plus the run's own keys), typed for its readers.

    Attributes:
        isa: the ISA the deciding primitives ran on (``None``: not known).
        available: a proof was made (a program that prints no oneDNN lines has none).
        emulated: bf16 that did not run in bf16 hardware kernels (the self-test mode).
        profile: the lone step's profile (:class:`bf16perf.onednn.step_profile.Profile` as a dict),
            where one was taken.
    """

    isa: str | None = None
    available: bool = True
    emulated: bool = False
    profile: dict[str, Any] | None = None

    @classmethod
    def of(cls, kernels: Mapping[str, Any] | None) -> RunProof:
        """The typed view of a stored proof (``None``: no proof kept, nothing known)."""
        if not kernels:
            return cls(available=False)
        profile = kernels.get("profile")
        return cls(
            isa=kernels.get("isa"),
            available=kernels.get("available") is not False,
            emulated=bool(kernels.get("emulated")),
            profile=dict(profile) if isinstance(profile, Mapping) else None,
        )
