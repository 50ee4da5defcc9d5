"""The embedded default store and hand imports, through the same path as the refresh."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from evidence import pipeline
from evidence.claims import Registry, claims_frame, load_claims
from evidence.cli import main
from evidence.pipeline import Batch, build_default_store
from evidence.relevance import CorpusStats, claim_terms
from evidence.schema import RECORD_FIELDS
from evidence.store import Store
from evidence.verdict import verdicts_frame
from evidence.views import current_verdicts


def frames(store: Store) -> dict[str, pd.DataFrame]:
    snap = store.snapshot()
    return {name: snap[name] for name in snap}


def test_default_store_gives_every_claim_a_verdict_and_a_why(data_dir, capsys):
    store = build_default_store(data_dir)
    t = frames(store)
    assert len(t["records"]) == 67 and t["records"]["pmid"].is_unique
    assert set(t["records"]["origin"]) == {"curated"}
    assert t["links"]["stance_origin"].eq("curator").all()
    verdicts = t["verdicts"]
    assert sorted(verdicts["claim_id"]) == [f"C{i:02d}" for i in range(1, 18)]
    assert verdicts["grade"].ne("No evidence found").all()
    # the review table a clinician reads: claim -> verdict -> deciding PMIDs (+ why)
    assert main(["verdicts", "--why", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    print(out)
    rows = [line for line in out.splitlines() if line[:1] == "C"]
    assert len(rows) == 17
    whys = [line for line in out.splitlines() if line.strip().startswith("why:")]
    assert len(whys) == 17 and all(len(w) > 20 for w in whys)
    c13 = next(r for r in rows if r.startswith("C13"))
    assert "Contradicted" in c13 and "23774532" in c13  # indirect ECT evidence decides it


def test_curated_import_is_idempotent(data_dir):
    store = build_default_store(data_dir)
    first = frames(store)
    version = store.version
    build_default_store(data_dir)  # already imported: no new commit
    assert store.version == version
    assert (
        main(
            ["import", str(data_dir / "corpus/curated_evidence.jsonl"), "--data-dir", str(data_dir)]
        )
        == 0
    )
    again = frames(store)
    for name in ("records", "links", "tags", "claims", "record_changes"):
        pd.testing.assert_frame_equal(first[name], again[name], obj=name)


def test_bad_curated_file_names_line_and_field_and_writes_nothing(data_dir, capsys):
    store = build_default_store(data_dir)
    version = store.version
    bad = data_dir / "bad.csv"
    bad.write_text("pmid,claim,stance,note\n23774532,C03,supports,ok\n12AB,C03,supports,x\n")
    assert main(["import", str(bad), "--data-dir", str(data_dir)]) == 1
    err = capsys.readouterr().err
    assert "bad.csv" in err and ":3" in err and "pmid" in err
    bad.write_text("pmid,claim,stance,note\n23774532,C99,supports,x\n")
    assert main(["import", str(bad), "--data-dir", str(data_dir)]) == 1
    assert "C99" in capsys.readouterr().err
    bad.write_text("pmid,claim,stance,note\n23774532,C03,agrees,x\n")
    assert main(["import", str(bad), "--data-dir", str(data_dir)]) == 1
    assert "agrees" in capsys.readouterr().err
    assert store.version == version


def test_nbib_import_adds_records_with_their_indexing(data_dir, medline_dir):
    build_default_store(data_dir)
    path = medline_dir / "pubmed_result2.txt"
    assert main(["import", str(path), "--data-dir", str(data_dir)]) == 0
    records = Store.open(data_dir / "store").read("records").set_index("pmid")
    row = records.loc["16403221"]
    assert row["origin"] == "nbib" and row["source"] == "nbib"
    assert len(row["mesh"]) > 0 and pd.isna(row["last_checked"])  # not yet checked on PubMed
    assert row["title"].startswith("A high level interface to SCOP and ASTRAL")


# ----- cost that follows the change ------------------------------------------------------------


def _batch(registry: Registry, records: pd.DataFrame) -> Batch:
    """A refresh's batch: records, and the claims and topic queries of the registry."""
    topics = {k: t.query for k, t in registry.topics.items()}
    return Batch(
        records=records, claims=claims_frame(registry), topic_queries=topics, registry=registry
    )


def _retracted(store: Store, pmid: str) -> pd.DataFrame:
    """The stored record re-fetched from PubMed, now retracted (new content, new hash)."""
    row = store.snapshot().rows("records", [pmid])[list(RECORD_FIELDS.names)]
    return row.assign(retracted=True, source="efetch", content_hash="SYNTHETIC retracted")


