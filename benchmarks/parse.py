"""Parse speed: our streaming parser vs Bio.Entrez.read, pubmed_parser and raw lxml scans.

Builds a PubmedArticleSet of N records by repeating the real efetch fixtures with new PMIDs (the
bytes are otherwise the same; never shown to users) and times every parser on it, side by side
in one process, for ``--rounds`` rounds. Times are CPU time: on a shared machine wall time also
measures the neighbours. The run order is rotated each round, and the cyclic garbage collector
is emptied (``gc.collect()``, untimed) before every run: a ``Bio.Entrez.read`` result is held in
a reference cycle (its handler <-> its expat parser), so the ~1.1 million objects it leaves are
freed only by a full collection (~0.8 s), which otherwise lands in whichever run happens to
trigger it. Ratios are medians of per-round ratios.

Baselines: ``raw_scan`` is lxml ``iterparse`` filtered to the record tags in C, extracting
nothing (the tree-building floor of any lxml parser; the goal's reference); ``raw_scan_all`` is
the plain every-element ``iterparse`` loop. ``pubmed_parser`` is timed only when installed
(``pip install pubmed-parser unidecode``; its API reads a gzip file, so its time includes
gunzip).

    python benchmarks/parse.py [--records 2000] [--rounds 7] [--fixtures DIR] [--no-collect]
"""

from __future__ import annotations

import argparse
import gc
import gzip
import io
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
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
GOAL_VS_RAW = 0.8
GOAL_VS_ENTREZ = 7.0


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
    """All ~30 fields and the content hash, rows kept (as the refresh keeps them)."""
    return len(list(parse_pubmed_xml(data)))


def entrez(data: bytes) -> int:
    return len(Entrez.read(io.BytesIO(data))["PubmedArticle"])


def raw_scan(data: bytes) -> int:
    """Tag-filtered iterparse, extracts nothing: lxml builds each record's tree, then frees it."""
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


def pubmed_parser_run(gz_path: Path) -> Callable[[bytes], int]:
    """pubmed_parser's public API, which reads a gzip file by path (the same records)."""
    import pubmed_parser  # optional: only when installed

    def pubmed_parser_(data: bytes) -> int:
        return sum(1 for _ in pubmed_parser.parse_medline_xml(str(gz_path)))

    return pubmed_parser_


def timed(fn: Callable[[bytes], int], data: bytes, n: int, collect: bool) -> float:
    """CPU seconds of one run; the collector is emptied first so no run pays another's garbage.

    CPU time (``process_time``), not wall time: on this shared 2-core machine a run is often
    descheduled for a while, and wall time then measures the neighbours. The parsers are
    single-threaded, so on a quiet machine the two agree.
    """
    if collect:
        gc.collect()
    started = time.process_time()
    count = fn(data)
    elapsed = time.process_time() - started
    assert count == n, f"{fn.__name__}: {count} records, expected {n}"
    return elapsed


def leftover_garbage(fn: Callable[[bytes], int], data: bytes) -> tuple[int, float]:
    """Objects a run leaves for the cyclic collector, and what the full collection costs."""
    gc.collect()
    fn(data)
    started = time.process_time()
    found = gc.collect()
    return found, time.process_time() - started


def run_rounds(
    parsers: dict[str, Callable[[bytes], int]], data: bytes, n: int, rounds: int, collect: bool
) -> tuple[dict[str, list[float]], dict[bool, list[float]]]:
    """Seconds per run for each parser, one run each per round, the order rotated each round.

    Also returns ours' rates split by whether Bio.Entrez.read ran just before (True) or not.
    """
    for fn in parsers.values():  # warm-up: imports, Biopython's DTD cache, lxml's dictionary
        timed(fn, data, n, collect=True)
    names = list(parsers)
    times: dict[str, list[float]] = {name: [] for name in names}
    ours_after: dict[bool, list[float]] = {True: [], False: []}
    last = ""
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            times[name].append(timed(parsers[name], data, n, collect))
            if name == "ours":
                ours_after[last == "entrez"].append(n / times["ours"][-1])
            last = name
        rates = "  ".join(f"{name} {n / times[name][-1]:,.0f}" for name in order)
        print(
            f"round {r + 1}: {rates} rec/s | ours/raw_scan "
            f"{times['raw_scan'][-1] / times['ours'][-1]:.2f}x  ours/entrez "
            f"{times['entrez'][-1] / times['ours'][-1]:.1f}x"
        )
    return times, ours_after


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    ap.add_argument(
        "--no-collect",
        action="store_true",
        help="skip gc.collect() before each run (shows the run-order effect)",
    )
    args = ap.parse_args(argv)
    n = args.records
    data = build(args.fixtures, n)
    # entrez comes right before ours in the cycle, so most rotations run ours just after it
    parsers: dict[str, Callable[[bytes], int]] = {
        "entrez": entrez,
        "ours": ours,
        "raw_scan": raw_scan,
        "raw_scan_all": raw_scan_all,
    }
    collect = not args.no_collect
    print(
        f"{n} records, {len(data) / 1e6:.1f} MB; {args.rounds} rounds, order rotated; "
        f"gc.collect() before each run: {'yes' if collect else 'NO'}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        try:
            gz_path = Path(tmp) / "records.xml.gz"
            parsers["pubmed_parser"] = pubmed_parser_run(gz_path)
            gz_path.write_bytes(gzip.compress(data, compresslevel=1))
        except ImportError:
            print("pubmed_parser not installed: skipped (pip install pubmed-parser unidecode)")
        times, ours_after = run_rounds(parsers, data, n, args.rounds, collect)
    objects, seconds = leftover_garbage(entrez, data)

    print("\nmedians over rounds:")
    for name in parsers:
        rate = n / statistics.median(times[name])
        print(f"  {name:<14} {rate:>7,.0f} records/s  {rate * len(data) / n / 1e6:6.1f} MB/s")

    def ratio(other: str) -> float:
        return statistics.median(b / a for a, b in zip(times["ours"], times[other], strict=True))

    vs_raw, vs_entrez = ratio("raw_scan"), ratio("entrez")
    met = {True: "met", False: "NOT met"}
    print(
        f"ours / raw_scan (tag-filtered iterparse, nothing extracted) = {vs_raw:.2f}x"
        f"  (goal >= {GOAL_VS_RAW}x: {met[vs_raw >= GOAL_VS_RAW]})"
    )
    print(
        f"ours / raw_scan_all (iterparse, every element, nothing extracted) = "
        f"{ratio('raw_scan_all'):.2f}x"
    )
    print(
        f"ours / Bio.Entrez.read = {vs_entrez:.1f}x"
        f"  (goal >= {GOAL_VS_ENTREZ:g}x: {met[vs_entrez >= GOAL_VS_ENTREZ]})"
    )
    if "pubmed_parser" in parsers:
        print(f"ours / pubmed_parser = {ratio('pubmed_parser'):.2f}x")
    print(
        f"garbage: one Bio.Entrez.read leaves {objects:,} objects in reference cycles; "
        f"collecting them takes {seconds:.2f} s"
        + (" (untimed here: collected before every run)" if collect else "")
    )
    if ours_after[True] and ours_after[False]:
        print(
            f"order: ours {statistics.median(ours_after[True]):,.0f} rec/s right after "
            f"Bio.Entrez.read, {statistics.median(ours_after[False]):,.0f} after the others"
        )
    print(f"parse: vs_raw={vs_raw:.2f} vs_entrez={vs_entrez:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
