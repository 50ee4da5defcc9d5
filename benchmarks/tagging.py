"""Agreement of text-rule design tags with PubMed publication types.

Three checks, all with the publication types hidden from the text rules (title + abstract only):

1. The efetch and MEDLINE-export fixtures (../shared/fixtures): few, off-topic records; only
   MEDLINE-indexed ones count, "none" = "none" counts as agreement (kept for continuity).
2. The 67 curated records (data/corpus): a curator's design against the title alone.
3. The headline: 604 real MEDLINE citations (fixtures/medline/medline16n0902.xml.gz, NLM's 2016
   bulk form). Only records whose publication types name a design count (none = none is not
   counted). Study designs and reviews make the agreement; article kinds (Comment, Letter,
   Editorial) are reported apart, because the tagger takes them from the publication types a
   publisher supplies with every citation, and a title rarely says what it is.

PubMed's types are compared at the detail PubMed had: "Observational Study" agrees with cohort,
case-control or cross-sectional, and "Review" agrees with a narrative or a systematic review
(PubMed had no "Systematic Review" type before 2019). Both the agreement where the text rules
name a design and the agreement over all design-named records (no design = wrong) are printed;
the last line is the summary: tagging: medline_agreement=... medline_n=... coverage=...

Run: /work/venv/bin/python benchmarks/tagging.py [--medline PATH]
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evidence.curated import read_curated  # noqa: E402
from evidence.medline_xml import parse_medline_xml  # noqa: E402
from evidence.records import records_frame  # noqa: E402
from evidence.tagging import design_from_publication_types, design_from_text  # noqa: E402
from tests.conftest import SHARED  # noqa: E402
from tests.fixture_records import pubmed_fixture_records  # noqa: E402

OBSERVATIONAL = ("cohort", "case-control", "cross-sectional")
REVIEWS = ("narrative review", "systematic review")
ARTICLE_KIND = "other"  # what Comment, Letter and Editorial map to
MEDLINE_XML = SHARED / "fixtures/medline/medline16n0902.xml.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--medline", type=Path, default=MEDLINE_XML, help="MedlineCitationSet")
    args = parser.parse_args()
    if not args.medline.exists():
        sys.exit(f"{args.medline} not found: set EVIDENCE_SHARED to the shared folder")
    fixture_records()
    curated_titles()
    medline_citations(args.medline)


# --- 1. efetch + MEDLINE-export fixtures ----------------------------------------------------


def fixture_records() -> None:
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
    print("== 1. efetch + MEDLINE-export fixtures ==")
    print(f"PubMed fixture records: {len(records)}; not MEDLINE-indexed, left out: {skipped}")
    n = len(pairs)
    agree = sum(t == p for t, p, _ in pairs)
    with_design = [(t, p) for t, p, _ in pairs if t != "none"]
    print(f"records with publication types and text: n = {n}")
    print(f"agreement (design or 'none'): {agree}/{n} = {agree / n:.3f}")
    if with_design:
        hit = sum(t == p for t, p in with_design)
        print(f"agreement where PubMed names a design: {hit}/{len(with_design)}")
    print("confusion (publication-type design -> text-rule design): count")
    for (t, p), c in sorted(Counter((t, p) for t, p, _ in pairs).items()):
        print(f"  {t:<20} -> {p:<20} {c}")
    print("disagreements:")
    for t, p, pmid in pairs:
        if t != p:
            print(f"  PMID {pmid}: publication types say {t!r}, text rules say {p!r}")


# --- 2. curated records, title only ---------------------------------------------------------


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
    print("\n== 2. curated records, title only ==")
    print(f"curated records: n = {n}; a design named for {share}")
    if fired:
        print(f"precision where named: {right}/{len(fired)} = {right / len(fired):.3f}")
        for t, p, pmid in fired:
            if t != p:
                print(f"  PMID {pmid}: curator says {t!r}, title rules say {p!r}")


def curated_designs(tags: pd.DataFrame) -> dict[str, str]:
    design = tags[tags["kind"].eq("design")]
    return dict(zip(design["pmid"], design["tag"], strict=True))


# --- 3. MEDLINE bulk citations --------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    pmid: str
    status: str
    pubmed: str  # design PubMed's publication types map to
    pub_type: str  # the publication type it came from
    text: str  # design from the text rules, or "none"
    matched: str  # "title: ..." / "abstract: ..." (what the text rule matched)
    title: str
    has_abstract: bool

    @property
    def agrees(self) -> bool:
        if self.pub_type == "Observational Study" and self.text in OBSERVATIONAL:
            return True
        if self.pub_type == "Review" and self.text in REVIEWS:
            return True
        return self.pubmed == self.text

    @property
    def named(self) -> bool:
        return self.text != "none"


def medline_cases(path: Path) -> tuple[list[Case], int, int]:
    """Design-named citations as cases; also how many citations and how many name no design."""
    records = records_frame(parse_medline_xml(path))
    cases, unnamed_fired = [], 0
    for row in records.itertuples():
        pubmed = design_from_publication_types(list(row.publication_types))
        text = design_from_text(row.title or "", row.abstract or "")
        if pubmed is None:
            unnamed_fired += text is not None
            continue
        cases.append(
            Case(
                row.pmid,
                row.citation_status,
                pubmed[0],
                pubmed[1],
                text[0] if text else "none",
                f"{text[1]}: {text[2]}" if text else "",
                row.title or "",
                bool(row.abstract),
            )
        )
    return cases, len(records), unnamed_fired


def ratio(hit: int, n: int) -> str:
    return f"{hit}/{n} = {hit / n:.3f}" if n else "0/0"


def wilson(hit: int, n: int, z: float = 1.96) -> str:
    """95% Wilson interval: how far a proportion from a few dozen records can be trusted."""
    p, zz = hit / n, z * z
    centre = (p + zz / (2 * n)) / (1 + zz / n)
    half = z * math.sqrt(p * (1 - p) / n + zz / (4 * n * n)) / (1 + zz / n)
    return f"95% interval {centre - half:.2f}-{centre + half:.2f}"


def medline_citations(path: Path) -> None:
    cases, total, unnamed_fired = medline_cases(path)
    designs = [c for c in cases if c.pubmed != ARTICLE_KIND]
    kinds = [c for c in cases if c.pubmed == ARTICLE_KIND]
    print(f"\n== 3. MEDLINE citations ({path.name}) ==")
    print(
        f"citations: {total}; publication types name a design or article kind: {len(cases)} "
        f"({len(designs)} study design or review, {len(kinds)} article kind); "
        f"name none: {total - len(cases)} (not counted)"
    )
    named = [c for c in designs if c.named]
    hit = sum(c.agrees for c in named)
    strict = sum(c.pubmed == c.text for c in named)
    n = len(designs)
    print(f"\nstudy designs and reviews: n = {n}")
    print(f"  coverage (text rules name any design): {ratio(len(named), n)}")
    print(
        f"  agreement where the text rules name a design: {ratio(hit, len(named))} "
        f"({wilson(hit, len(named))})"
    )
    print(f"  agreement over all design-named records (no design = wrong): {ratio(hit, n)}")
    print(
        f"  strict names (PubMed 'Review' = narrative review only): {ratio(strict, len(named))}"
        f"; {hit - strict} agreement(s) are a systematic review PubMed could only type 'Review'"
    )
    indexed = [c for c in designs if c.status == "MEDLINE"]
    indexed_named = [c for c in indexed if c.named]
    print(
        f"  MEDLINE-indexed only (an indexer's types; the rest are publishers'): n = "
        f"{len(indexed)}, coverage {ratio(len(indexed_named), len(indexed))}, agreement where "
        f"named {ratio(sum(c.agrees for c in indexed_named), len(indexed_named))}"
    )
    by_status = Counter(c.status for c in designs)
    print("  by citation status: " + ", ".join(f"{s} {k}" for s, k in by_status.most_common()))

    print("\nconfusion (PubMed design [publication type] -> text-rule design): count")
    confusion = Counter((f"{c.pubmed} [{c.pub_type}]", c.text) for c in designs)
    width = max(len(t) for t, _ in confusion)
    for (t, p), k in sorted(confusion.items()):
        print(f"  {t:<{width}} -> {p:<27} {k}")

    print("\ndisagreements (text rules name another design):")
    for c in designs:
        if c.named and not c.agrees:
            where = f"PubMed {c.pubmed!r} ({c.pub_type}), text {c.text!r}"
            print(f"  PMID {c.pmid}: {where} — {c.matched}")
            print(f"    title: {c.title[:110]}")
    silent = [c for c in designs if not c.named]
    print(f"no design from the text rules ({len(silent)}):")
    for c in silent:
        print(f"  PMID {c.pmid}: PubMed {c.pubmed!r} ({c.pub_type}); title: {c.title[:80]}")

    kind_named = [c for c in kinds if c.named]
    kind_hit = sum(c.text == ARTICLE_KIND for c in kinds)
    abstracts = sum(c.has_abstract for c in kinds)
    print(
        f"\narticle kinds (Comment / Letter / Editorial -> 'other'): n = {len(kinds)}, "
        f"not in the agreement above. PubMed takes them from the publisher with the citation "
        f"(all {len(kinds)} here are "
        f"{'/'.join(sorted({c.status for c in kinds}))}, not yet indexed), so the tagger has "
        f"them without text; the text rules can only read a title that says what it is."
    )
    print(
        f"  text rules say 'other' (title names the kind): {kind_hit}; a study design: "
        f"{len(kind_named) - kind_hit}; nothing: {len(kinds) - len(kind_named)} "
        f"({abstracts} of {len(kinds)} have an abstract)"
    )
    for c in kind_named:
        print(f"  PMID {c.pmid} ({c.pub_type}): text {c.text!r} — {c.matched}")
    both = designs + kinds
    both_hit = sum(c.agrees for c in both if c.named)
    print(
        f"  counted in anyway: agreement where named {ratio(both_hit, sum(c.named for c in both))}"
        f", over all {ratio(both_hit, len(both))}"
    )
    print(
        f"\nrecords whose publication types name no design: the text rules name one for "
        f"{unnamed_fired} of {total - len(cases)} (not counted: PubMed's silence is no label)"
    )
    print(
        f"\ntagging: medline_agreement={hit / len(named):.2f} medline_n={n} "
        f"coverage={len(named) / n:.2f}"
    )


if __name__ == "__main__":
    main()