def test_a_fold_regrades_only_the_claims_it_touches_and_carries_the_rest(data_dir, monkeypatch):
    store = build_default_store(data_dir)
    registry = load_claims(data_dir / "claims.yaml")
    links = store.read("links")
    pmid = links["pmid"].value_counts().index[-1]  # a study linked to few claims
    touched = set(links.loc[links["pmid"].eq(pmid), "claim_id"])
    graded: list[str] = []
    real = pipeline.grade_claims

    def spy(claims, *args, **kwargs):
        graded.extend(claims["claim_id"])
        return real(claims, *args, **kwargs)

    monkeypatch.setattr(pipeline, "grade_claims", spy)
    now = pd.Timestamp("2026-12-01", tz="UTC")
    batch = _batch(registry, _retracted(store, pmid))
    store.update(lambda snap: pipeline.apply_batch(snap, batch, "run-2", now), actor="test")

    assert set(graded) == touched and touched
    verdicts = store.read("verdicts")
    before = verdicts[verdicts["run_id"].eq("default")].set_index("claim_id")
    after = verdicts[verdicts["run_id"].eq("run-2")].set_index("claim_id")
    assert list(after.index) == list(before.index)  # a full snapshot row per claim and run
    kept = [c for c in after.index if c not in touched]
    same = ["grade", "score", "direction", "certainty", "n_supports", "n_contradicts", "basis"]
    pd.testing.assert_frame_equal(after.loc[kept, same], before.loc[kept, same])
    # and the rows equal grading every claim from the whole store now
    full = verdicts_frame(
        current_verdicts(store.snapshot(), now.date(), registry=registry), "run-2", now
    ).set_index("claim_id")
    pd.testing.assert_frame_equal(
        after.drop(columns=["computed_at"]), full.drop(columns=["computed_at"])
    )


def test_a_fold_writes_the_ranges_it_touches_not_the_tables(data_dir):
    store = build_default_store(data_dir)
    registry = load_claims(data_dir / "claims.yaml")
    manifest = json.loads((store.root / "manifest.json").read_text())
    tables = store.root / "tables"
    before = {p.name for p in tables.iterdir()}
    pmid = store.read("links")["pmid"].iloc[0]
    batch = _batch(registry, _retracted(store, pmid))
    now = pd.Timestamp("2026-12-01", tz="UTC")
    store.update(lambda snap: pipeline.apply_batch(snap, batch, "run-2", now), actor="test")

    after = json.loads((store.root / "manifest.json").read_text())
    changed = {t for t in after["tables"] if after["tables"][t] != manifest["tables"][t]}
    # the record, its change, tags, facts and terms; links (relevance), verdicts: not claims...
    assert changed <= {
        "records",
        "record_changes",
        "tags",
        "record_facts",
        "record_terms",
        "links",
        "verdicts",
    }
    assert "term_stats" not in changed  # its text did not change: the statistics neither
    written = {p.name for p in tables.iterdir()} - before
    assert len([n for n in written if n.startswith("records-p")]) == 1  # one range of records


def test_a_schema_version_2_store_is_migrated_with_its_relevance_statistics(data_dir, medline_dir):
    store = build_default_store(data_dir)
    root = store.root
    manifest = json.loads((root / "manifest.json").read_text())
    tables = {}
    for name, rel in manifest["tables"].items():  # as version 2 wrote it: one file per table
        if name in ("record_terms", "term_stats"):
            continue
        files = [rel]
        if rel.endswith(".json"):
            files = list(json.loads((root / rel).read_text())["files"].values())
        table = pa.concat_tables(
            [pq.read_table(root / f).replace_schema_metadata(None) for f in files]
        )
        if name == "verdicts":
            table = table.drop_columns(["basis"])
        if name == "links":
            table = table.drop_columns(["curator_note"])  # schema v4
        tables[name] = f"tables/{name}-{manifest['version']}.parquet"
        meta = {b"evidence.schema_version": b"2", b"evidence.table": name.encode()}
        pq.write_table(table.replace_schema_metadata(meta), root / tables[name])
    manifest.update(schema_version=2, tables=tables, previous={}, checksums={})
    (root / "manifest.json").write_text(json.dumps(manifest))

    migrated = Store.open(root)
    assert json.loads((root / "manifest.json").read_text())["schema_version"] == 4
    assert len(migrated.read("record_terms")) == 67
    stats = CorpusStats.from_frame(migrated.read("term_stats"))
    assert stats.current.docs == stats.reference.docs == 67
    assert migrated.read("verdicts")["basis"].eq("").all()
    assert migrated.check().healthy

    # The first fold brings the topic queries' terms (not in the store): counted once, and every
    # claim graded again (its basis was unknown).
    assert (
        main(["import", str(medline_dir / "pubmed_result2.txt"), "--data-dir", str(data_dir)]) == 0
    )
    after = Store.open(root)
    registry = load_claims(data_dir / "claims.yaml")
    terms = claim_terms(claims_frame(registry), {k: t.query for k, t in registry.topics.items()})
    stats = CorpusStats.from_frame(after.read("term_stats"))
    assert set().union(*terms.values()) <= stats.vocabulary
    assert stats.current.docs == len(after.read("records")) == len(after.read("record_terms"))
    verdicts = after.read("verdicts")
    assert verdicts.loc[verdicts["run_id"].str.startswith("import-"), "basis"].ne("").all()
