"""The dashboard's numbers, computed from a real store built in a temp dir."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from evidence import claim_view, labels, literature_view, overview_view, views
from evidence.auth import EDITOR, NotAllowed, User
from evidence.merges import upsert_links, upsert_records
from evidence.schema import LINKS, RECORDS, RUNS
from evidence.store import Store
from evidence.verdict import grade_claims
from tests import store_synthetic as syn
from tests.dashboard_store import XSS_PMID, XSS_TITLE, make_data_dir

AS_OF = date(2026, 11, 26)
ALICE = User("alice", EDITOR, "password")
VIEWER = User("bob")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return make_data_dir(tmp_path)


@pytest.fixture
def store(data_dir: Path) -> Store:
    return Store.open(data_dir / "store")


def test_overview_matches_the_stored_verdicts_and_link_counts(store: Store, data_dir: Path) -> None:
    snap = store.snapshot()
    registry = views.load_registry(data_dir)
    verdicts = views.current_verdicts(snap, as_of=AS_OF, registry=registry)
    table = overview_view.overview_table(snap, verdicts).set_index("claim_id")
    assert sorted(table.index) == sorted(snap["claims"]["claim_id"])  # ordered by certainty
    stored = snap["verdicts"].set_index("claim_id")
    assert table.at["C07", "verdict"] == stored.at["C07", "grade"]
    for shown, kept in [("verdict", "grade"), ("direction", "direction")]:
        assert (table[shown] == stored.loc[table.index, kept]).all(), shown
    for column in ("certainty", "needs_review"):
        assert (table[column] == stored.loc[table.index, column]).all(), column
    assert table.at["C14", "parts"] == 2 and table.at["C14", "verdict"] == "Limited"
    links = snap["links"]
    c07 = links[links["claim_id"].eq("C07")]
    assert table.at["C07", "supporting"] == c07["stance"].eq("supports").sum()
    years = snap["records"].set_index("pmid")["pub_year"]
    counted = c07[c07["stance"].isin(["supports", "contradicts", "mixed"])]
    assert table.at["C07", "newest_evidence"] == counted["pmid"].map(years).max()
    assert table.at["C07", "flags"] == ""  # all curator-judged, nothing retracted


def test_filter_overview(store: Store) -> None:
    snap = store.snapshot()
    table = overview_view.overview_table(snap, views.current_verdicts(snap, as_of=AS_OF))
    grade = table.at[0, "verdict"]
    only = overview_view.filter_overview(table, verdicts=[grade])
    assert len(only) == (table["verdict"] == grade).sum() and set(only["verdict"]) == {grade}
    tms = overview_view.filter_overview(table, topics=["tms"])
    assert 0 < len(tms) < len(table)
    assert all("tms" in t.split(", ") for t in tms["topics"])
    assert overview_view.filter_overview(table, content_files=["nope.md"]).empty


def test_flags_retracted_and_new_unreviewed_evidence(store: Store) -> None:
    snap = store.snapshot()
    supporting = snap["links"].query("claim_id == 'C07' and stance == 'supports'")["pmid"].iloc[0]
    later = pd.Timestamp("2027-01-05", tz="UTC")

    def change(s):
        records = s["records"].copy()
        records.loc[records["pmid"].eq(supporting), "retracted"] = True
        records, _ = upsert_records(records, syn.records([syn.record(2)]), "r2", later)
        new = syn.links(
            [
                syn.link(
                    "C07",
                    2,
                    stance="supports",
                    stance_origin="suggested",
                    stance_confidence=0.7,
                    first_linked_run="r2",
                    updated_at=later,
                )
            ]
        )
        runs = pd.concat([s["runs"], syn.run("r2", later)], ignore_index=True)
        return {
            "records": RECORDS.conform(records),
            "links": LINKS.conform(upsert_links(s["links"], new)),
            "runs": RUNS.conform(runs),
        }

    store.update(change, actor="tests")
    snap = store.snapshot()
    verdicts = views.current_verdicts(snap, as_of=AS_OF)
    table = overview_view.overview_table(snap, verdicts)
    row = table.set_index("claim_id").loc["C07"]
    assert row["cites_retracted"]
    assert row["new_since_review"] == 1 and row["awaiting_review"] == 1
    screen = overview_view.first_screen(table)
    flagged = screen[screen["standing"].eq(overview_view.ATTENTION)].set_index("claim_id")
    assert list(screen["claim_id"][: len(flagged)]) == list(flagged.index)  # on top
    assert flagged.at["C07", "attention"] == (
        "cites a retracted study; 1 new study since review; 1 suggested study to review"
    )
    linked = snap["links"].query("pmid == @supporting")
    citing = set(linked[linked["stance"].isin(["supports", "contradicts", "mixed"])]["claim_id"])
    assert set(flagged.index) == citing | {"C07"}
    assert (flagged.drop(index="C07")["attention"] == "cites a retracted study").all()
    assert overview_view.standing_counts(screen).startswith(f"{len(flagged)} need")
    assert "cites a retracted study" in row["flags"] and "1 new since last review" in row["flags"]


def test_claim_detail_lists_every_linked_study(store: Store) -> None:
    snap = store.snapshot()
    verdicts = views.current_verdicts(snap, as_of=AS_OF)
    detail = views.claim_detail(snap, "C07", verdicts["C07"])
    links = snap["links"].query("claim_id == 'C07'")
    assert sorted(detail.evidence["pmid"]) == sorted(links["pmid"])
    assert set(detail.evidence.loc[detail.evidence["deciding"], "pmid"]) == {
        s.pmid for s in verdicts["C07"].deciding
    }
    xss = detail.evidence.set_index("pmid").loc[XSS_PMID]
    assert xss["title"] == XSS_TITLE and xss["pubmed_url"].endswith(f"/{XSS_PMID}/")
    pyramid = claim_view.evidence_pyramid(detail.evidence)
    assert pyramid["studies"].sum() == (detail.evidence["stance"] != "irrelevant").sum()
    assert pyramid["level"].between(1, 5).all()
    assert set(pyramid["level"]) == set(detail.evidence["level"].dropna())  # a bar per level
    assert (pyramid["level_label"] == "Level " + pyramid["level"].astype(str)).all()
    assert detail.evidence["direct"].all() and detail.evidence["indirect_because"].eq("").all()
    with pytest.raises(KeyError):
        views.claim_detail(snap, "C99", verdicts["C07"])
    c12 = views.claim_detail(snap, "C12", verdicts["C12"]).evidence.set_index("pmid")
    assert not c12.at["28789578", "direct"]
    assert c12.at["28789578", "indirect_because"].startswith("reward circuitry in depression")
    assert not c12.at["26993786", "direct"]  # healthy volunteers: indirect by design
    assert "volunteers without the condition" in c12.at["26993786", "indirect_because"]


def test_relevant_passages_mark_the_sentence_about_the_claim() -> None:
    text = (
        "Participants were recruited in two clinics. "
        "Emotional blunting was reported by 46% of patients taking SSRIs. "
        "Funding came from a charity."
    )
    pieces = views.relevant_passages("SSRIs cause emotional blunting in many patients", text, k=1)
    assert "".join(p for p, _ in pieces) == text
    assert [p.strip() for p, hit in pieces if hit] == [
        "Emotional blunting was reported by 46% of patients taking SSRIs."
    ]
    assert views.study_text("", "a note") == ("Curator's note (no abstract stored)", "a note")
    assert views.study_text("an abstract", "a note")[1] == "an abstract"


def test_post_segments_colour_each_claim_sentence(store: Store, data_dir: Path) -> None:
    snap = store.snapshot()
    verdicts = views.current_verdicts(snap, as_of=AS_OF)
    name = snap["claims"].set_index("claim_id").at["C07", "content_file"]
    segments = views.post_segments(snap, data_dir / "content", name, verdicts)
    text = (data_dir / "content" / name).read_text(encoding="utf-8")
    assert text.endswith("".join(s for s, _, _ in segments))
    by_claim = {c: (s, g) for s, c, g in segments if c}
    quote_start = snap["claims"].set_index("claim_id").loc["C07"]
    assert by_claim["C07"] == (
        text[int(quote_start["quote_start"]) : int(quote_start["quote_end"])],
        verdicts["C07"].grade,
    )
    assert views.posts(snap, data_dir / "content") == [name]


def test_literature_filters(store: Store) -> None:
    snap = store.snapshot()
    table = literature_view.literature_table(snap)
    assert len(table) == len(snap["records"])
    assert (
        literature_view.filter_literature(table, literature_view.LiteratureFilter()).shape
        == table.shape
    )
    hits = literature_view.filter_literature(
        table, literature_view.LiteratureFilter(years=(2015, 2020))
    )
    assert hits["year"].between(2015, 2020).all()
    assert len(hits) == table["year"].between(2015, 2020).sum()
    rct = literature_view.filter_literature(
        table, literature_view.LiteratureFilter(designs=("meta-analysis",))
    )
    assert len(rct) and set(rct["design"]) == {"meta-analysis"}
    words = literature_view.filter_literature(
        table, literature_view.LiteratureFilter(text="emotional BLUNTING")
    )
    assert len(words) and words["title"].str.lower().str.contains("emotional").all()
    synthetic = literature_view.filter_literature(
        table, literature_view.LiteratureFilter(mesh="humans")
    )
    assert list(synthetic["pmid"]) == [XSS_PMID]  # only the synthetic record carries MeSH
    assert list(
        literature_view.filter_literature(
            table, literature_view.LiteratureFilter(has_abstract=True)
        )["pmid"]
    ) == [XSS_PMID]
    assert literature_view.filter_literature(
        table, literature_view.LiteratureFilter(retracted=True)
    ).empty
    per_year = literature_view.studies_per_year(table)
    tagged = table[table["year"].notna()]
    assert per_year["studies"].sum() == sum(max(1, len(t.split(", "))) for t in tagged["topics"])
    assert literature_view.design_distribution(table)["studies"].sum() == len(table)


def test_viewer_cannot_curate_and_nothing_is_written(store: Store) -> None:
    before = store.version
    with pytest.raises(NotAllowed):
        views.curate(store, VIEWER, "C07", XSS_PMID, stance="supports")
    with pytest.raises(NotAllowed):
        views.attach_pmid(store, VIEWER, "C01", XSS_PMID)
    assert store.version == before and store.read("audit").empty


def test_editor_curation_is_audited_and_changes_the_verdict_at_once(store: Store) -> None:
    snap = store.snapshot()
    supports = list(snap["links"].query("claim_id == 'C07' and stance == 'supports'")["pmid"])
    old = views.current_verdicts(snap)["C07"]
    for pmid in supports:
        new = views.curate(
            store, ALICE, "C07", pmid, stance="contradicts", note="SYNTHETIC test note"
        )
    assert new.grade != old.grade and new.counts["contradicts"] == len(supports)
    audit = store.read("audit")
    assert list(audit["actor"]) == ["alice"] * len(supports)
    assert list(audit["action"]) == [views.SET_STANCE] * len(supports)
    assert json.loads(audit["after"].iloc[0])["stance"] == "contradicts"
    expected = grade_claims(
        store.read("claims"), store.read("links"), store.read("records"), store.read("tags")
    )["C07"]
    assert new.grade == expected.grade

    irrelevant = views.curate(
        store, ALICE, "C07", XSS_PMID, stance="irrelevant", action=views.MARK_IRRELEVANT
    )
    assert irrelevant.counts["background"] == old.counts["background"] - 1
    assert store.read("audit")["action"].iloc[-1] == views.MARK_IRRELEVANT


def test_attach_pmid(store: Store) -> None:
    with pytest.raises(ValueError, match="not in the store"):
        views.attach_pmid(store, ALICE, "C01", "PMID: 99999991")
    with pytest.raises(ValueError, match="not a PMID"):
        views.attach_pmid(store, ALICE, "C01", "abc")
    verdict = views.attach_pmid(store, ALICE, "C01", f"PMID: {XSS_PMID}", stance="background")
    assert verdict.counts["background"] >= 1
    link = store.read("links").query("claim_id == 'C01' and pmid == @XSS_PMID").iloc[0]
    assert link["stance"] == "background" and link["stance_origin"] == "curator"
    assert store.read("audit")["action"].iloc[-1] == views.ATTACH_PMID
    with pytest.raises(ValueError, match="already linked"):
        views.attach_pmid(store, ALICE, "C01", XSS_PMID)


def test_open_or_build_builds_on_first_start_and_explains_when_it_cannot(tmp_path: Path) -> None:
    from evidence.errors import StoreError

    with pytest.raises(StoreError, match="no evidence store"):
        views.open_or_build(tmp_path)
    repo_data = Path(__file__).resolve().parent.parent / "data"
    data = tmp_path / "d"
    data.mkdir()
    for name in ("claims.yaml", "content", "corpus"):
        (data / name).symlink_to(repo_data / name)
    store = views.open_or_build(data)
    assert (data / "store" / "manifest.json").exists() and len(store.read("claims")) > 0


def test_overview_export_has_direction_certainty_and_the_plain_why(
    store: Store, data_dir: Path
) -> None:
    import csv
    import io

    snap = store.snapshot()
    verdicts = views.current_verdicts(snap, as_of=AS_OF, registry=views.load_registry(data_dir))
    table = overview_view.overview_table(snap, verdicts)
    rows = list(csv.DictReader(io.StringIO(overview_view.overview_export(table, verdicts))))
    assert [r["claim_id"] for r in rows] == list(table["claim_id"])
    c12 = next(r for r in rows if r["claim_id"] == "C12")
    assert (c12["verdict"], c12["direction"], c12["certainty"]) == (
        verdicts["C12"].grade,
        verdicts["C12"].direction,
        verdicts["C12"].certainty,
    )
    assert c12["why"].startswith("No study has tested TMS for antidepressant-induced")


def test_first_screen_puts_attention_first_then_weakest_to_strongest(store: Store) -> None:
    snap = store.snapshot()
    table = overview_view.overview_table(snap, views.current_verdicts(snap, as_of=AS_OF))
    screen = overview_view.first_screen(table)
    assert sorted(screen["claim_id"]) == sorted(table["claim_id"]) and len(screen) == 17
    assert list(screen.columns) == overview_view.FIRST_SCREEN_COLUMNS
    supported = screen["verdict"].isin(overview_view.SUPPORTED_GRADES)
    assert (screen.loc[supported, "standing"] == overview_view.SUPPORTED).all()
    assert (screen.loc[~supported, "standing"] == overview_view.WEAK).all()
    # every weak claim above every supported one, each group weakest first (the overview table
    # ranks strongest first, so the order inside a group is the table's order reversed)
    standings = list(screen["standing"])
    assert standings == sorted(standings, key=overview_view.STANDINGS.index)
    strongest_first = list(table["claim_id"])
    for group in (overview_view.WEAK, overview_view.SUPPORTED):
        ids = list(screen.loc[screen["standing"].eq(group), "claim_id"])
        assert ids == [c for c in reversed(strongest_first) if c in set(ids)]
    assert screen["claim_id"].iloc[-1] == strongest_first[0]
    assert screen["attention"].eq("").all()  # the bundled evidence: all curator-judged
    detail = overview_view.detail_table(table)
    assert list(detail.columns) == overview_view.DETAIL_COLUMNS
    assert list(detail["claim_link"]) == [f"./claim?claim={c}" for c in table["claim_id"]]
    none = table["direct_evidence"].eq("none")
    assert (detail.loc[none, "direct_evidence"] == "no direct study").all()
    assert not detail["direct_evidence"].eq("none").any()
    counts = overview_view.standing_counts(screen)
    assert counts == (
        f"0 need attention · {(~supported).sum()} weak · {supported.sum()} supported (of 17 claims)"
    )


def test_choose_claim_names_an_unknown_claim_instead_of_showing_another() -> None:
    ids = ["C01", "C02"]
    assert claim_view.choose_claim("C02", "C01", ids) == claim_view.ClaimChoice("C02")
    assert claim_view.choose_claim(None, "C02", ids) == claim_view.ClaimChoice("C02")
    assert claim_view.choose_claim(None, None, ids) == claim_view.ClaimChoice("C01")
    unknown = claim_view.choose_claim("C99", "C01", ids)
    assert unknown.claim_id is None and unknown.error.startswith("No claim C99:")
    assert claim_view.permalink("http://127.0.0.1:8501/overview", "C03") == (
        "http://127.0.0.1:8501/claim?claim=C03"
    )
    assert claim_view.permalink("http://host/app/claim", "C03") == "http://host/app/claim?claim=C03"
    assert claim_view.permalink("http://host/", "C03;x") == ""
    assert (
        claim_view.claim_path("C03") == "./claim?claim=C03" and claim_view.claim_path("<x>") == "#"
    )
    assert claim_view.pubmed_link("123") == "[PMID 123](https://pubmed.ncbi.nlm.nih.gov/123/)"
    assert claim_view.link_pmids("PMID 123: a trial; PMID 45.") == (
        "[PMID 123](https://pubmed.ncbi.nlm.nih.gov/123/): a trial; "
        "[PMID 45](https://pubmed.ncbi.nlm.nih.gov/45/)."
    )


def test_labels_words_counts_and_dates() -> None:
    assert labels.label("run_id") == "Run" and labels.label("n_supports") == "Supporting studies"
    assert labels.label("some_new_column") == "Some new column"
    assert [labels.count(n, "study") for n in (0, 1, 2)] == ["0 studies", "1 study", "2 studies"]
    assert labels.count(1, "claim") == "1 claim" and labels.count(1200, "claim") == "1,200 claims"
    assert labels.when(pd.Timestamp("2026-11-26", tz="UTC")) == "2026-11-26"
    assert labels.when(pd.Timestamp("2026-11-26 14:03:59", tz="UTC")) == "2026-11-26 14:03"
    assert labels.when(None) == "" and labels.when(pd.NaT) == ""
    frame = pd.DataFrame(
        {
            "text": ["a", None],
            "n": pd.array([120, None], dtype="Int64"),
            "score": [3, 4],
            "at": pd.to_datetime(["2026-11-26", None], utc=True),
            "flag": [True, False],
            "maybe": [True, None],
        }
    )
    shown = labels.display(frame)
    assert shown["text"].tolist() == ["a", ""] and shown["n"].tolist() == ["120", ""]
    assert shown["score"].tolist() == [3, 4]  # no gaps: still numbers
    assert shown["at"].tolist() == ["2026-11-26", ""]
    assert shown["flag"].tolist() == [True, False] and shown["maybe"].tolist() == ["yes", ""]
