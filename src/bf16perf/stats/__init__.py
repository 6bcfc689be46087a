"""Statistics as pure functions over plain sequences, without I/O: the run figure and spreads,
log ratios, the exact signed-rank test, power and change points. The bottom layer: it
imports nothing of bf16perf.
"""
