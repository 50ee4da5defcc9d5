"""Scale-out demo: parse, tag, score and grade synthetic PubMed shards on Dask, 1 vs 2 workers.

Writes ``--n`` SYNTHETIC records (PMIDs from 90,000,000; titles prefixed "SYNTHETIC"; abstract
and title words shuffled and one replaced per record, deterministically, so no two records are
the same text) as gzipped PubmedArticleSet shards of ``--shard-size`` records, like the PubMed
baseline files, into a temporary folder (never data/), built from the real fixtures in
``../shared/fixtures`` (604 MEDLINE citations + 8 efetch articles). Then runs
`evidence.scaleout.run` on a `dask.distributed.LocalCluster` of 1 and of 2 single-threaded worker
processes and prints wall time per phase, records/s, speed-up and peak memory per worker. First
it checks on a small sample that the sharded run gives the whole-corpus answers: the same
relevance as `relevance.score_relevance` over all records at once, the same tags.

    pip install -e ".[scale]"
    python benchmarks/scale_dask.py                 # 100k records, ~3 min on 2 cores
    python benchmarks/scale_dask.py --n 1000000     # ~25 min on 2 cores, ~2 GB of temp files
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import re
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from evidence import scaleout
from evidence.claims import claims_frame, load_claims
from evidence.relevance import (
    DEFAULT_THRESHOLD,
    CorpusStats,
    record_text,
    score_relevance,
    score_terms,
    term_rows,
    tokenize,
)
from evidence.schema import TABLES, TAGS
from evidence.tagging import tag_records

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("EVIDENCE_SHARED", REPO.parent / "shared"))
FIRST_PMID = 90_000_000  # made up; real PMIDs are below 42,000,000 today
NOW = pd.Timestamp("2026-11-26", tz="UTC")
HEADER = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD '
    b'PubMedArticle, 1st January 2025//EN" '
    b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n<PubmedArticleSet>\n'
)
_CITATION = re.compile(rb"<MedlineCitation[ >].*?</MedlineCitation>", re.S)
_ARTICLE = re.compile(rb"<PubmedArticle>.*?</PubmedArticle>", re.S)
_PMID = re.compile(rb"(<PMID[^>]*>)\d+(</PMID>)")
_TITLE = re.compile(rb"(<ArticleTitle[^>]*>)(.*?)(</ArticleTitle>)", re.S)
_ABSTRACT = re.compile(rb"(<AbstractText[^>]*>)(.*?)(</AbstractText>)", re.S)
_DOI = re.compile(rb'((?:EIdType|IdType)="doi"[^>]*>)[^<]*')
_LAST_NAME = re.compile(rb"(<LastName>)[^<]*")
_MARKUP = re.compile(rb"[<>&]")
_WORD = re.compile(rb"\b[a-z]{4,12}\b")

# --- synthetic shards --------------------------------------------------------------------------


def templates(shared: Path) -> list[bytes]:
    """Every real fixture record as a <PubmedArticle> (MEDLINE citations get the envelope)."""
    out = [
        b"<PubmedArticle>" + m.group(0) + b"</PubmedArticle>"
        for m in _CITATION.finditer(
            gzip.decompress((shared / "fixtures/medline/medline16n0902.xml.gz").read_bytes())
        )
    ]
    for path in sorted((shared / "fixtures/eutils").glob("pubmed*.xml")):
        out += [m.group(0) for m in _ARTICLE.finditer(path.read_bytes())]
    if not out:
        sys.exit(f"no fixture records under {shared / 'fixtures'}")
    return out


def _perturb(text: bytes, rng: random.Random, pool: Sequence[bytes]) -> bytes:
    """Swap a few plain words and replace one: new text, same vocabulary and length."""
    words = text.split(b" ")
    plain = [k for k, w in enumerate(words) if w and not _MARKUP.search(w)]
    if len(plain) < 2:
        return text
    for _ in range(1 + len(plain) // 20):
        a, b = plain[rng.randrange(len(plain))], plain[rng.randrange(len(plain))]
        words[a], words[b] = words[b], words[a]
    words[plain[rng.randrange(len(plain))]] = pool[rng.randrange(len(pool))]
    return b" ".join(words)


def synthesize(template: bytes, index: int, pool: Sequence[bytes]) -> bytes:
    """Record ``index``: a new PMID, a SYNTHETIC title, perturbed text, no real DOI or author."""
    rng = random.Random(index)
    pmid = str(FIRST_PMID + index).encode()
    doc = _PMID.sub(lambda m: m.group(1) + pmid + m.group(2), template, count=1)
    doc = _TITLE.sub(
        lambda m: m.group(1) + b"SYNTHETIC " + _perturb(m.group(2), rng, pool) + m.group(3),
        doc,
        count=1,
    )
    doc = _ABSTRACT.sub(lambda m: m.group(1) + _perturb(m.group(2), rng, pool) + m.group(3), doc)
    doc = _LAST_NAME.sub(rb"\g<1>Synthetic", doc)
    return _DOI.sub(lambda m: m.group(1) + b"10.0000/synthetic." + pmid, doc)


def write_shard(
    folder: Path, start: int, stop: int, shared: Path, level: int = 1
) -> tuple[Path, int]:
    """Records ``start``..``stop`` as one gzipped PubmedArticleSet; returns (path, bytes)."""
    items = _templates_cached(shared)
    pool = _pool_cached(shared)
    body = b"\n".join(synthesize(items[i % len(items)], i, pool) for i in range(start, stop))
    path = folder / f"synthetic-{FIRST_PMID + start}.xml.gz"
    data = HEADER + body + b"\n</PubmedArticleSet>\n"
    path.write_bytes(gzip.compress(data, compresslevel=level, mtime=0))
    return path, len(data)


_CACHE: dict[str, object] = {}


def _templates_cached(shared: Path) -> list[bytes]:
    if "templates" not in _CACHE:
        _CACHE["templates"] = templates(shared)
    return _CACHE["templates"]  # type: ignore[return-value]


def _pool_cached(shared: Path) -> list[bytes]:
    if "pool" not in _CACHE:
        words = {w for t in _templates_cached(shared) for w in _WORD.findall(t)}
        _CACHE["pool"] = sorted(words)
    return _CACHE["pool"]  # type: ignore[return-value]


def generate(folder: Path, n: int, shard_size: int, shared: Path, procs: int) -> list[Path]:
    """All shards, ``procs`` at a time (generation is not part of the measured runs)."""
    folder.mkdir(parents=True, exist_ok=True)
    starts = list(range(0, n, shard_size))
    started = time.perf_counter()
    with ProcessPoolExecutor(procs) as pool:
        done = list(
            pool.map(
                write_shard,
                [folder] * len(starts),
                starts,
                [min(s + shard_size, n) for s in starts],
                [shared] * len(starts),
            )
        )
    raw = sum(size for _, size in done)
    disk = sum(p.stat().st_size for p, _ in done)
    print(
        f"generated {n:,} SYNTHETIC records in {len(done)} shards: {raw / 1e9:.2f} GB XML, "
        f"{disk / 1e9:.2f} GB gzipped, {time.perf_counter() - started:.0f} s ({procs} processes)"
    )
    return [p for p, _ in done]


# --- checks ------------------------------------------------------------------------------------


def _table(result: scaleout.RunResult, name: str) -> pd.DataFrame:
    files = [f["path"] for s in result.shards for f in s.files[name]]
    return TABLES[name].from_arrow(pa.concat_tables([pq.read_table(p) for p in files]))


def check_exact(folder: Path, shared: Path, claims: scaleout.ClaimSet, topics: dict) -> None:
    """Sharded == whole: statistics, relevance and tags against one process over all records."""
    shards = generate(folder / "in", 3_000, 1_000, shared, procs=2)
    result = scaleout.run(shards, folder / "out", claims, now=NOW, source_name="synthetic")
    records = _table(result, "records")
    assert records["title"].str.startswith("SYNTHETIC").all(), "a title lost its SYNTHETIC mark"
    assert records["pmid"].astype(int).ge(FIRST_PMID).all()
    assert records["content_hash"].is_unique, "two synthetic records have the same content"
    vocab = claims.vocabulary
    whole_stats = CorpusStats.of(term_rows(records, vocab), vocab).rebased(claims.terms)
    same_stats = whole_stats.to_frame().equals(result.stats.to_frame())
    whole = score_relevance(records, claims.claims, topics)
    sharded = pd.concat(
        [
            score_terms(_table_of(s, "record_terms"), claims.terms, result.stats)
            for s in result.shards
        ],
        ignore_index=True,
    )
    joined = whole.merge(sharded, on=["claim_id", "pmid"], how="outer", suffixes=("_1", "_n"))
    diff = (joined["relevance_1"] - joined["relevance_n"]).abs()
    above = whole[whole["relevance"] >= DEFAULT_THRESHOLD]
    above_one = set(zip(above["claim_id"], above["pmid"], strict=True))
    linked = set(zip(result.links["claim_id"], result.links["pmid"], strict=True))
    key = list(TAGS.key)
    tags_one = tag_records(records).sort_values(key).reset_index(drop=True)
    tags_n = _table(result, "tags").sort_values(key).reset_index(drop=True)
    print(
        f"check, 3,000 records in 3 shards vs one process over all of them: statistics same "
        f"{same_stats}; {len(whole):,} (claim, record) scores, missing either side "
        f"{int(diff.isna().sum())}, largest difference {diff.max():.1e}; links at >= "
        f"{DEFAULT_THRESHOLD}: {len(above_one)} vs {len(linked)}, same {above_one == linked}; "
        f"tags {len(tags_one):,} vs {len(tags_n):,}, same {tags_one.equals(tags_n)}"
    )
    distinct = sum(len(set(t)) for t in tokenize(record_text(records))) / len(records)
    print(
        f"one process holds {records.memory_usage(deep=True).sum() / len(records) / 1024:.1f} KiB "
        f"a record as a pandas frame; {distinct:.0f} distinct tokens a record (a BM25 index's "
        f"entries), against {result.stats.to_frame().shape[0] - 1} counted query terms"
    )
    if not same_stats or diff.isna().any() or diff.max() > 1e-9 or above_one != linked:
        sys.exit("check failed: sharded relevance differs from the whole-corpus relevance")
    if not tags_one.equals(tags_n):
        sys.exit("check failed: sharded tags differ from tagging all records at once")


def _table_of(shard: scaleout.ShardResult, name: str) -> pa.Table:
    return pa.concat_tables([pq.read_table(f["path"]) for f in shard.files[name]])


# --- runs --------------------------------------------------------------------------------------


def _busy_seconds() -> float:
    """CPU-seconds the whole machine has spent busy (all processes, from /proc/stat)."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    """CPU-seconds of this process and its reaped children (the cluster, once closed)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def one_run(
    workers: int, shards: list[Path], out: Path, claims: scaleout.ClaimSet, registry, mem: str
) -> dict:
    """A fresh cluster (so peak memory is this run's), the run, its figures."""
    load = os.getloadavg()[0]
    busy, own, window = _busy_seconds(), _own_seconds(), time.perf_counter()
    if workers == 0:
        result = scaleout.run(
            shards, out, claims, registry=registry, now=NOW, source_name="synthetic"
        )
        rss = [scaleout.peak_rss_mb()]
    else:
        cluster, client = scaleout.local_cluster(workers, memory_limit=mem)
        try:
            client.run(lambda: None)  # workers up before the clock starts
            result = scaleout.run(
                shards,
                out,
                claims,
                registry=registry,
                client=client,
                now=NOW,
                source_name="synthetic",
            )
            rss = list(client.run(scaleout.peak_rss_mb).values())
        finally:
            client.close()
            cluster.close()
    window = time.perf_counter() - window
    others = max(0.0, (_busy_seconds() - busy) - (_own_seconds() - own))
    stages: dict[str, float] = {}
    for s in result.shards:
        for k, v in s.seconds.items():
            stages[k] = stages.get(k, 0.0) + v
    for s in result.scores:
        for k, v in s.seconds.items():
            stages[k] = stages.get(k, 0.0) + v
    critical = 0.0  # per map phase, the busiest worker's task CPU time
    for tasks in (result.shards, result.scores):
        per: dict[str, float] = {}
        for t in tasks:
            per[t.worker] = per.get(t.worker, 0.0) + t.seconds["task cpu"]
        critical += max(per.values(), default=0.0)
    serial = sum(result.seconds[k] for k in ("reduce stats", "grade", "commit"))
    sizes: dict[str, list[float]] = {}  # table -> rows, bytes, files
    for shard in result.shards:
        for name, files in shard.files.items():
            old = sizes.get(name, [0, 0, 0])
            rows = sum(f["rows"] for f in files)
            size = sum(Path(f["path"]).stat().st_size for f in files)
            sizes[name] = [old[0] + rows, old[1] + size, old[2] + len(files)]
    return {
        "workers": workers,
        "sizes": sizes,
        "result": result,
        "rss": rss,
        "load": load,
        "others": others / (window * (os.cpu_count() or 1)),
        "stages": stages,
        "parquet_mb": sum(b for _, b, _ in sizes.values()) / 2**20,
        "cpu_bound": critical + serial,
    }


