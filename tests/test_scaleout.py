"""Scale-out: shards give the answers of one process over all records (in-process, then on Dask)."""

from __future__ import annotations

import gzip
import hashlib
import json
import re

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evidence import scaleout
from evidence.claims import claims_frame, load_claims
from evidence.relevance import score_relevance, score_terms
from evidence.schema import RECORDS, TAGS
from evidence.tagging import tag_records
from tests.conftest import shared_path

_CITATION = re.compile(rb"<MedlineCitation[ >].*?</MedlineCitation>", re.S)
_PMID = re.compile(rb"<PMID[^>]*>(\d+)</PMID>")


def _shards(tmp_path, parts: int = 3) -> list:
    """The MEDLINE fixture's citations as PMID-ordered PubmedArticleSet .xml.gz shards."""
    data = gzip.decompress(shared_path("fixtures", "medline", "medline16n0902.xml.gz").read_bytes())
    cites = sorted(_CITATION.findall(data), key=lambda c: int(_PMID.search(c).group(1)))
    size = -(-len(cites) // parts)
    paths = []
    for i in range(parts):
        body = b"".join(
            b"<PubmedArticle>" + c + b"</PubmedArticle>\n" for c in cites[i * size : (i + 1) * size]
        )
        path = tmp_path / f"shard-{i}.xml.gz"
        path.write_bytes(gzip.compress(b"<PubmedArticleSet>\n" + body + b"</PubmedArticleSet>\n"))
        paths.append(path)
    return paths


def _read(result: scaleout.RunResult, name: str, table) -> pd.DataFrame:
    files = [f["path"] for s in result.shards for f in s.files[name]]
    return table.from_arrow(pa.concat_tables([pq.read_table(p) for p in files]))


def test_sharded_run_matches_one_process(tmp_path, data_dir):
    registry = load_claims(data_dir / "claims.yaml")
    topics = {k: t.query for k, t in registry.topics.items()}
    claims = scaleout.claim_set(claims_frame(registry), topics)
    now = pd.Timestamp("2026-11-26", tz="UTC")
    result = scaleout.run(_shards(tmp_path), tmp_path / "out", claims, registry=registry, now=now)

    records = _read(result, "records", RECORDS)
    assert len(records) == result.records == 604
    key = ["claim_id", "pmid"]
    whole = score_relevance(records, claims.claims, topics).sort_values(key, ignore_index=True)
    sharded = pd.concat(
        [
            score_terms(
                pa.concat_tables([pq.read_table(f["path"]) for f in s.files["record_terms"]]),
                claims.terms,
                result.stats,
            )
            for s in result.shards
        ],
        ignore_index=True,
    ).sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(whole, sharded)  # global statistics: exact, not per shard

    tag_key = list(TAGS.key)
    pd.testing.assert_frame_equal(
        tag_records(records).sort_values(tag_key, ignore_index=True),
        _read(result, "tags", TAGS).sort_values(tag_key, ignore_index=True),
    )
    assert set(result.verdicts) == set(claims.claims["claim_id"])

    manifest = json.loads(result.manifest.read_text())["tables"]
    for files in manifest.values():
        for f in files:
            path = tmp_path / "out" / f["path"]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == f["sha256"]
    assert not list((tmp_path / "out").rglob("*.tmp"))


def test_dask_workers_give_the_in_process_answers(tmp_path, data_dir):
    pytest.importorskip(
        "distributed", reason='Dask is the optional extra: pip install -e ".[scale]"'
    )
    registry = load_claims(data_dir / "claims.yaml")
    topics = {k: t.query for k, t in registry.topics.items()}
    claims = scaleout.claim_set(claims_frame(registry), topics)
    now = pd.Timestamp("2026-11-26", tz="UTC")
    shards = _shards(tmp_path, parts=2)
    here = scaleout.run(
        shards, tmp_path / "here", claims, registry=registry, now=now, suggest=False
    )
    cluster, client = scaleout.local_cluster(2, memory_limit="2GiB")
    try:
        there = scaleout.run(
            shards,
            tmp_path / "there",
            claims,
            registry=registry,
            now=now,
            client=client,
            suggest=False,
        )
    finally:
        client.close()
        cluster.close()
    assert there.records == here.records == 604
    key = ["claim_id", "pmid"]
    pd.testing.assert_frame_equal(
        here.links.sort_values(key, ignore_index=True),
        there.links.sort_values(key, ignore_index=True),
    )
    assert {k: v.grade for k, v in here.verdicts.items()} == {
        k: v.grade for k, v in there.verdicts.items()
    }
