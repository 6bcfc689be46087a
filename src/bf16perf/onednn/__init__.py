"""oneDNN's own evidence: its verbose output parsed into the kernels that ran (the proof), the
probe processes, each primitive's FLOPs, a lone step's profile, the share of peak, and what
a step is made of.
"""
