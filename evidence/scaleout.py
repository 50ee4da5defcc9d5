"""Scale-out: the package's pure per-record transforms over many shards, on Dask or in-process.

Past one machine (all of PubMed: ~37M records in ~1,200 baseline files) neither the tables nor a
refresh's work fit one process. Parsing, merging by PMID, tagging and counting query terms are per
record, so they map over shards unchanged; BM25 relevance needs corpus statistics, which are
counts, so they are summed from the shards and sent back to score. A run is

1. map `process_shard`: parse, merge (`merges.upsert_records`), tag, count terms
   (`relevance.term_rows`); write the shard's records, record_changes, tags and record_terms as
   PMID-range partitions (`partitions.repartition`, the store's ranges); return its statistics;
2. reduce `merge_stats`: sum the statistics (a row per query term);
3. map `score_shard`: score with the *global* statistics (`relevance.score_terms`, so a score is
   what `relevance.score_relevance` gives over all records at once), propose links
   (`relevance.candidate_links`), suggest stances (`pipeline.suggest_unassessed`);
4. reduce: grade every claim (`verdict.grade_claims`) from the links and only their records' and
   tags' rows, then commit one manifest: the single writer.

Dask is the optional extra ``scale``, imported only by `local_cluster`; with no client the same
functions run in this process (tests, small stores). docs/SCALING.md has the plan and figures.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import resource
import socket
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .merges import upsert_records
from .partitions import repartition
from .pipeline import suggest_unassessed
from .records import ParseStats, parse_pubmed_xml, records_frame
from .relevance import (
    DEFAULT_THRESHOLD,
    CorpusStats,
    candidate_links,
    claim_terms,
    score_terms,
    term_rows,
)
from .schema import LINKS, RECORD_CHANGES, RECORD_TERMS, RECORDS, TAGS, TERM_STATS, VERDICTS, Table
from .tagging import tag_records
from .verdict import Verdict, grade_claims, verdicts_frame

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

    from .claims import Registry

__all__ = [
    "ClaimSet",
    "RunResult",
    "ScoreResult",
    "ShardResult",
    "claim_set",
    "local_cluster",
    "merge_stats",
    "peak_rss_mb",
    "process_shard",
    "run",
    "score_shard",
]

PARTITIONED = (RECORDS, RECORD_CHANGES, TAGS, RECORD_TERMS)  # grow with the literature
FACT_COLUMNS = ["pmid", "pub_year", "retracted"]  # all grading reads of a record


@dataclass(frozen=True)
class ClaimSet:
    """What the workers need of the claims: the frame (for suggestions) and each one's terms."""

    claims: pd.DataFrame
    terms: Mapping[str, tuple[str, ...]]

    @property
    def vocabulary(self) -> list[str]:
        return sorted({t for ts in self.terms.values() for t in ts})


def claim_set(claims: pd.DataFrame, topic_queries: Mapping[str, str] | None = None) -> ClaimSet:
    """Claims plus their stemmed query terms (`relevance.claim_terms`), computed once."""
    return ClaimSet(claims.reset_index(drop=True), claim_terms(claims, topic_queries))


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB (run on each worker with `Client.run`)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write(table: Table, arrow: pa.Table, path: Path) -> dict[str, Any]:
    """One file, atomically (temp + rename): a retried or duplicated task never leaves half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(arrow.cast(table.schema), tmp, compression="zstd")
    os.replace(tmp, path)
    return {"path": str(path), "rows": arrow.num_rows, "sha256": _sha256(path)}


def _write_partitions(
    table: Table, frame: pd.DataFrame, low: int, out: Path
) -> list[dict[str, Any]]:
    """A shard's rows as the store's PMID ranges from ``low`` up (`partitions.repartition`)."""
    arrow = table.to_arrow(frame)
    pieces = repartition([str(low)], table, arrow) if table.partition_rows else {"": arrow}
    return [
        {**_write(table, piece, out / table.name / f"{table.name}-p{name}.parquet"), "part": name}
        for name, piece in pieces.items()
        if piece.num_rows or len(pieces) == 1
    ]


def _open_xml(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")  # noqa: SIM115


@dataclass
class ShardResult:
    """What a shard sends back: counts, term statistics, timings, the files it wrote."""

    shard: str
    records: int
    stats: pd.DataFrame  # TERM_STATS rows of this shard alone (a row per query term)
    seconds: dict[str, float]
    files: dict[str, list[dict[str, Any]]]
    skipped: int = 0
    worker: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")


class _Clock:
    """Wall time per stage, plus the task's wall and CPU time (CPU < wall: it waited for a CPU)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._start = self._lap = time.perf_counter()
        self._cpu = time.process_time()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = now - self._lap
        self._lap = now

    def done(self) -> dict[str, float]:
        self.seconds["task wall"] = time.perf_counter() - self._start
        self.seconds["task cpu"] = time.process_time() - self._cpu
        return self.seconds


