"""Which alert went where: the delivery ledger, ``<data_dir>/alerts/ledger.json``.

One entry per target (``email:<address>`` or ``webhook``): the keys delivered (with when) and
the items whose delivery failed, kept whole so the next run retries them even when its own digest
no longer contains them. A JSON file beside the store, not a store table: it changes with every
delivery, is not evidence, and must not need a schema migration. Written whole to a temporary
file then renamed, under a file lock that a concurrent ``evidence notify`` also takes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock

from .errors import ParseError

LEDGER_VERSION = 1


def ledger_path(data_dir: Path) -> Path:
    return data_dir / "alerts" / "ledger.json"


def read_ledger(path: Path) -> dict[str, Any]:
    """The ledger, or an empty one; a damaged file is an error naming it, never silently reset
    (resetting would send every alert again)."""
    if not path.exists():
        return {"version": LEDGER_VERSION, "targets": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ParseError(
            str(path),
            f"the alert ledger cannot be read ({exc}); fix or move it "
            "(a missing ledger means every current alert is sent again)",
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("targets"), dict):
        raise ParseError(str(path), "the alert ledger is not an object with 'targets'")
    return data


def target_state(ledger: dict[str, Any], target: str) -> dict[str, Any]:
    state = ledger["targets"].setdefault(target, {})
    state.setdefault("delivered", {})
    state.setdefault("pending", {})
    state.setdefault("last_error", "")
    return state


def write_ledger(path: Path, ledger: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(ledger, fh, indent=1, sort_keys=True, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def locked_ledger(data_dir: Path, timeout: float = 600.0) -> Iterator[dict[str, Any]]:
    """The ledger for reading and changing; saved on leaving (also after an error, so what
    was already sent stays recorded)."""
    path = ledger_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.with_suffix(".lock")), timeout=timeout):
        ledger = read_ledger(path)
        try:
            yield ledger
        finally:
            write_ledger(path, ledger)
