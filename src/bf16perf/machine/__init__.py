"""This machine, read and guarded: CPU identity and bf16 capability, the fingerprint baselines
are kept under, Java, the pinning plan, the one-session lock, evidence of interference, and
the hygiene that leaves no process behind.
"""
