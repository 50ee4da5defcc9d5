"""`evidence store check|rollback` and `evidence build-default --force`: recovery from the shell.

Kept out of cli.py so the recovery commands live next to the code they drive. `cli.py` calls
`add_store_commands` / `add_build_default_options` while building its parser, and
`run_store_command` / `run_build_default` to run them; errors (`StoreError`) are left to its
usual translation (exit 1 with the message).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the store pulls in pandas and pyarrow: imported when a command runs
    from .settings import Settings
    from .store_check import FileCheck, StoreCheck

__all__ = [
    "add_build_default_options",
    "add_store_commands",
    "print_check",
    "run_build_default",
    "run_store_command",
]


def add_store_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add ``store check`` and ``store rollback`` to the `evidence` sub-command parsers."""
    store = subparsers.add_parser(
        "store", help="check the store's files, or roll back to the previous version"
    )
    sub = store.add_subparsers(dest="store_command", required=True, metavar="{check,rollback}")
    check = sub.add_parser(
        "check",
        help="verify every table file; exit 0 healthy, 1 damaged",
        description="Verify every table file the store's manifest names (present, unchanged, "
        "readable, right schema) and whether the previous version is intact. "
        "Exit 0 healthy, 1 damaged.",
    )
    rollback = sub.add_parser(
        "rollback",
        help="return to the previous committed version (as a new version)",
        description="Commit a new version made of the previous version's files, after checking "
        "them. Nothing is deleted: running it again returns to where you were.",
    )
    rollback.add_argument(
        "--actor", default="cli rollback", help="who rolls back (recorded in the manifest)"
    )
    for p in (check, rollback):
        p.add_argument(
            "--data-dir", type=Path, dest="sub_data_dir", metavar="DIR", help="data directory"
        )
    return store


def add_build_default_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--force`` to the ``build-default`` parser."""
    parser.add_argument(
        "--force",
        action="store_true",
        help="if the store is damaged, move it aside to store.damaged-<time> (kept, not "
        "deleted) and build a fresh one; a healthy store is left as it is",
    )


def run_store_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``evidence store ...``; returns the exit code."""
    from .store import Store

    store = Store(settings.store_dir)  # opens nothing: both commands must work on a damaged store
    if args.store_command == "check":
        return print_check(store.check())
    if args.store_command == "rollback":
        done = store.rollback(args.actor)
        print(
            f"rolled back {done.root}: version {done.from_version} -> version {done.to_version} "
            f"(the tables of version {done.restored_version})"
        )
        return 0
    raise ValueError(f"unknown store command {args.store_command!r}")


def run_build_default(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``evidence build-default [--force]``; returns the exit code."""
    from .pipeline import build_default_store  # slow to import (stance models): only when needed

    moved: list[Path] = []
    store = build_default_store(
        settings.data_dir,
        settings.store_dir,
        force=getattr(args, "force", False),
        on_set_aside=moved.append,
    )
    for path in moved:
        print(f"damaged store set aside (kept, not deleted): {path}")
    print(f"default store ready at {store.root} (version {store.version})")
    return 0


def print_check(result: StoreCheck) -> int:
    """One line per table file (ok or what is wrong), then what to do; 0 healthy, 1 damaged."""
    from .store import evidence_command

    root = result.root
    if not result.exists:
        print(
            f"{result.manifest_problem}: build one with {evidence_command(root, 'build-default')}"
        )
        return 1
    print(f"store {root}: version {result.version if result.version is not None else '?'}")
    if result.needs_upgrade:
        print(f"  {'manifest':<15} NEWER    {result.manifest_problem}")
        return 1
    if result.manifest_problem:
        print(f"  {'manifest':<15} DAMAGED  {result.manifest_problem}")
    for f in result.tables:
        print(f"  {f.name:<15} {_file_line(f)}")
    previous = result.previous_version
    if previous is not None and result.previous_intact:
        print(f"previous version {previous}: intact")
    elif previous is not None:
        print(f"previous version {previous}: not intact, a rollback would be refused")
        for problem in result.previous_problems:
            print(f"  {problem}")
    if result.healthy:
        print("healthy")
        return 0
    rebuild = evidence_command(root, "build-default --force")
    if previous is not None and result.previous_intact:
        advice = (
            f"return to version {previous} with {evidence_command(root, 'store rollback')}, "
            f"or set the store aside and rebuild from the bundled data with {rebuild}"
        )
    else:
        advice = f"set the store aside (kept) and rebuild from the bundled data with {rebuild}"
    count = len(result.problems)
    print(f"DAMAGED ({count} problem{'' if count == 1 else 's'}): {advice}")
    return 1


def _file_line(f: FileCheck) -> str:
    if not f.ok:
        return f"DAMAGED  {f.path}: {f.problem}"
    checksum = "checksum ok" if f.checksum_verified else "no checksum recorded"
    rows = f"{f.rows} row" + ("" if f.rows == 1 else "s")
    return f"ok       {f.path} ({rows}, {checksum})"
