"""Verdicts that cannot over-claim, on the real default store built from data/corpus.

Suggestions never raise a grade; directness comes from the corpus, from a study's design and
from an editor's audited change; compound claims are graded part by part; and the why a
clinician reads states the gap, in words, without rule ids or weights.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import evidence.migrations  # noqa: F401  (registers MIGRATIONS[1] until store.py imports it)
from evidence import overview_view, views
from evidence.auth import EDITOR, NotAllowed, User
from evidence.certainty import sort_key
from evidence.claims import load_claims
from evidence.cli import main
from evidence.levels import CERTAINTIES, RULE_IDS, load_rubric
from evidence.merges import upsert_links, upsert_records
from evidence.pipeline import build_default_store
from evidence.schema import LINKS, RECORDS, SCHEMA_VERSION
from evidence.store import Store
from evidence.verdict import GRADE_STRENGTH, grade_claims
from tests import store_synthetic as syn
from tests.conftest import REPO, copy_default_data

ALICE = User("alice", EDITOR, "password")
VIEWER = User("bob")
NOW = pd.Timestamp("2026-11-26", tz="UTC")
# Two real TMS-for-depression RCTs from the corpus that say nothing about emotional blunting.
DEPRESSION_RCTS = ("25655160", "29955803")
RAW_WEIGHT = re.compile(r"\b\d+\.\d+\b")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One default store for the read-only tests (the CLI output)."""
    data = copy_default_data(tmp_path_factory.mktemp("default") / "data")
    build_default_store(data)
    return data


@pytest.fixture
def store(data_dir: Path) -> Store:
    return build_default_store(data_dir)


def _verdicts(store: Store, data_dir: Path):
    return views.current_verdicts(store.snapshot(), registry=views.load_registry(data_dir))


def _why_blocks(text: str) -> dict[str, str]:
    """`evidence verdicts --why` output cut into one block per claim."""
    blocks: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^(C\d\d)\s", line)
        if m:
            current = m.group(1)
        if current:
            blocks.setdefault(current, []).append(line)
    return {c: "\n".join(lines) for c, lines in blocks.items()}


def _suggest(store: Store, claim_id: str, stance: str, pmids: list[str]) -> None:
    """Machine-suggested stances on links of ``claim_id`` (records must be in the store)."""
    rows = [
        syn.link(
            claim_id,
            0,
            pmid=pmid,
            stance=stance,
            stance_origin="suggested",
            stance_confidence=0.9,
            stance_evidence="SYNTHETIC driving sentence.",
            first_linked_run="default",
            updated_at=NOW,
            updated_by="suggester (test)",
        )
        for pmid in pmids
    ]
    store.update(
        lambda s: {"links": LINKS.conform(upsert_links(s["links"], syn.links(rows)))},
        actor="tests",
    )


def _add_synthetic_records(store: Store, n: int) -> list[str]:
    recs = syn.records([syn.record(i) for i in range(1, n + 1)])
    store.update(
        lambda s: {"records": RECORDS.conform(upsert_records(s["records"], recs, "r", NOW)[0])},
        actor="tests",
    )
    return [syn.pmid(i) for i in range(1, n + 1)]


# --- the why a clinician reads ---------------------------------------------------------------