def report(runs: list[dict], n: int) -> None:
    one = next((r for r in runs if r["workers"] == 1), runs[0])
    base, base_cpu = one["result"].seconds["total"], one["cpu_bound"]
    print()
    print(
        "| workers | wall | map 1: parse..write | map 2: score+suggest | reduce+grade+commit "
        "| records/s | speed-up (wall) | task CPU/wall | busiest worker's CPU + serial "
        "| speed-up (CPU) | peak RSS per worker | other processes' CPU |"
    )
    print("| --- |" + " ---: |" * 11)
    for r in runs:
        s, st = r["result"].seconds, r["stages"]
        label = "in-process (no Dask)" if r["workers"] == 0 else str(r["workers"])
        print(
            f"| {label} | {s['total']:.1f} s | {s['map 1']:.1f} s | {s['map 2']:.1f} s "
            f"| {s['reduce stats'] + s['grade'] + s['commit']:.2f} s "
            f"| {n / s['total']:,.0f} | {base / s['total']:.2f}x "
            f"| {st['task cpu'] / st['task wall']:.2f} | {r['cpu_bound']:.1f} s "
            f"| {base_cpu / r['cpu_bound']:.2f}x "
            f"| {' / '.join(f'{m:,.0f}' for m in r['rss'])} MiB | {r['others']:.0%} |"
        )
    first = runs[0]
    stages = {k: v for k, v in first["stages"].items() if not k.startswith("task")}
    total = sum(stages.values())
    print()
    print(
        "task time by stage (all tasks, first run): "
        + ", ".join(f"{k} {v:.1f} s ({v / total:.0%})" for k, v in stages.items())
    )
    result = first["result"]
    grades = pd.Series([v.grade for v in result.verdicts.values()]).value_counts()
    print(
        f"{result.records:,} records, {sum(s.pairs_scored for s in result.scores):,} "
        f"(claim, record) pairs with relevance > 0, {len(result.links):,} candidate links, "
        f"suggested {int(result.links['stance_origin'].eq('suggested').sum()):,}; verdicts "
        f"{ {str(k): int(v) for k, v in grades.items()} }; "
        f"partitions {first['parquet_mb']:,.0f} MiB (zstd)"
    )
    sizes = first["sizes"]
    print(
        "partitions: "
        + ", ".join(
            f"{k} {int(r):,} rows in {int(f)} files, {b / 2**20:,.0f} MiB "
            f"({b / result.records:,.0f} B a record)"
            for k, (r, b, f) in sizes.items()
        )
    )
    print(
        "task CPU/wall below 1: tasks waited for a CPU. Other processes' CPU: the share of the "
        "machine's CPU time used outside this benchmark while the run's cluster was up. "
        "Speed-up (CPU): from CPU time, what the speed-up would be on cores nobody else uses "
        "(per map, the busiest worker's task CPU time, plus the driver's serial steps)."
    )


