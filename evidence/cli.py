"""The `evidence` command: refresh, notify, build-default, store check/rollback, import, verdicts.

Errors are translated here only.

Exit codes: 0 success; 1 the run failed (the store is left exactly as before); 2 bad usage or
configuration (with the reason).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from datetime import date
from pathlib import Path

from .errors import ConfigError, EvidenceError
from .labels import count
from .settings import load_settings
from .store_cli import (
    add_build_default_options,
    add_store_commands,
    run_build_default,
    run_store_command,
)


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
    ap.add_argument("--debug", action="store_true", help="print a traceback when something fails")
    sub = ap.add_subparsers(dest="command", required=True)

    r = sub.add_parser("refresh", help="search PubMed, fetch new and due records, grade, report")
    r.add_argument("--offline", action="store_true", help="answer only from the HTTP cache")
    r.add_argument("--full", action="store_true", help="search everything, not only since last run")
    r.add_argument("--since", type=_date, help="Entrez-date window start (YYYY-MM-DD)")
    r.add_argument("--claims", type=_claims, default=(), help="only these claims, e.g. C03,C12")
    r.add_argument("--dry-run", action="store_true", help="do everything but write the store")
    r.add_argument(
        "--allow-partial",
        action="store_true",
        help="keep what PubMed returned when some PMIDs are missing (named in the report)",
    )
    r.add_argument(
        "--data-dir", type=Path, dest="sub_data_dir", metavar="DIR", help="data directory"
    )

    b = sub.add_parser("build-default", help="build the store from the embedded curated evidence")
    b.add_argument(
        "--data-dir", type=Path, dest="sub_data_dir", metavar="DIR", help="data directory"
    )
    add_build_default_options(b)

    v = sub.add_parser("verdicts", help="print claim -> verdict, direction, certainty, why")
    out = v.add_mutually_exclusive_group()
    out.add_argument("--why", action="store_true", help="the plain-language why, then details")
    out.add_argument(
        "--json", action="store_const", const="json", dest="why", help="one JSON object per claim"
    )
    v.add_argument(
        "--data-dir", type=Path, dest="sub_data_dir", metavar="DIR", help="data directory"
    )

    w = sub.add_parser(
        "check-wording",
        help="flag claims worded more strongly than their evidence; exit 1 when any is flagged",
    )
    w.add_argument("post", nargs="?", help="post file or name in DATA_DIR/content (default: all)")
    w.add_argument("--as", dest="claims_of", metavar="NAME", help="check POST against NAME's")
    w.add_argument(
        "--data-dir", type=Path, dest="sub_data_dir", metavar="DIR", help="data directory"
    )

    n = sub.add_parser("notify", help="send the latest refresh's alerts, or a test message")
    mode = n.add_mutually_exclusive_group()
    mode.add_argument("--test", action="store_true", help="a test message through every channel")
    mode.add_argument("--dry-run", action="store_true", help="print the digest, send nothing")
    n.add_argument(
        "--data-dir", type=Path, dest="sub_data_dir", metavar="DIR", help="data directory"
    )

    sub.add_parser("add-editor", help="add or reset a dashboard editor (see add-editor --help)")

    i = sub.add_parser("import", help="import curated evidence (.jsonl/.csv) or a PubMed .nbib")
    i.add_argument("file", type=Path)
    i.add_argument(
        "--data-dir", type=Path, dest="sub_data_dir", metavar="DIR", help="data directory"
    )
    add_store_commands(sub)

    br = sub.add_parser("brief", help="a claim's evidence brief: verdict, why, cited studies")
    br.add_argument("claim", help="claim id, e.g. C03")
    br.add_argument("--format", choices=("md", "html"), default="md", help="default: md")
    br.add_argument("--style", choices=("ama", "vancouver"), default="ama", help="default: ama")
    br.add_argument(
        "--data-dir", type=Path, dest="sub_data_dir", metavar="DIR", help="data directory"
    )
    cp = sub.add_parser("cite-post", help="a post with numbered citations and claims to review")
    cp.add_argument("post", help="a file name in DATA_DIR/content, or a path to a post")
    cp.add_argument("--format", choices=("md", "html"), default="md", help="default: md")
    cp.add_argument("--style", choices=("ama", "vancouver"), default="ama", help="default: ama")
    cp.add_argument(
        "--data-dir", type=Path, dest="sub_data_dir", metavar="DIR", help="data directory"
    )
    ci = sub.add_parser("cite", help="print stored records as references or an export file")
    ci.add_argument("pmids", nargs="+", metavar="PMID")
    ci.add_argument(
        "--style",
        choices=("ama", "vancouver", "ris", "bibtex", "csl-json", "csv"),
        default="ama",
        help="default: ama",
    )
    ci.add_argument(
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
        args._settings = settings
        if args.command == "refresh":
            if args.full and args.since:
                raise ConfigError("since", "--since and --full exclude each other")
            return _refresh(settings, args)
        if args.command == "notify":
            return _notify(settings, args)
        if args.command == "build-default":
            return run_build_default(settings, args)
        if args.command == "store":
            return run_store_command(settings, args)
        if args.command == "verdicts":
            return _verdicts(settings, args.why)
        if args.command == "check-wording":
            return _check_wording(settings, args.post, args.claims_of)
        if args.command in ("brief", "cite-post", "cite"):
            return {"brief": _brief, "cite-post": _cite_post, "cite": _cite}[args.command](
                settings, args
            )
        if args.command == "import":
            from .imports import import_file

            print(import_file(settings, args.file, actor="cli import"))
            return 0
    except ConfigError as exc:
        _fail(args, f"configuration error: {exc}", exc)
        return 2
    except EvidenceError as exc:
        _fail(args, f"failed: {exc}", exc)
        return 1
    except Exception as exc:  # anything else is still one line (a traceback with --debug)
        _fail(args, f"failed: unexpected {type(exc).__name__}: {exc}", exc)
        return 1
    return 2


def _fail(args: argparse.Namespace, message: str, exc: BaseException) -> None:
    """One redacted line on stderr; the traceback only when asked for."""
    from .pubmed import redact

    settings = getattr(args, "_settings", None)
    if args.debug:
        traceback.print_exception(exc, file=sys.stderr)
    line = " ".join(message.split())
    print(f"evidence: {redact(line, settings) if settings else line}", file=sys.stderr)


def _verdicts(settings, why: bool | str) -> int:
    """The review table; ``why`` True adds the why (plain lines first), "json" prints JSON."""
    import json

    from .pipeline import registry_for
    from .store import Store
    from .views import current_verdicts

    snap = Store.open(settings.store_dir).snapshot()
    registry = (
        registry_for(settings.data_dir) if (settings.data_dir / "claims.yaml").is_file() else None
    )
    verdicts = current_verdicts(snap, registry=registry)  # reads only the linked records
    if why == "json":
        print(json.dumps([_verdict_json(v) for v in verdicts.values()], indent=2))
        return 0
    print(f"{'claim':<6} {'verdict':<18} {'direction':<12} {'certainty':<10} deciding studies")
    for v in verdicts.values():
        deciding = ", ".join(
            f"{d.pmid} {d.design}{'' if d.direct else ' (indirect)'} {d.stance}" for d in v.deciding
        )
        flags = [f"RETRACTED cited: {', '.join(v.cites_retracted)}"] if v.cites_retracted else []
        flags += ["NEEDS REVIEW"] if v.needs_review else []
        flag = f"  {'; '.join(flags)}" if flags else ""
        head = f"{v.claim_id:<6} {v.grade:<18} {v.direction:<12} {v.certainty:<10}"
        print(f"{head} {deciding or '-'}{flag}")
        if why:
            print(f"{'':<6} why: {' '.join(v.plain)}")
            for line in v.details:
                print(f"{'':<6}   {line}")
    if why:
        from .levels import load_rubric
        from .why import levels_legend

        print(levels_legend(load_rubric()))
    return 0


def _check_wording(settings, post: str | None, claims_of: str | None) -> int:
    """Each claim's wording against its verdict: the editor's pre-publish check (1 = flagged)."""
    from .wording import check_data_dir, format_checks

    results = check_data_dir(settings.data_dir, settings.store_dir, post, claims_of=claims_of)
    for name, checks in results:
        print("\n".join(format_checks(name, checks)))
    return 1 if any(c.flagged for _, checks in results for c in checks) else 0


def _verdict_json(v) -> dict:
    def study(d) -> dict:
        return {
            "pmid": d.pmid,
            "design": d.design,
            "level": d.level,
            "n": d.sample_size,
            "year": d.year,
            "direct": d.direct,
            "indirect_because": d.indirect_because,
            "stance": d.stance,
            "origin": d.stance_origin,
        }

    return {
        "id": v.claim_id,
        "grade": v.grade,
        "direction": v.direction,
        "certainty": v.certainty,
        "certainty_reasons": list(v.certainty_reasons),
        "score": v.score,
        "needs_review": v.needs_review,
        "suggested_awaiting_review": v.suggested,
        "why": " ".join(v.plain),
        "details": list(v.details),
        "parts": [
            {
                "id": p.part_id,
                "statement": p.statement,
                "grade": p.grade,
                "direction": p.direction,
                "certainty": p.certainty,
                "why": " ".join(p.plain),
                "deciding": [study(d) for d in p.deciding],
            }
            for p in v.parts
        ],
        "deciding": [study(d) for d in v.deciding],
    }


def _published_inputs(settings):
    """The store snapshot and every claim's verdict, graded as the dashboard grades them."""
    from .store import Store
    from .views import current_verdicts, load_registry

    snap = Store.open(settings.store_dir).snapshot()
    return snap, current_verdicts(snap, registry=load_registry(settings.data_dir))


