"""Tagging + relevance + verdicts for all claims over 10k and 100k synthetic records.

Records are the PubMed fixture records copied with new synthetic PMIDs (never shown to users);
links are the curated corpus's curator links plus every candidate link above the threshold.
Prints seconds and records/s per stage, and the 100k/10k time ratio (linear growth = 10).

Run: /work/venv/bin/python benchmarks/grading.py [sizes...]   (default: 10000 100000)
"""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evidence.claims import claims_frame, load_claims  # noqa: E402
from evidence.curated import read_curated  # noqa: E402
from evidence.relevance import DEFAULT_THRESHOLD, candidate_links, score_relevance  # noqa: E402
from evidence.schema import LINKS  # noqa: E402
from evidence.tagging import tag_records  # noqa: E402
from evidence.verdict import grade_claims  # noqa: E402
from tests.conftest import SHARED  # noqa: E402
from tests.fixture_records import pubmed_fixture_records  # noqa: E402

SYNTHETIC_PMID_BASE = 900_000_000  # far above real PMIDs


def synthetic_records(base: pd.DataFrame, n: int) -> pd.DataFrame:
    reps = -(-n // len(base))
    out = pd.concat([base] * reps, ignore_index=True).iloc[:n].copy()
    out["pmid"] = [str(SYNTHETIC_PMID_BASE + i) for i in range(n)]
    return out


def run(n: int, base: pd.DataFrame, claims: pd.DataFrame, curated) -> dict[str, float]:
    records = pd.concat([synthetic_records(base, n), curated.records], ignore_index=True)
    t = {}
    t0 = time.perf_counter()
    tags = tag_records(records, curator_tags=curated.tags)
    t["tagging"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = score_relevance(records, claims)
    new = candidate_links(scores, curated.links, DEFAULT_THRESHOLD)
    links = pd.concat([curated.links, new], ignore_index=True).drop_duplicates(
        ["claim_id", "pmid"], keep="last"
    )
    t["relevance"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    verdicts = grade_claims(claims, LINKS.conform(links), records, tags, as_of=date(2026, 1, 1))
    t["verdicts"] = time.perf_counter() - t0
    t["total"] = sum(t.values())
    print(
        f"n={len(records):>7}: "
        + "  ".join(f"{k} {v:6.2f}s" for k, v in t.items())
        + f"  -> {len(records) / t['total']:,.0f} records/s; {len(links):,} links, "
        f"{len(verdicts)} verdicts"
    )
    return t


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 100_000]
    base = pubmed_fixture_records(SHARED)
    registry = load_claims(REPO / "data" / "claims.yaml")
    claims = claims_frame(registry)
    curated = read_curated(SHARED / "corpus" / "curated_evidence.jsonl", registry.claim_ids)
    results = {n: run(n, base, claims, curated) for n in sizes}
    if len(sizes) >= 2:
        a, b = sizes[0], sizes[-1]
        ratio = results[b]["total"] / results[a]["total"]
        print(f"time ratio {b}/{a} records: {ratio:.1f} (size ratio {b / a:.0f})")


if __name__ == "__main__":
    main()
