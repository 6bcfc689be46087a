"""The pytest front end over :mod:`bf16perf.session`: the plugin's hooks, the ``--perf-*``
option group read from the one table, and step times fed to pytest-benchmark.
"""
