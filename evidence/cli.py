"""The `evidence` command: refresh, build-default, import. Errors are translated here only.

Exit codes: 0 success; 1 the run failed (the store is left exactly as before); 2 bad usage or
configuration (with the reason).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from .errors import ConfigError, EvidenceError
from .settings import load_settings


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2026-11-01, got {text!r}") from None


def _claims(text: str) -> tuple[str, ...]:
    ids = tuple(c.strip().upper() for c in text.split(",") if c.strip())
    if not ids:
        raise argparse.ArgumentTypeError("expected claim ids like C03,C12")
    return ids


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="evidence",
        description="Evidence tracker: refresh PubMed evidence, import, review verdicts.",
        epilog="Exit codes: 0 success, 1 failed (store unchanged), 2 bad usage or configuration.",
    )
    ap.add_argument("--data-dir", type=Path, help="data directory (store, cache, reports)")
    ap.add_argument(
        "--config", type=Path, help="TOML config file (default: DATA_DIR/evidence.toml)"
    )
    sub = ap.add_subparsers(dest="command", required=True)

    r = sub.add_parser("refresh", help="search PubMed, fetch new and due records, grade, report")
    r.add_argument("--offline", action="store_true", help="answer only from the HTTP cache")
    r.add_argument("--full", action="store_true", help="search everything, not only since last run")
    r.add_argument("--since", type=_date, help="Entrez-date window start (YYYY-MM-DD)")
    r.add_argument("--claims", type=_claims, default=(), help="only these claims, e.g. C03,C12")
    r.add_argument("--dry-run", action="store_true", help="do everything but write the store")
    r.add_argument(
        "--data-dir", type=Path, dest="sub_data_dir", metavar="DIR", help="data directory"
    )

    b = sub.add_parser("build-default", help="build the store from the embedded curated evidence")
    b.add_argument(
        "--data-dir", type=Path, dest="sub_data_dir", metavar="DIR", help="data directory"
    )

    v = sub.add_parser("verdicts", help="print claim -> verdict -> deciding PMIDs")
    v.add_argument("--why", action="store_true", help="also print each verdict's explanation")
    v.add_argument(
        "--data-dir", type=Path, dest="sub_data_dir", metavar="DIR", help="data directory"
    )

    sub.add_parser("add-editor", help="add or reset a dashboard editor (see add-editor --help)")

    i = sub.add_parser("import", help="import curated evidence (.jsonl/.csv) or a PubMed .nbib")
    i.add_argument("file", type=Path)
    i.add_argument(
        "--data-dir", type=Path, dest="sub_data_dir", metavar="DIR", help="data directory"
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["add-editor"]:
        from .add_editor import main as add_editor

        return add_editor(argv[1:])
    args = parser().parse_args(argv)
    data_dir = getattr(args, "sub_data_dir", None) or args.data_dir
    try:
        overrides = {"data_dir": data_dir}
        if getattr(args, "offline", False):
            overrides["offline"] = True
        settings = load_settings(overrides, config_file=args.config)
        if args.command == "refresh":
            if args.full and args.since:
                raise ConfigError("since", "--since and --full exclude each other")
            return _refresh(settings, args)
        if args.command == "build-default":
            from .pipeline import build_default_store

            store = build_default_store(settings.data_dir, settings.store_dir)
            print(f"default store ready at {store.root} (version {store.version})")
            return 0
        if args.command == "verdicts":
            return _verdicts(settings, args.why)
        if args.command == "import":
            from .imports import import_file

            print(import_file(settings, args.file, actor="cli import"))
            return 0
    except ConfigError as exc:
        print(f"evidence: configuration error: {exc}", file=sys.stderr)
        return 2
    except EvidenceError as exc:
        print(f"evidence: failed: {exc}", file=sys.stderr)
        return 1
    return 2


def _verdicts(settings, why: bool) -> int:
    from .store import Store
    from .verdict import grade_claims

    snap = Store.open(settings.store_dir).snapshot()
    verdicts = grade_claims(snap["claims"], snap["links"], snap["records"], snap["tags"])
    print(f"{'claim':<6} {'verdict':<16} {'score':>5}  deciding studies (PMID design/level stance)")
    for v in verdicts.values():
        deciding = ", ".join(
            f"{d.pmid} {d.design}/L{d.effective_level} {d.stance}"
            + (" (suggested)" if d.stance_origin == "suggested" else "")
            for d in v.deciding
        )
        flag = f"  RETRACTED cited: {', '.join(v.cites_retracted)}" if v.cites_retracted else ""
        print(f"{v.claim_id:<6} {v.grade:<16} {v.score:>5}  {deciding or '-'}{flag}")
        if why:
            print(f"{'':<6} why: {v.why}")
    return 0


def _refresh(settings, args: argparse.Namespace) -> int:
    from .refresh import RefreshOptions, run_refresh

    options = RefreshOptions(
        full=args.full, since=args.since, claims=args.claims, dry_run=args.dry_run
    )
    report = run_refresh(settings, options)
    print(
        f"refresh {report.run_id}: {report.status}; {report.new_records} new, "
        f"{report.updated_records} changed, {len(report.alerts)} alerts, "
        f"{len(report.verdict_changes)} verdict changes; {report.network_requests} network "
        f"requests ({report.cache_hits} cache hits) in {report.duration_s:.1f} s"
    )
    print(f"report: {settings.data_dir / 'reports' / f'refresh-{report.run_id}.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
