"""bf16perf: a pytest-based performance regression harness for bf16 training on CPUs."""

__version__ = "0.1.0"