def same_answers(runs: list[dict]) -> bool:
    """Every run must give the same links and verdicts, whatever the number of workers."""

    def key(r: dict) -> tuple:
        links = r["result"].links.sort_values(["claim_id", "pmid"])
        rel = np.round(links["relevance"].to_numpy(float), 9)
        verdicts = tuple((c, v.grade, v.score) for c, v in sorted(r["result"].verdicts.items()))
        return (
            tuple(links["claim_id"]),
            tuple(links["pmid"]),
            tuple(rel),
            tuple(links["stance"]),
            verdicts,
        )

    first = key(runs[0])
    return all(key(r) == first for r in runs[1:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="synthetic records (default 100,000)")
    ap.add_argument("--shard-size", type=int, default=10_000)
    ap.add_argument(
        "--workers", default="1,2", help="worker counts to run; 0 = in-process, no Dask"
    )
    ap.add_argument("--memory-limit", default="6GiB", help="per Dask worker")
    ap.add_argument("--workdir", type=Path, help="temporary folder (default: a new one in /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the shards and outputs")
    ap.add_argument("--no-check", action="store_true", help="skip the sharded == whole check")
    ap.add_argument("--shared", type=Path, default=SHARED)
    args = ap.parse_args(argv)

    registry = load_claims(REPO / "data/claims.yaml")
    topics = {k: t.query for k, t in registry.topics.items()}
    claims = scaleout.claim_set(claims_frame(registry), topics)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="evidence-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    if (REPO / "data").resolve() in work.resolve().parents:
        sys.exit("synthetic records never go under data/")
    print(
        f"{len(claims.terms)} claims, {len(claims.vocabulary)} query terms; working in {work}; "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
    )
    try:
        if not args.no_check:
            check_exact(work / "check", args.shared, claims, topics)
        shards = generate(work / "shards", args.n, args.shard_size, args.shared, procs=2)
        runs = []
        for workers in (int(w) for w in args.workers.split(",")):
            out = work / f"out-{workers}"
            runs.append(one_run(workers, shards, out, claims, registry, args.memory_limit))
            r = runs[-1]
            print(
                f"  {workers} worker(s): {r['result'].seconds['total']:.1f} s, "
                f"peak RSS {max(r['rss']):,.0f} MiB",
                flush=True,
            )
            if not args.keep:
                shutil.rmtree(out)
        report(runs, args.n)
        same = same_answers(runs)
        print(f"same links and verdicts in every run: {same}")
        by = {r["workers"]: r for r in runs}
        if 1 in by and 2 in by:
            t1, t2 = (by[k]["result"].seconds["total"] for k in (1, 2))
            print(
                f"scale_dask: n={args.n} shards={len(shards)} one_worker_s={t1:.1f} "
                f"two_workers_s={t2:.1f} speedup={t1 / t2:.2f} "
                f"speedup_cpu={by[1]['cpu_bound'] / by[2]['cpu_bound']:.2f} "
                f"records_per_s_two={args.n / t2:.0f} "
                f"peak_rss_mib={max(max(r['rss']) for r in runs if r['workers']):.0f} "
                f"others_cpu={max(by[1]['others'], by[2]['others']):.0%}"
            )
        return 0 if same else 1
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
