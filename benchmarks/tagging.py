"""Agreement of text-rule design tags with PubMed publication types.

For every PubMed fixture record (efetch XML and MEDLINE exports in ../shared/fixtures), the
publication types are hidden, the design is predicted from title and abstract by the text rules
alone, and compared with the design PubMed's publication types map to ("none" when they name no
design, e.g. only "Journal Article"). Only MEDLINE-indexed records count: for In-Process or
PubMed-not-MEDLINE records the publication types are not (yet) an indexer's judgement. PubMed's
"Observational Study" does not say which kind, so cohort, case-control and cross-sectional all
agree with it. The fixture records are few and off-topic: n is reported.

A second, larger check on the clinic's own topic: the 67 curated records (data/corpus) carry a
curator's design read from the abstract but only the title is stored, so the text rules see the
title alone. Reported: how often a title lets the rules name a design at all (coverage), and how
often that design is the curator's (precision).

Run: /work/venv/bin/python benchmarks/tagging.py
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evidence.curated import read_curated  # noqa: E402
from evidence.tagging import design_from_publication_types, design_from_text  # noqa: E402
from tests.conftest import SHARED  # noqa: E402
from tests.fixture_records import pubmed_fixture_records  # noqa: E402

OBSERVATIONAL = ("cohort", "case-control", "cross-sectional")


def main() -> None:
    records = pubmed_fixture_records(SHARED)
    pairs = []
    skipped = 0
    for row in records.itertuples():
        if row.citation_status != "MEDLINE":
            skipped += 1
            continue
        truth = design_from_publication_types(list(row.publication_types))
        text = design_from_text(row.title or "", row.abstract or "")
        t = truth[0] if truth else "none"
        p = text[0] if text else "none"
        if truth and truth[1] == "Observational Study" and p in OBSERVATIONAL:
            t = p
        pairs.append((t, p, row.pmid))
    print(f"PubMed fixture records: {len(records)}; not MEDLINE-indexed, left out: {skipped}")
    n = len(pairs)
    agree = sum(t == p for t, p, _ in pairs)
    with_design = [(t, p) for t, p, _ in pairs if t != "none"]
    print(f"records with publication types and text: n = {n}")
    print(f"agreement (design or 'none'): {agree}/{n} = {agree / n:.3f}")
    if with_design:
        hit = sum(t == p for t, p in with_design)
        print(f"agreement where PubMed names a design: {hit}/{len(with_design)}")
    print("\nconfusion (publication-type design -> text-rule design): count")
    for (t, p), c in sorted(Counter((t, p) for t, p, _ in pairs).items()):
        print(f"  {t:<20} -> {p:<20} {c}")
    print("\ndisagreements:")
    for t, p, pmid in pairs:
        if t != p:
            print(f"  PMID {pmid}: publication types say {t!r}, text rules say {p!r}")
    curated_titles()


def curated_titles() -> None:
    corpus = read_curated(
        REPO / "data/corpus/curated_evidence.jsonl", {f"C{i:02d}" for i in range(1, 18)}
    )
    truth = curated_designs(corpus.tags)
    fired = []
    for row in corpus.records.itertuples():
        guess = design_from_text(row.title or "", "")
        if guess and row.pmid in truth:
            fired.append((truth[row.pmid], guess[0], row.pmid))
    n = len(corpus.records)
    right = sum(t == p for t, p, _ in fired)
    share = f"{len(fired)} ({len(fired) / n:.0%})"
    print(f"\ncurated records, title only: n = {n}; a design named for {share}")
    if fired:
        print(f"precision where named: {right}/{len(fired)} = {right / len(fired):.3f}")
        for t, p, pmid in fired:
            if t != p:
                print(f"  PMID {pmid}: curator says {t!r}, title rules say {p!r}")


def curated_designs(tags) -> dict[str, str]:
    design = tags[tags["kind"].eq("design")]
    return dict(zip(design["pmid"], design["tag"], strict=True))


if __name__ == "__main__":
    main()
