"""The Python stack a training process runs on: this environment, or a reference stack.

A/B mode (``--perf-reference-python``, ``--perf-reference-env``) runs the same worker code
on another interpreter (last release's TensorFlow, say) or with other environment knobs.
The worker code is always this bf16perf: a reference interpreter gets it through a
``PYTHONPATH`` directory holding only a link to this package, so that only the stack under
it differs (never this environment's site-packages).  :func:`check_reference_stack`
proves before any cluster starts that the reference interpreter can run the worker, and
reads its versions for the report.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import bf16perf
from bf16perf.workloads.config import TrainConfig

__all__ = [
    "TORCH_NEEDS",
    "WORKER_NEEDS",
    "StackError",
    "check_reference_stack",
    "lone_env",
    "package_path_dir",
    "pinned",
    "stack_env",
]

#: What the training worker imports besides bf16perf (and the pip names that provide them).
WORKER_NEEDS = {"numpy": "numpy", "tensorflow": "tensorflow-cpu"}
#: What the built-in PyTorch workload imports.
TORCH_NEEDS = {"numpy": "numpy", "torch": "torch==2.13.0"}


class StackError(RuntimeError):
    """A reference stack cannot run the training worker."""


def package_path_dir(work: Path) -> Path:
    """A directory under ``work`` whose only entry links to this bf16perf package."""
    shim = work / "bf16perf-path"
    link = shim / "bf16perf"
    if not link.exists():
        shim.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path(bf16perf.__file__).resolve().parent, target_is_directory=True)
    return shim


def stack_env(
    env: Mapping[str, str], python: str | None, extra: Sequence[tuple[str, str]], work: Path
) -> dict[str, str]:
    """``env`` for a process of the stack ``python`` (``None``: this one) with ``extra``."""
    out = dict(env)
    out.update(dict(extra))
    if python is not None:
        out["PYTHONPATH"] = str(package_path_dir(work))
        out.pop("PYTHONHOME", None)
    return out


_CHECK = r"""
import importlib, json, sys
out = {"python": sys.version.split()[0]}
for name in sys.argv[1:]:
    try:
        mod = importlib.import_module(name)
    except Exception as exc:
        print(json.dumps({"missing": name, "error": f"{type(exc).__name__}: {exc}"}))
        sys.exit(3)
    out[name] = getattr(mod, "__version__", "unknown")
import bf16perf.workloads.worker  # noqa: F401  (the worker's own imports)
try:
    import tensorflow as tf
    out["onednn"] = tf.sysconfig.get_build_info().get("onednn_version", "unknown")
except Exception:
    pass
print(json.dumps(out))
"""


def check_reference_stack(
    python: str,
    extra: Sequence[tuple[str, str]],
    work: Path,
    timeout_s: float = 120.0,
    needs: Mapping[str, str] = WORKER_NEEDS,
) -> dict[str, str]:
    """The reference stack's versions; :class:`StackError` in one line naming what is
    missing (the interpreter, or a package of ``needs``: import name to pip name)."""
    if not Path(python).exists():
        raise StackError(f"--perf-reference-python {python}: no such file")
    if not os.access(python, os.X_OK):
        raise StackError(f"--perf-reference-python {python}: not executable")
    env = stack_env(os.environ, python, extra, work)
    try:
        proc = subprocess.run(
            [python, "-c", _CHECK, *needs],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"--perf-reference-python {python}: could not run it ({exc})") from None
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    try:
        data = json.loads(last)
    except json.JSONDecodeError:
        data = None
    if proc.returncode == 3 and isinstance(data, dict) and "missing" in data:
        name = data["missing"]
        raise StackError(
            f"--perf-reference-python {python} lacks {name!r}, which the training worker"
            f" imports ({data['error']}): install it there (pip install {needs[name]})"
        )
    if proc.returncode != 0 or not isinstance(data, dict):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise StackError(
            f"--perf-reference-python {python} cannot import the training worker"
            f" (exit {proc.returncode}): {tail[0]}"
        )
    return {str(k): str(v) for k, v in data.items()}


def lone_env(config: TrainConfig, tmp: Path, cores: int) -> tuple[dict[str, str], list[str]]:
    """The environment and command prefix of a lone process of ``config`` (a proof step,
    a peak probe): the run's own stack and knobs (A/B: the reference's) over its ISA cap, and
    with ``cores`` > 0 pinned to the first ``cores`` CPUs this process may use (the local
    cluster's first worker's); verbose output is the caller's to switch on."""
    env = {"TF_CONFIG": "{}", "OMP_NUM_THREADS": str(max(cores, 1))}
    if config.onednn_max_isa:
        env["ONEDNN_MAX_CPU_ISA"] = config.onednn_max_isa
    # the stack's knobs last, as for the runs (workload.task): a reference's own
    # ONEDNN_MAX_CPU_ISA wins over the session's cap in its proof as in its runs
    return stack_env(env, config.python, config.env, tmp), pinned(cores)


def pinned(cores: int) -> list[str]:
    """The command prefix that pins a lone process to the first ``cores`` CPUs this process
    may use (the local cluster's first worker's); none for ``cores`` <= 0."""
    if cores <= 0:
        return []
    cpus = sorted(os.sched_getaffinity(0))[:cores]
    return ["taskset", "-c", ",".join(str(c) for c in cpus)]