def test_why_states_each_gap_in_plain_words(built: Path, capsys) -> None:
    assert main(["verdicts", "--why", "--data-dir", str(built)]) == 0
    blocks = _why_blocks(capsys.readouterr().out)
    assert sorted(blocks) == [f"C{i:02d}" for i in range(1, 18)]
    expected = {
        "C12": "No study has tested TMS for antidepressant-induced emotional blunting.",
        "C13": "No study has tested stopping antidepressants after a successful course of TMS.",
        "C14": "No study confirms the 20–40 minute session length.",
        "C16": "It rests on a single study, a randomized controlled trial of 127 participants",
    }
    for claim_id, gap in expected.items():
        block = blocks[claim_id]
        why_line = next(line for line in block.splitlines() if line.strip().startswith("why:"))
        assert why_line.strip().removeprefix("why: ").startswith(gap), (claim_id, why_line)
        assert not [r for r in RULE_IDS if r in block], claim_id  # no internal rule ids
        assert not RAW_WEIGHT.search(block), (claim_id, RAW_WEIGHT.search(block))
    # the closest evidence is named with the curators' reasons for its indirectness
    assert "two indirect studies (" in blocks["C12"] and "is mixed" in blocks["C12"]
    assert "ECT, not TMS" in blocks["C13"] and "points against it" in blocks["C13"]
    assert "3-week period" in blocks["C16"]  # the curator's reading of the one trial
    # details after the plain lines: deciding studies with design, size, year and directness
    assert (
        "PMID 28789578: randomized controlled trial (level 2 of 5), 50 participants, 2018, "
        "indirect: reward circuitry in depression" in blocks["C12"]
    )
    assert "The other part, “A standard TMS course is five sessions a week" in blocks["C14"]


def test_why_never_contradicts_itself(built: Path, capsys) -> None:
    """The old why said "support (none)" beside "supporting weight 0.45", and called an indirect
    meta-analysis "level 2"; now the counts and levels it states are the studies' own."""
    main(["verdicts", "--json", "--data-dir", str(built)])
    claims = {c["id"]: c for c in json.loads(capsys.readouterr().out)}
    for c in claims.values():
        text = c["why"] + " ".join(c["details"])
        assert not RAW_WEIGHT.search(text), c["id"]
        supporting = [d for d in c["deciding"] if d["stance"] == "supports"]
        if not supporting:
            assert "support it" not in c["why"] and "supports it" not in c["why"], c["id"]
    meta = next(d for d in claims["C13"]["deciding"] if d["pmid"] == "23774532")
    assert (meta["design"], meta["level"], meta["direct"]) == ("meta-analysis", 1, False)
    assert "PMID 23774532: meta-analysis (level 1 of 5)" in " ".join(claims["C13"]["details"])


def test_json_lists_grade_direction_certainty_parts_and_deciding_studies(
    built: Path, capsys
) -> None:
    assert main(["verdicts", "--json", "--data-dir", str(built)]) == 0
    claims = {c["id"]: c for c in json.loads(capsys.readouterr().out)}
    c14 = claims["C14"]
    assert (c14["grade"], c14["direction"]) == ("Limited", "mixed")
    assert c14["certainty"] in CERTAINTIES and c14["why"].startswith("No study confirms")
    parts = {p["id"]: p for p in c14["parts"]}
    assert parts["C14a"]["grade"] == "Supported" and parts["C14b"]["grade"] == "Limited"
    assert {d["pmid"] for d in parts["C14b"]["deciding"]} == {"37657200", "39725000"}
    first = claims["C12"]["deciding"][0]
    assert set(first) >= {"pmid", "design", "direct", "stance", "origin"}
    assert all(not d["direct"] and d["origin"] == "curator" for d in claims["C12"]["deciding"])


# --- only curator-confirmed, direct evidence raises a grade ----------------------------------


def test_suggestions_never_raise_a_grade(store: Store, data_dir: Path) -> None:
    before = _verdicts(store, data_dir)["C12"]
    assert GRADE_STRENGTH[before.grade] <= GRADE_STRENGTH["Limited"]
    synthetic = _add_synthetic_records(store, 8)
    _suggest(store, "C12", "supports", [*DEPRESSION_RCTS, *synthetic])

    after = _verdicts(store, data_dir)["C12"]
    assert (after.grade, after.score, after.direction, after.certainty) == (
        before.grade,
        before.score,
        before.direction,
        before.certainty,
    )
    assert after.suggested == {"supports": 10} and not after.needs_review
    assert not {d.pmid for d in after.deciding} & {*DEPRESSION_RCTS, *synthetic}
    assert "Ten machine-suggested studies await review (ten suggesting support)" in after.why
    stored = store.read("verdicts")  # the pipeline grades the same way
    snap = store.snapshot()
    regraded = grade_claims(
        snap["claims"], snap["links"], snap["records"], snap["tags"], registry=None
    )
    assert regraded["C12"].grade == stored.set_index("claim_id").at["C12", "grade"]