def process_shard(
    path: str | Path,
    out_dir: str | Path,
    vocabulary: Iterable[str],
    *,
    run_id: str,
    now: pd.Timestamp,
    source_name: str = "efetch",
    previous: pd.DataFrame | None = None,
) -> ShardResult:
    """Parse, merge, tag and count terms of one shard; write its partitions; return its counts.

    ``previous`` holds the stored records of the shard's PMID range (None for a new store): the
    merge is by PMID, so a range merges only with itself. Inputs whose PMIDs cross ranges (NLM's
    update files) are first grouped by range (a shuffle), which this demo does not need.
    """
    path, out = Path(path), Path(out_dir)
    vocab = list(vocabulary)
    clock = _Clock()
    parse = ParseStats()
    with _open_xml(path) as handle:
        incoming = records_frame(parse_pubmed_xml(handle, source_name=source_name, stats=parse))
    clock.lap("parse")
    records, changes = upsert_records(
        RECORDS.empty() if previous is None else previous, incoming, run_id, now
    )
    clock.lap("merge")
    tags = tag_records(records)
    clock.lap("tag")
    terms = term_rows(records, vocab)
    stats = CorpusStats.of(terms, vocab).to_frame()
    clock.lap("count terms")
    low = int(records["pmid"].astype(int).min()) if len(records) else 0
    files = {
        table.name: _write_partitions(table, frame, low, out)
        for table, frame in zip(PARTITIONED, (records, changes, tags, terms), strict=True)
    }
    clock.lap("write")
    return ShardResult(
        shard=path.name.split(".")[0],
        records=len(records),
        stats=stats,
        seconds=clock.done(),
        files=files,
        skipped=parse.skipped,
    )


def merge_stats(shards: Iterable[ShardResult], claims: ClaimSet) -> CorpusStats:
    """The whole corpus's statistics: each term's (and the corpus row's) counts summed."""
    frames = [s.stats for s in shards]
    summed = (
        pd.concat(frames, ignore_index=True)
        .groupby("term", as_index=False)[["docs", "tokens", "ref_docs", "ref_tokens"]]
        .sum()
        .assign(claims=lambda f: [[] for _ in range(len(f))])
    )
    return CorpusStats.from_frame(TERM_STATS.conform(summed)).rebased(claims.terms)


@dataclass
class ScoreResult:
    """A shard's candidate links, and the rows grading needs of their records (small)."""

    shard: str
    links: pd.DataFrame
    facts: pd.DataFrame  # FACT_COLUMNS of the linked records
    tags: pd.DataFrame  # their tags
    pairs_scored: int
    seconds: dict[str, float] = field(default_factory=dict)
    worker: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")


def _read(files: Sequence[Mapping[str, Any]], columns: list[str] | None = None) -> pa.Table:
    return pa.concat_tables([pq.read_table(f["path"], columns=columns) for f in files])


def _rows(files: Sequence[Mapping[str, Any]], table: Table, pmids: list[str]) -> pd.DataFrame:
    if not pmids:
        return table.empty()
    filters = [("pmid", "in", pmids)]
    found = pa.concat_tables([pq.read_table(f["path"], filters=filters) for f in files])
    return table.from_arrow(found)


def score_shard(
    shard: ShardResult,
    claims: ClaimSet,
    stats: CorpusStats,
    *,
    run_id: str,
    now: pd.Timestamp,
    threshold: float = DEFAULT_THRESHOLD,
    existing_links: pd.DataFrame | None = None,
    suggest: bool = True,
) -> ScoreResult:
    """Score a shard with the global statistics, propose links, suggest stances for new ones.

    ``existing_links`` is the store's links table (thousands of rows at most: every task gets
    it), so a curator's judgement is kept exactly as `relevance.candidate_links` keeps it.
    """
    clock = _Clock()
    terms = _read(shard.files["record_terms"])
    scores = score_terms(terms, claims.terms, stats)
    known = LINKS.empty() if existing_links is None else existing_links
    known = known[known["pmid"].isin(set(terms["pmid"].to_pylist()))]
    links = candidate_links(scores, known, threshold, run_id=run_id, now=now)
    clock.lap("score")
    linked = sorted(set(links["pmid"]))
    if suggest and len(links):
        text = _rows(shard.files["records"], RECORDS, linked)
        links = suggest_unassessed(links, text, claims.claims, now)
    clock.lap("suggest")
    facts = _rows(shard.files["records"], RECORDS, linked)[FACT_COLUMNS]
    tags = _rows(shard.files["tags"], TAGS, linked)
    return ScoreResult(shard.shard, links, facts, tags, len(scores), clock.done())


