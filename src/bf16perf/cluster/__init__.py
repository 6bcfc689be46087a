"""Spark: the pinned local standalone cluster or the user's own, brought up and always torn
down; the driver's session, each executor's host, and the pinned daemons of a multi-host
cluster.
"""