def test_a_suggested_contradiction_flags_the_claim_for_review(store: Store, data_dir: Path) -> None:
    before = _verdicts(store, data_dir)["C07"]
    _suggest(store, "C07", "contradicts", [DEPRESSION_RCTS[1]])
    after = _verdicts(store, data_dir)["C07"]
    assert after.grade == before.grade and after.needs_review
    assert f"Needs review: the machine suggests that PMID {DEPRESSION_RCTS[1]}" in after.why
    table = overview_view.overview_table(store.snapshot(), _verdicts(store, data_dir))
    row = table.set_index("claim_id").loc["C07"]
    assert row["needs_review"] and "needs review" in row["flags"]


def test_accepting_a_suggestion_changes_the_grade_only_as_the_rubric_says(
    store: Store, data_dir: Path
) -> None:
    _suggest(store, "C12", "supports", list(DEPRESSION_RCTS))
    registry = views.load_registry(data_dir)
    # A curator confirms one: a direct, curator-confirmed RCT supporting the claim is exactly
    # what the rubric's "supported" rule asks for.
    accepted = views.curate(
        store,
        ALICE,
        "C12",
        DEPRESSION_RCTS[0],
        stance="supports",
        action=views.ACCEPT_SUGGESTION,
        registry=registry,
    )
    assert (accepted.rule, accepted.grade) == ("supported", "Supported")
    assert accepted.suggested == {"supports": 1}
    # ... and judges it indirect (depression, not blunting): no direct support, back to Limited
    judged = views.set_directness(
        store,
        ALICE,
        "C12",
        DEPRESSION_RCTS[0],
        direct=False,
        because="TMS for depression, not antidepressant-induced blunting",
        registry=registry,
    )
    assert judged.grade == "Limited" and judged.certainty in ("low", "very low")
    assert "TMS for depression, not antidepressant-induced blunting" in judged.why
    audit = store.read("audit")
    assert list(audit["action"]) == [views.ACCEPT_SUGGESTION, views.SET_DIRECTNESS]
    change = audit.iloc[-1]
    assert (change["actor"], change["claim_id"], change["pmid"]) == (
        "alice",
        "C12",
        DEPRESSION_RCTS[0],
    )
    assert json.loads(change["before"]) == {"direct": True, "indirect_because": ""}
    assert json.loads(change["after"]) == {
        "direct": False,
        "indirect_because": "TMS for depression, not antidepressant-induced blunting",
    }


def test_rubric_states_the_direct_support_rule() -> None:
    rubric = load_rubric()
    for rule_id in ("supported", "well_supported"):
        assert "direct, curator-confirmed supporting study" in rubric.rule(rule_id).description
    text = (REPO / "evidence" / "rubric.yaml").read_text()
    assert "indirect_note_prefix" not in text and "suggested:" not in text


# --- directness is data ------------------------------------------------------------------------


def test_directness_comes_from_the_corpus(store: Store, data_dir: Path) -> None:
    links = store.read("links").set_index(["claim_id", "pmid"])
    c12 = links.loc[("C12", "28789578")]
    assert not c12["direct"]
    assert (
        c12["indirect_because"]
        == "reward circuitry in depression, not antidepressant-induced blunting"
    )
    assert links.loc[("C11", "25655160"), "direct"]
    verdict = _verdicts(store, data_dir)["C12"]
    rct = next(d for d in verdict.deciding if d.pmid == "28789578")
    # an indirect RCT keeps its design level and is one level lower only for the rules
    assert (rct.direct, rct.level, rct.effective_level) == (False, 2, 3)
    assert verdict.best_direct_design is None