def _brief(settings, args: argparse.Namespace) -> int:
    """`evidence brief C03`: the claim's evidence brief on stdout (exit 1: unknown claim)."""
    from .brief import build_brief, render_brief

    snap, verdicts = _published_inputs(settings)
    claim_id = args.claim.strip().upper()
    if claim_id not in verdicts:
        known = ", ".join(sorted(verdicts)) or "none"
        print(f"evidence: unknown claim {claim_id!r} (known: {known})", file=sys.stderr)
        return 1
    brief = build_brief(snap, verdicts, claim_id, style=args.style)
    print(render_brief(brief, args.format), end="")
    return 0


def _cite_post(settings, args: argparse.Namespace) -> int:
    """`evidence cite-post POST`: the post with references on stdout (exit 1: no such post)."""
    from .cited_post import cite_post, render_post
    from .content import list_posts, read_post

    content_dir = settings.data_dir / "content"
    path = Path(args.post)
    if not path.is_file():
        path = content_dir / args.post
    if not path.is_file():
        posts = ", ".join(list_posts(content_dir)) or "none"
        print(
            f"evidence: no post {args.post!r}: not a file, nor in {content_dir} (posts: {posts})",
            file=sys.stderr,
        )
        return 1
    snap, verdicts = _published_inputs(settings)
    cited = cite_post(snap, verdicts, read_post(path), style=args.style)
    print(render_post(cited, args.format), end="")
    return 0


