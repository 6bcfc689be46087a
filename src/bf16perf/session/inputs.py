"""A perf session's inputs, checked before any wait and without pytest: the workloads
selected, option values, this machine's baseline files, Java and the A/B reference stack.
Each bad one is an :class:`InputError` naming the input and the fix (the plugin makes it a
usage error, exit code 4)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from bf16perf.machine.fingerprint import Fingerprint
from bf16perf.machine.java import JavaError, check_java
from bf16perf.session.options import PerfOptions
from bf16perf.workloads.definition import WorkloadDef, WorkloadError
from bf16perf.workloads.tables import select_workloads

__all__ = ["InputError", "checked", "reference_stack", "workloads"]


class InputError(Exception):
    """Inputs a session cannot start with: one line each, naming the input and the fix."""


def workloads(options: PerfOptions) -> list[WorkloadDef]:
    """The selected workloads; an input error for a bad definition, an unknown name, or a
    workload this environment cannot run."""
    try:
        given = options.workload_file != PerfOptions().workload_file
        chosen = select_workloads(options.workload_file, options.workloads, given)
    except WorkloadError as exc:
        raise InputError(str(exc)) from None
    for workload in chosen:
        if workload.command and options.train.inject_slowdown:
            raise InputError(
                f"--perf-inject-slowdown reaches only into the built-in TensorFlow workload,"
                f" not into workload {workload.name}'s program: drop one of them"
            )
        if workload.name == "resnet50-torch" and importlib.util.find_spec("torch") is None:
            raise InputError(
                "--perf-workload resnet50-torch needs PyTorch: pip install 'bf16perf[torch]'"
                " (torch==2.13.0, a CPU build)"
            )
    return chosen


def checked(
    options: PerfOptions, fingerprint: Fingerprint, workloads: list[WorkloadDef]
) -> dict[str, str] | None:
    """Inputs a measuring session needs, checked before any wait; returns the reference
    stack's versions in A/B mode."""
    errors = options.input_errors()
    if not (errors or options.ab_mode or options.save_baseline):
        from bf16perf.store.baselines import BaselineStore  # numpy: only for a measuring session

        store = BaselineStore(options.baselines_dir)
        errors += store.problems(fingerprint.slug, fingerprint.id)
    try:
        check_java()  # the driver needs it, whichever cluster the session uses
    except JavaError as exc:
        errors.append(str(exc))
    if errors:
        raise InputError("\n".join(errors))
    return reference_stack(options, workloads) if options.ab_mode else None


def reference_stack(options: PerfOptions, workloads: list[WorkloadDef]) -> dict[str, str]:
    """The reference stack's versions; a one-line input error where it lacks what the
    session's built-in workloads import (a command workload's program is its own business)."""
    import sys
    import tempfile

    from bf16perf.workloads.stack import (
        TORCH_NEEDS,
        WORKER_NEEDS,
        StackError,
        check_reference_stack,
    )

    needs: dict[str, str] = {}
    for workload in workloads:
        if workload.builtin_tf:
            needs.update(WORKER_NEEDS)
        elif workload.name == "resnet50-torch":
            needs.update(TORCH_NEEDS)

    python = options.reference_python or sys.executable
    with tempfile.TemporaryDirectory(prefix="bf16perf-stack-") as tmp:
        try:
            versions = check_reference_stack(python, options.reference_env, Path(tmp), needs=needs)
        except StackError as exc:
            raise InputError(str(exc)) from None
    versions["interpreter"] = python
    versions.update({f"env {k}": v for k, v in options.reference_env})
    return versions