def test_designs_indirect_by_nature_stay_indirect(store: Store, data_dir: Path) -> None:
    # 20034615 is an experiment in healthy volunteers; its C02 link says nothing about directness
    assert store.read("links").set_index(["claim_id", "pmid"]).loc[("C02", "20034615"), "direct"]
    volunteers = next(d for d in _verdicts(store, data_dir)["C02"].deciding if d.pmid == "20034615")
    assert (
        not volunteers.direct and "volunteers without the condition" in volunteers.indirect_because
    )
    after = views.set_directness(store, ALICE, "C02", "20034615", direct=True)
    still = next(d for d in after.deciding if d.pmid == "20034615")
    assert not still.direct  # the editor's "direct" cannot make volunteers patients


def test_directness_edits_need_an_editor_and_a_reason(store: Store) -> None:
    before = store.version
    with pytest.raises(NotAllowed):
        views.set_directness(store, VIEWER, "C07", "27090022", direct=False, because="x")
    with pytest.raises(ValueError, match="say why"):
        views.set_directness(store, ALICE, "C07", "27090022", direct=False)
    with pytest.raises(ValueError, match="not linked"):
        views.set_directness(store, ALICE, "C07", "99999999", direct=True)
    assert store.version == before and store.read("audit").empty


def _as_v1(root: Path) -> None:
    """Rewrite a store as schema version 1 wrote it: one file per table, no directness, no
    direction or certainty (nor what later versions added: relevance statistics, verdict basis)."""
    manifest = json.loads((root / "manifest.json").read_text())
    dropped = {"links": ["direct", "indirect_because", "curator_note"]}
    dropped["verdicts"] = ["direction", "certainty", "needs_review", "basis"]
    tables = {}
    for name, rel in manifest["tables"].items():
        if name in ("record_terms", "term_stats"):
            continue
        files = [rel]
        if rel.endswith(".json"):  # a partition index: its ranges become one file again
            files = list(json.loads((root / rel).read_text())["files"].values())
        parts = [pq.read_table(root / f).replace_schema_metadata(None) for f in files]
        table = pa.concat_tables(parts).drop_columns(dropped.get(name, []))
        meta = {b"evidence.schema_version": b"1", b"evidence.table": name.encode()}
        tables[name] = f"tables/{name}-{manifest['version']}.parquet"
        pq.write_table(table.replace_schema_metadata(meta), root / tables[name])
    manifest.update(schema_version=1, tables=tables, previous={}, checksums={})
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_a_v1_store_is_migrated_from_the_note_convention(store: Store, data_dir: Path) -> None:
    _as_v1(store.root)
    migrated = Store.open(store.root)
    assert json.loads((store.root / "manifest.json").read_text())["schema_version"] == 4
    assert SCHEMA_VERSION == 4
    links = migrated.read("links").set_index(["claim_id", "pmid"])
    # v1 knew directness only from a note starting "Indirect (...)"
    assert not links.loc[("C13", "11255384"), "direct"]
    assert links.loc[("C13", "11255384"), "indirect_because"] == "ECT, not TMS"
    assert links.loc[("C07", "27090022"), "direct"]
    verdicts = migrated.read("verdicts")
    assert verdicts["direction"].isna().all() and not verdicts["needs_review"].any()
    version = migrated.version
    assert Store.open(store.root).version == version  # migrates once
    # Re-importing the curated corpus brings back the directness v1 could not record.
    assert links.loc[("C12", "28789578"), "direct"]
    main(
        ["import", str(data_dir / "corpus" / "curated_evidence.jsonl"), "--data-dir", str(data_dir)]
    )
    again = Store.open(store.root).read("links").set_index(["claim_id", "pmid"])
    assert not again.loc[("C12", "28789578"), "direct"]