@dataclass
class RunResult:
    """A whole run: wall time per phase, counts, statistics, links, verdicts, the manifest."""

    seconds: dict[str, float]
    records: int
    shards: list[ShardResult]
    scores: list[ScoreResult]
    stats: CorpusStats
    links: pd.DataFrame
    verdicts: dict[str, Verdict]
    manifest: Path


def _commit(
    out: Path,
    shards: Sequence[ShardResult],
    stats: CorpusStats,
    links: pd.DataFrame,
    verdicts: pd.DataFrame,
) -> Path:
    """The single writer: the small tables, then one manifest naming every file, replaced."""
    tables: dict[str, list[dict[str, Any]]] = {t.name: [] for t in PARTITIONED}
    for s in sorted(shards, key=lambda s: s.shard):
        for name, files in s.files.items():
            tables[name] += [{**f, "path": str(Path(f["path"]).relative_to(out))} for f in files]
    for table, frame in ((TERM_STATS, stats.to_frame()), (LINKS, links), (VERDICTS, verdicts)):
        info = _write(table, table.to_arrow(frame), out / f"{table.name}.parquet")
        tables[table.name] = [{**info, "path": f"{table.name}.parquet"}]
    manifest = out / "manifest.json"
    tmp = manifest.with_name(".manifest.json.tmp")
    tmp.write_text(json.dumps({"tables": tables}, indent=1))
    os.replace(tmp, manifest)
    return manifest


def run(
    shards: Sequence[str | Path],
    out_dir: str | Path,
    claims: ClaimSet,
    *,
    registry: Registry | None = None,
    client: Client | None = None,
    run_id: str = "scaleout",
    now: pd.Timestamp | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    source_name: str = "efetch",
    suggest: bool = True,
) -> RunResult:
    """Map, reduce, map, grade, commit: on ``client``'s workers, or here when it is None."""
    out = Path(out_dir)
    now = now if now is not None else pd.Timestamp.now(tz="UTC")

    def mapped(fn: Callable[..., Any], items: Sequence[Any], **kwargs: Any) -> list[Any]:
        if client is None:
            return [fn(item, **kwargs) for item in items]
        return client.gather(client.map(fn, list(items), pure=False, **kwargs))

    marks = [time.perf_counter()]
    results: list[ShardResult] = mapped(
        process_shard,
        [str(s) for s in shards],
        out_dir=str(out),
        vocabulary=claims.vocabulary,
        run_id=run_id,
        now=now,
        source_name=source_name,
    )
    marks.append(time.perf_counter())
    stats = merge_stats(results, claims)
    marks.append(time.perf_counter())
    scored: list[ScoreResult] = mapped(
        score_shard,
        results,
        claims=claims,
        stats=stats,
        run_id=run_id,
        now=now,
        threshold=threshold,
        suggest=suggest,
    )
    marks.append(time.perf_counter())
    links = LINKS.conform(
        pd.concat([LINKS.empty(), *(s.links for s in scored if len(s.links))], ignore_index=True)
    )
    facts = pd.concat([s.facts for s in scored], ignore_index=True)
    tags = pd.concat([TAGS.empty(), *(s.tags for s in scored)], ignore_index=True)
    verdicts = grade_claims(claims.claims, links, facts, tags, as_of=now.date(), registry=registry)
    marks.append(time.perf_counter())
    frame = verdicts_frame(verdicts, run_id, now.to_pydatetime())
    manifest = _commit(out, results, stats, links, frame)
    marks.append(time.perf_counter())
    phases = ("map 1", "reduce stats", "map 2", "grade", "commit")
    seconds = {p: b - a for p, a, b in zip(phases, marks, marks[1:], strict=False)}
    seconds["total"] = marks[-1] - marks[0]
    return RunResult(
        seconds=seconds,
        records=sum(r.records for r in results),
        shards=results,
        scores=scored,
        stats=stats,
        links=links,
        verdicts=verdicts,
        manifest=manifest,
    )


def local_cluster(workers: int, memory_limit: str = "6GiB") -> tuple[LocalCluster, Client]:
    """A `dask.distributed.LocalCluster` of single-threaded worker *processes* (the GIL)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise ImportError('scale-out needs Dask: pip install -e ".[scale]"') from exc
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        memory_limit=memory_limit,
        dashboard_address=None,
    )
    return cluster, Client(cluster)
