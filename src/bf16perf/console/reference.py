"""``bf16perf reference create|list|remove``: the reference stacks a paired nightly runs
against (:mod:`bf16perf.store.references`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bf16perf.console._common import InputError

__all__ = ["add", "run"]


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ref = sub.add_parser(
        "reference",
        help="create, list or remove the pinned reference stacks of the paired nightly",
    )
    ref.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where references are kept (default: $BF16PERF_STATE/references, else"
        " ~/.local/share/bf16perf/references; a session's --perf-references)",
    )
    verbs = ref.add_subparsers(dest="verb", required=True)
    create = verbs.add_parser(
        "create",
        help="an isolated environment pinned from this one (default) or from a requirements"
        " or lock file; kept only when it imports the worker and its kernels are proven",
    )
    create.add_argument(
        "name", help="its name: letters, digits, ., _ or -, as --perf-reference takes it"
    )
    create.add_argument(
        "--requirements",
        type=Path,
        default=None,
        metavar="FILE",
        help="pins to install (e.g. the last release's lock file); default: this"
        " environment's installed distributions, frozen",
    )
    create.add_argument(
        "--python",
        default=sys.executable,
        help="the interpreter whose environment is frozen, and whose Python the reference"
        " uses (default: this one)",
    )
    verbs.add_parser("list", help="each reference with its versions and age")
    remove = verbs.add_parser("remove", help="remove one reference")
    remove.add_argument("name", help="the reference to remove (bf16perf reference list)")
    ref.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bf16perf.console.reference_create import create_reference
    from bf16perf.store.references import (
        ReferenceError,
        default_references_dir,
        list_references,
        remove_reference,
    )

    root: Path = args.dir or default_references_dir()
    try:
        if args.verb == "create":
            stack = create_reference(
                args.name,
                root=root,
                requirements=args.requirements,
                python=args.python,
                log=lambda line: print(f"  {line}", flush=True),
            )
            print(f"reference {stack.name} kept in {stack.path}")
            print(f"  {_versions(stack.versions)}")
            print(f"  kernel proof: {stack.proof}")
            print(f"use it: pytest perf/ --perf-reference {stack.name}")
            return 0
        if args.verb == "remove":
            print(f"removed {remove_reference(args.name, root)}")
            return 0
    except ReferenceError as exc:
        raise InputError(str(exc)) from None
    found = list_references(root)
    if not found:
        print(f"no references in {root}; create one: bf16perf reference create NAME")
        return 0
    for stack in found:
        age = stack.age_days()
        print(f"{stack.name}  {age:.1f} days old  {_versions(stack.versions)}")
        print(f"    from {stack.source}; proof: {stack.proof}")
    return 0


def _versions(versions: dict[str, str]) -> str:
    order = ("python", "tensorflow", "onednn", "numpy", "torch")
    keys = [k for k in order if k in versions] + sorted(set(versions) - set(order))
    return ", ".join(f"{k} {versions[k]}" for k in keys)
