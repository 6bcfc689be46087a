"""A user's program as a workload: launched once per barrier task or on the driver
(:mod:`.launch`, :mod:`.task`), its metrics read (:mod:`bf16perf.workloads.output`), its
kernels proved
(:mod:`.proof`); :mod:`.torch_resnet` is the built-in ``resnet50-torch`` program."""
