"""Parse speed: our streaming parser vs Bio.Entrez.read vs a raw lxml scan that extracts nothing.

Builds a PubmedArticleSet of N records by repeating the real efetch fixtures with new PMIDs (the
bytes are otherwise the same; never shown to users). Prints records/s for each parser (best of
``--repeat`` runs) and the two ratios the project tracks.

    python benchmarks/parse.py [--records 2000] [--repeat 3] [--fixtures ../shared/fixtures/eutils]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import time
from pathlib import Path

from Bio import Entrez
from lxml import etree

from evidence.records import parse_pubmed_xml

REPO = Path(__file__).resolve().parent.parent
DEFAULT_FIXTURES = (
    Path(os.environ.get("EVIDENCE_SHARED", REPO.parent / "shared")) / "fixtures/eutils"
)
HEADER = (
    b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, '
    b'1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
)
_ARTICLE = re.compile(rb"<PubmedArticle>.*?</PubmedArticle>", re.S)
_PMID = re.compile(rb"(<PMID[^>]*>)\d+(</PMID>)")


def build(fixtures: Path, n: int) -> bytes:
    articles = [
        m.group(0)
        for p in sorted(fixtures.glob("pubmed*.xml"))
        for m in _ARTICLE.finditer(p.read_bytes())
    ]
    if not articles:
        sys.exit(f"no PubmedArticle found under {fixtures}")
    body = [
        _PMID.sub(
            rb"\g<1>" + str(90_000_000 + i).encode() + rb"\g<2>",
            articles[i % len(articles)],
            count=1,
        )
        for i in range(n)
    ]
    return HEADER + b"<PubmedArticleSet>\n" + b"\n".join(body) + b"\n</PubmedArticleSet>\n"


def ours(data: bytes) -> int:
    return sum(1 for _ in parse_pubmed_xml(data))


def biopython(data: bytes) -> int:
    return len(Entrez.read(io.BytesIO(data))["PubmedArticle"])


def raw_scan(data: bytes) -> int:
    count = 0
    for _, el in etree.iterparse(
        io.BytesIO(data),
        events=("end",),
        tag=("PubmedArticle", "PubmedBookArticle"),
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=True,
    ):
        count += 1
        _release(el)
    return count


def raw_scan_all(data: bytes) -> int:
    """The plain way to scan with iterparse: an event for every element, nothing extracted."""
    count = 0
    for _, el in etree.iterparse(
        io.BytesIO(data), events=("end",), resolve_entities=False, load_dtd=False, no_network=True
    ):
        if el.tag == "PubmedArticle":
            count += 1
            _release(el)
    return count


def _release(el: etree._Element) -> None:
    """Free a finished record and its siblings, as any streaming parse must."""
    el.clear(keep_tail=False)
    parent = el.getparent()
    while el.getprevious() is not None:
        del parent[0]


def best_rate(fn, data: bytes, n: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        assert fn(data) == n, fn.__name__
        best = min(best, time.perf_counter() - started)
    return n / best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    args = ap.parse_args(argv)
    data = build(args.fixtures, args.records)
    print(f"{args.records} records, {len(data) / 1e6:.1f} MB, best of {args.repeat}")
    rates = {
        fn.__name__: best_rate(fn, data, args.records, args.repeat)
        for fn in (raw_scan, raw_scan_all, ours, biopython)
    }
    for name, rate in rates.items():
        print(
            f"  {name:<10} {rate:>9,.0f} records/s"
            f"  {rate * len(data) / args.records / 1e6:6.1f} MB/s"
        )
    print(f"ours / raw scan (tag-filtered iterparse) = {rates['ours'] / rates['raw_scan']:.2f}x")
    print(
        f"ours / raw scan (iterparse, every element) = "
        f"{rates['ours'] / rates['raw_scan_all']:.2f}x  (goal >= 0.8x)"
    )
    print(f"ours / Bio.Entrez.read = {rates['ours'] / rates['biopython']:.1f}x  (goal >= 7x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
