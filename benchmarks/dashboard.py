"""Dashboard cost against store size: first render of the overview and of a claim page.

For each size a store is built from the PubMed fixture records copied with synthetic PMIDs
(900000000+, never shown to users) plus the curated corpus, tagged, linked by relevance and
graded. Then, in a fresh process per size (so peak memory is the dashboard's alone), Streamlit's
AppTest renders the overview cold (store opened, claims graded, caches empty), again warm, and
the page of the claim with the most linked studies. Figures go to stdout and to
/work/notes/dashboard_report.md (or --report PATH).

Run: /work/venv/bin/python benchmarks/dashboard.py [sizes...]   (default: 1000 10000 100000)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evidence.claims import claims_frame, load_claims  # noqa: E402
from evidence.curated import read_curated  # noqa: E402
from evidence.pipeline import run_row  # noqa: E402
from evidence.relevance import DEFAULT_THRESHOLD, candidate_links, score_relevance  # noqa: E402
from evidence.schema import CLAIMS, LINKS, RECORDS, TAGS  # noqa: E402
from evidence.store import Store  # noqa: E402
from evidence.verdict import grade_claims, verdicts_frame  # noqa: E402
from tests.conftest import SHARED  # noqa: E402
from tests.fixture_records import pubmed_fixture_records  # noqa: E402

SYNTHETIC_PMID_BASE = 900_000_000
APP = REPO / "dashboards" / "app.py"
NOW = pd.Timestamp("2026-11-26", tz="UTC")


def build_store(n: int, root: Path) -> tuple[float, int]:
    """A store of ``n`` synthetic + 67 curated records under ``root/store``; (seconds, links)."""
    t0 = time.perf_counter()
    base = pubmed_fixture_records(SHARED)
    registry = load_claims(REPO / "data" / "claims.yaml")
    claims = claims_frame(registry)
    curated = read_curated(
        REPO / "data" / "corpus" / "curated_evidence.jsonl", registry.claim_ids, now=NOW
    )
    reps = -(-n // len(base))
    synth = pd.concat([base] * reps, ignore_index=True).iloc[:n].copy()
    synth["pmid"] = [str(SYNTHETIC_PMID_BASE + i) for i in range(n)]
    synth["source"] = "efetch"
    records = pd.concat([synth, curated.records], ignore_index=True)
    records = records.assign(
        origin=records["source"], first_seen_run="bench", last_seen_run="bench", last_checked=NOW
    )
    from evidence.tagging import tag_records

    tags = tag_records(records, curator_tags=curated.tags)
    scores = score_relevance(records, claims, {k: t.query for k, t in registry.topics.items()})
    new = candidate_links(scores, curated.links, DEFAULT_THRESHOLD, run_id="bench", now=NOW)
    links = LINKS.conform(
        pd.concat([curated.links, new], ignore_index=True).drop_duplicates(
            ["claim_id", "pmid"], keep="first"
        )
    )
    verdicts = grade_claims(claims, links, records, tags, as_of=date(2026, 11, 26))
    store = Store.create(root / "store")
    frames = {
        "records": RECORDS.conform(records),
        "tags": TAGS.conform(tags),
        "claims": CLAIMS.conform(claims),
        "links": links,
        "verdicts": verdicts_frame(verdicts, "bench", NOW.to_pydatetime()),
        "runs": run_row("bench", NOW, NOW, mode="benchmark", new_records=len(records)),
    }
    store.update(lambda _snap: frames, actor="benchmark")
    for name in ("claims.yaml", "content"):
        (root / name).symlink_to(REPO / "data" / name)
    return time.perf_counter() - t0, len(links)


def measure(data_dir: Path) -> dict[str, float]:
    """Render timings in this (fresh) process; run via ``--measure``."""
    from streamlit.testing.v1 import AppTest

    os.environ["EVIDENCE_DATA_DIR"] = str(data_dir)
    links = Store.open(data_dir / "store").read("links")
    busiest = links["claim_id"].value_counts().idxmax()
    out: dict[str, float] = {"claim_links": int(links["claim_id"].eq(busiest).sum())}

    t0 = time.perf_counter()
    at = AppTest.from_file(str(APP), default_timeout=600)
    at.run()
    out["overview_cold_s"] = time.perf_counter() - t0
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.dataframe[0].value) > 0

    t0 = time.perf_counter()
    at.run()
    out["overview_warm_s"] = time.perf_counter() - t0

    at.session_state["claim_id"] = busiest
    t0 = time.perf_counter()
    at.switch_page("app_pages/claim.py")
    at.run()
    out["claim_page_s"] = time.perf_counter() - t0
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.dataframe[0].value) == out["claim_links"]
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def peak_rss_mib() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: on Linux ru_maxrss survives
    fork + exec, so a child would report the (store-building) parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1_000, 10_000, 100_000])
    parser.add_argument("--report", type=Path, default=Path("/work/notes/dashboard_report.md"))
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return

    rows = []
    with tempfile.TemporaryDirectory(prefix="dashboard-bench-") as tmp:
        for n in args.sizes:
            root = Path(tmp) / str(n)
            root.mkdir()
            build_s, n_links = build_store(n, root)
            proc = subprocess.run(
                [sys.executable, __file__, "--measure", str(root)],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode:
                raise SystemExit(f"measuring n={n} failed:\n{proc.stderr[-3000:]}")
            m = json.loads(proc.stdout.strip().splitlines()[-1])
            row = {"records": n + 67, "links": n_links, "build_s": build_s, **m}
            rows.append(row)
            print(
                f"{row['records']:>7} records, {n_links:>6} links: overview cold "
                f"{m['overview_cold_s']:.2f}s warm {m['overview_warm_s']:.2f}s; claim page "
                f"({m['claim_links']} studies) {m['claim_page_s']:.2f}s; peak RSS "
                f"{m['peak_rss_mib']:.0f} MiB (store build {build_s:.0f}s)",
                flush=True,
            )
    table = pd.DataFrame(rows)
    lines = [
        "# Dashboard benchmark",
        "",
        f"`/work/venv/bin/python benchmarks/dashboard.py {' '.join(map(str, args.sizes))}` "
        f"({time.strftime('%Y-%m-%d')}, 2-core shared machine). Synthetic stores from the PubMed "
        "fixtures (PMIDs 900000000+) plus the 67 curated records; AppTest in a fresh process.",
        "",
        "| records | links | overview cold (s) | overview warm (s) | claim page (s) "
        "| studies on claim page | peak RSS (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['records']:,} | {r['links']:,} | {r['overview_cold_s']:.2f} | "
            f"{r['overview_warm_s']:.2f} | {r['claim_page_s']:.2f} | {r['claim_links']:,} | "
            f"{r['peak_rss_mib']:.0f} |"
        )
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        size = b["records"] / a["records"]
        lines += [
            "",
            f"Growth {a['records']:,} -> {b['records']:,} records (x{size:.0f}): overview cold "
            f"x{b['overview_cold_s'] / a['overview_cold_s']:.1f}, claim page "
            f"x{b['claim_page_s'] / a['claim_page_s']:.1f}, peak RSS "
            f"x{b['peak_rss_mib'] / a['peak_rss_mib']:.1f}.",
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text, encoding="utf-8")
    del table


if __name__ == "__main__":
    main()
