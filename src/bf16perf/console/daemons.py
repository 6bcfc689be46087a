"""``bf16perf master`` and ``bf16perf worker``: the pinned standalone daemons of a
multi-host cluster (:mod:`bf16perf.cluster.hosts`), in the foreground."""

from __future__ import annotations

import argparse
from pathlib import Path

from bf16perf.console._common import InputError

__all__ = ["add", "run"]


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    m = sub.add_parser("master", help="a Spark standalone master for a multi-host cluster")
    w = sub.add_parser("worker", help="a pinned Spark standalone worker of a master")
    for d in (m, w):
        d.add_argument("--host", required=True, help="the address to bind and advertise")
        d.add_argument(
            "--secret-file",
            type=Path,
            required=True,
            help="the cluster's shared secret (the same file for the driver)",
        )
        d.add_argument(
            "--state",
            type=Path,
            default=None,
            help="conf, work and scratch dirs (default ~/.bf16perf/ROLE-HOST)",
        )
        d.set_defaults(run=run)
    m.add_argument("--port", type=int, default=7077)
    w.add_argument("--master", required=True, help="spark://HOST:PORT")
    pin = w.add_mutually_exclusive_group(required=True)
    pin.add_argument("--cpus", help="pin to this CPU list (taskset), e.g. 0-11")
    pin.add_argument("--numa-node", type=int, help="pin to this NUMA node (numactl)")
    w.add_argument("--memory", default="2g", help="memory offered to executors")


def run(args: argparse.Namespace) -> int:
    """The daemon's exit code; one that cannot start is an input error, named."""
    from bf16perf.cluster.hosts import (
        DaemonError,
        check_port_free,
        master_spec,
        read_secret,
        worker_spec,
    )
    from bf16perf.cluster.hosts import run as run_daemon

    try:
        secret = read_secret(args.secret_file)
        state = args.state or Path.home() / ".bf16perf" / f"{args.command}-{args.host}"
        if args.command == "master":
            check_port_free(args.host, args.port)
            spec = master_spec(args.host, args.port, secret, state)
        else:
            spec = worker_spec(
                args.master, args.host, secret, state, args.cpus, args.numa_node, args.memory
            )
        return run_daemon(spec)
    except DaemonError as exc:
        raise InputError(str(exc)) from None
