"""The embedded default store and hand imports, through the same path as the refresh."""

from __future__ import annotations

import pandas as pd

from evidence.cli import main
from evidence.pipeline import build_default_store
from evidence.store import Store


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