def _cite(settings, args: argparse.Namespace) -> int:
    """`evidence cite PMID ...`: references or an export of stored records (exit 1 names PMIDs
    the store lacks)."""
    from .citations import EXPORTS, export, format_references, stored_records
    from .store import Store

    pmids = list(dict.fromkeys(p.strip() for p in args.pmids if p.strip()))
    records = stored_records(Store.open(settings.store_dir).snapshot(), pmids)
    missing = [p for p in pmids if p not in set(records["pmid"])]
    if missing:
        print(f"evidence: not in the store: PMID {', '.join(missing)}", file=sys.stderr)
        return 1
    if args.style in ("ama", "vancouver"):
        for reference in format_references(records, args.style):
            print(reference)
        return 0
    fmt = {name.lower(): name for name in EXPORTS}[args.style]
    print(export(records, fmt)[0], end="")
    return 0


def _refresh(settings, args: argparse.Namespace) -> int:
    from .refresh import RefreshFailed, RefreshOptions, report_path, run_refresh

    options = RefreshOptions(
        full=args.full,
        since=args.since,
        claims=args.claims,
        dry_run=args.dry_run,
        allow_partial=args.allow_partial,
    )
    try:
        report = run_refresh(settings, options)
    except RefreshFailed as exc:
        _alert_failures(exc.report.alert_failures)
        print(f"report: {report_path(settings.data_dir, exc.report.run_id, 'md')}", file=sys.stderr)
        raise
    _alert_failures(report.alert_failures)
    if report.missing_pmids:
        print(
            f"evidence: partial: {len(report.missing_pmids)} PMIDs not returned by PubMed "
            "(named in the report); the next run asks for them again",
            file=sys.stderr,
        )
    print(
        f"refresh {report.run_id}: {report.status}; {report.new_records} new, "
        f"{report.updated_records} changed, {count(len(report.alerts), 'alert')}, "
        f"{count(len(report.verdict_changes), 'verdict change')}; "
        f"{count(report.network_requests, 'network request')} "
        f"({count(report.cache_hits, 'cache hit')}) in {report.duration_s:.1f} s"
    )
    print(f"report: {settings.data_dir / 'reports' / f'refresh-{report.run_id}.md'}")
    return 0


def _alert_failures(lines: list[str]) -> None:
    for line in lines:
        print(f"evidence: alert not delivered: {line}", file=sys.stderr)


def _notify(settings, args: argparse.Namespace) -> int:
    """`evidence notify`: --test sends a test message everywhere; otherwise the latest run's
    digest (and earlier failed alerts) goes out, or with --dry-run is printed. Exit 1 when a
    channel failed (the alerts stay pending)."""
    import json

    from .notify import deliver, digest_for_run, send_test, targets

    if not args.test:
        reports = sorted((settings.data_dir / "reports").glob("refresh-*.json"))
        if not reports:
            print(
                f"evidence: no refresh report in {settings.data_dir / 'reports'}", file=sys.stderr
            )
            return 1
        digest = digest_for_run(settings, json.loads(reports[-1].read_text(encoding="utf-8")))
        if args.dry_run:
            from .digest_render import render_text

            print(render_text(digest, digest.items, settings.dashboard_url), end="")
            return 0
    if not targets(settings):
        print(
            "evidence: no alert channel configured (alert_email_to or webhook_url; "
            "see README, Alerts)",
            file=sys.stderr,
        )
        return 2
    results = send_test(settings) if args.test else deliver(settings, digest)
    for result in results:
        print(result.describe(), file=sys.stderr if result.error else sys.stdout)
    if not results:
        print("nothing to send")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