def test_migration_reads_the_reason_from_the_note() -> None:
    from evidence.migrations import directness_from_note

    assert directness_from_note("Indirect (ECT, not TMS): relapse was common.") == (
        False,
        "ECT, not TMS",
    )
    assert directness_from_note("indirect: another population. More text.") == (
        False,
        "another population",
    )
    assert directness_from_note("Indirect.") == (False, "see the curator's note")
    assert directness_from_note("Directly tested.") == (True, "")
    assert directness_from_note(None) == (True, "")


# --- claim parts -----------------------------------------------------------------------------


def test_a_compound_claim_takes_its_weakest_part(store: Store, data_dir: Path) -> None:
    verdicts = _verdicts(store, data_dir)
    c14 = verdicts["C14"]
    parts = {p.part_id: p for p in c14.parts}
    assert (parts["C14a"].grade, parts["C14b"].grade, c14.grade) == (
        "Supported",
        "Limited",
        "Limited",
    )
    assert c14.plain[0] == "No study confirms the 20–40 minute session length."
    assert {d.pmid for d in c14.deciding} == {"37657200", "39725000"}
    # C11's emotional half rests on one uncontrolled study: the claim takes that part's certainty
    c11 = {p.part_id: p for p in verdicts["C11"].parts}
    assert (c11["C11a"].certainty, c11["C11b"].certainty) == ("high", "very low")
    assert (verdicts["C11"].grade, verdicts["C11"].certainty) == ("Supported", "very low")
    assert verdicts["C11"].plain[0].startswith("It rests on a single study, a cohort study")
    assert "“Pleasure and interest scores improved" in verdicts["C11"].plain[0]
    # graded whole, without the registry's parts, C14 was "Supported" (the reviewer's finding)
    whole = views.current_verdicts(store.snapshot())["C14"]
    assert whole.grade == "Supported" and not whole.parts


def test_a_part_without_evidence_says_so(store: Store, data_dir: Path, tmp_path: Path) -> None:
    """A SYNTHETIC split of C07: one part with the curated studies, one with none."""
    text = (data_dir / "claims.yaml").read_text()
    anchor = '      AND ("Depressive Disorder, Major"[MeSH] OR depress*[tiab])\n  - id: C08'
    assert text.count(anchor) == 1
    split = """      AND ("Depressive Disorder, Major"[MeSH] OR depress*[tiab])
    parts:
      - id: C07a
        statement: SYNTHETIC part backed by the curated studies.
        evidence: ["27090022", "36692954", "21189465"]
      - id: C07b
        statement: SYNTHETIC part nobody studied.
        gap: no study confirms the SYNTHETIC second part
  - id: C08"""
    (data_dir / "claims.yaml").write_text(text.replace(anchor, split))
    registry = load_claims(data_dir / "claims.yaml")
    c07 = views.current_verdicts(store.snapshot(), registry=registry)["C07"]
    parts = {p.part_id: p for p in c07.parts}
    assert parts["C07a"].grade == "Supported"
    assert parts["C07b"].grade == c07.grade == "No evidence found"
    assert c07.plain[0] == "No study confirms the SYNTHETIC second part."
    assert "is Supported" in c07.plain[1]


# --- ordering --------------------------------------------------------------------------------


def test_no_claim_without_a_direct_test_ranks_above_one_with_a_direct_trial(
    store: Store, data_dir: Path
) -> None:
    verdicts = _verdicts(store, data_dir)
    table = overview_view.overview_table(store.snapshot(), verdicts)
    order = list(table["claim_id"])
    rubric = load_rubric()
    trial = {"meta-analysis", "systematic review", "guideline", "randomized controlled trial"}
    untested = [c for c, v in verdicts.items() if v.best_direct_design is None]
    tested_by_trial = [c for c, v in verdicts.items() if v.best_direct_design in trial]
    assert untested and tested_by_trial
    assert max(order.index(c) for c in tested_by_trial) < min(order.index(c) for c in untested)
    assert order.index("C03") < order.index("C12")  # the reviewer's example
    keys = [
        sort_key(v.certainty, v.best_direct_design, v.direction, rubric)
        for v in (verdicts[c] for c in order)
    ]
    assert keys == sorted(keys)
