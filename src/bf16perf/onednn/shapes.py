"""The arithmetic work of a oneDNN primitive, from the problem descriptor its verbose line
prints: ``mb2_ic3oc64_ih38oh16kh7sh2dh0ph0_iw38ow16kw7sw2dw0pw0`` for a convolution,
``mb2ic2048oc10`` for an inner product, ``2048x2:2x10`` for a matmul or oneDNN's sgemm.

Pure.  A multiply-add counts as two floating-point operations; a convolution's three
directions (forward, backward data, backward weights) do the same work; bias, padding
and the strides' skipped taps are not counted.  A descriptor it cannot read gives
``None``, never a guess.
"""

from __future__ import annotations

import math
import re

__all__ = ["flops_of"]

_TOKEN = re.compile(r"([a-z]+)(\d+)")
_CONV = ("convolution", "deconvolution")
_MATMUL = ("matmul", "gemm_api")


def _fields(problem: str) -> dict[str, int]:
    return {k: int(v) for k, v in _TOKEN.findall(problem.replace("_", ""))}


def _conv(problem: str) -> float | None:
    f = _fields(problem)
    if not {"mb", "ic", "oc"} <= f.keys():
        return None
    groups = f.get("g", 1) or 1
    spatial = math.prod(f.get(k, 1) for k in ("od", "oh", "ow", "kd", "kh", "kw"))
    return 2.0 * f["mb"] * f["oc"] * (f["ic"] // groups) * spatial


def _inner_product(problem: str) -> float | None:
    f = _fields(problem)
    if not {"mb", "ic", "oc"} <= f.keys():
        return None
    spatial = math.prod(f.get(k, 1) for k in ("id", "ih", "iw"))
    return 2.0 * f["mb"] * f["oc"] * f["ic"] * spatial


def _matmul(problem: str) -> float | None:
    operands = problem.split(":")
    if len(operands) < 2:
        return None
    try:
        src = [int(d) for d in operands[0].split("x")]
        wei = [int(d) for d in operands[1].split("x")]
    except ValueError:  # runtime dimensions ("*"), or not a matmul shape
        return None
    if len(src) < 2 or len(wei) < 2 or src[-1] != wei[-2]:
        return None
    batch_src, batch_wei = src[:-2], wei[:-2]
    width = max(len(batch_src), len(batch_wei))
    batch_src = [1] * (width - len(batch_src)) + batch_src
    batch_wei = [1] * (width - len(batch_wei)) + batch_wei
    batch = math.prod(max(a, b) for a, b in zip(batch_src, batch_wei, strict=True))
    return 2.0 * batch * src[-2] * src[-1] * wei[-1]


def flops_of(kind: str, problem: str) -> float | None:
    """Floating-point operations of one primitive of ``kind`` (oneDNN's primitive kind)
    with ``problem`` (its descriptor), or ``None`` where either is not one this module
    reads (batch norm, reorders, eltwise and pooling are not counted: their work is
    memory traffic, not arithmetic)."""
    if not problem:
        return None
    if kind in _CONV:
        return _conv(problem)
    if kind == "inner_product":
        return _inner_product(problem)
    if kind in _MATMUL:
        return _matmul(problem)
    return None
