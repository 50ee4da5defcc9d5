"""Tags against the real PubMed fixtures and small synthetic records."""

from __future__ import annotations

import pandas as pd
import pytest

from evidence.levels import load_rubric
from evidence.schema import DESIGNS, TAGS
from evidence.tagging import (
    DESIGN_TEXT_RULES,
    PUBLICATION_TYPE_DESIGNS,
    design_from_publication_types,
    design_from_text,
    sample_size_from_text,
    tag_records,
)
from tests.conftest import SHARED
from tests.fixture_records import pubmed_fixture_records


def record(pmid: str, **fields) -> dict:
    """A synthetic record: only the fields tagging reads."""
    row = {
        "pmid": pmid,
        "title": "SYNTHETIC test record",
        "abstract": "",
        "keywords": [],
        "mesh": [],
        "publication_types": ["Journal Article"],
        "citation_status": "MEDLINE",
        "retracted": False,
        "pub_year": 2020,
    }
    row.update(fields)
    return row


def mesh(*names: str) -> list[dict]:
    return [{"descriptor": n, "ui": "", "major": False, "qualifiers": []} for n in names]


def tags_of(rows: list[dict]) -> pd.DataFrame:
    return tag_records(pd.DataFrame(rows))


def pick(tags: pd.DataFrame, pmid: str, kind: str) -> dict[str, str]:
    sub = tags[(tags["pmid"] == pmid) & (tags["kind"] == kind)]
    return dict(zip(sub["tag"], sub["origin"], strict=True))


def test_vocabularies_use_schema_designs():
    for _, design in PUBLICATION_TYPE_DESIGNS:
        assert design in DESIGNS
    for design, _ in DESIGN_TEXT_RULES:
        assert design in DESIGNS


@pytest.fixture(scope="module")
def fixture_tags() -> tuple[pd.DataFrame, pd.DataFrame]:
    if not (SHARED / "fixtures").exists():
        pytest.skip(f"{SHARED}/fixtures not found")
    records = pubmed_fixture_records(SHARED)
    return records, tag_records(records)


def test_fixture_design_follows_publication_types(fixture_tags):
    records, tags = fixture_tags
    designs = tags[tags["kind"] == "design"].set_index("pmid")
    for row in records.itertuples():
        mapped = design_from_publication_types(row.publication_types)
        animals_only = any(m["descriptor"] == "Animals" for m in row.mesh) and not any(
            m["descriptor"] == "Humans" for m in row.mesh
        )
        if mapped and not animals_only:
            assert designs.loc[row.pmid, "origin"] == "publication_type", row.pmid
            if mapped[0] != "cohort":  # Observational Study is refined by text
                assert designs.loc[row.pmid, "tag"] == mapped[0]
    # pubmed1.xml: a MEDLINE "Review"; pubmed4.xml: an Observational Study of cases and controls
    assert designs.loc["12091962", "tag"] == "narrative review"
    assert designs.loc["27797938", "tag"] == "case-control"


def test_fixture_population_from_mesh(fixture_tags):
    records, tags = fixture_tags
    for row in records.itertuples():
        names = {m["descriptor"] for m in row.mesh}
        pops = pick(tags, row.pmid, "population")
        if "Humans" in names:
            assert pops.get("humans") == "mesh"
        if "Animals" in names:
            assert pops.get("animals") == "mesh"
    # pubmed2.xml's first record is about fish sperm (MeSH Animals, no Humans): preclinical
    assert pick(tags, "11748933", "design") == {"preclinical": "mesh"}
    assert "indirect" in pick(tags, "11748933", "indirect")


def test_fixture_not_indexed_uses_text_rules(fixture_tags):
    records, tags = fixture_tags
    status = records.set_index("pmid")["citation_status"]
    # pubmed5.xml (In-Data-Review) studies men enrolled in a cohort: text rules, origin recorded
    assert status["28775130"] != "MEDLINE"
    assert pick(tags, "28775130", "design") == {"cohort": "text_rule"}
    sizes = tags[(tags["pmid"] == "28775130") & (tags["kind"] == "sample_size")]
    assert sizes["value"].tolist() == ["679"]


def test_topics_mesh_first_then_text():
    tags = tags_of(
        [
            record("1", mesh=mesh("Transcranial Magnetic Stimulation", "Fluoxetine")),
            record(
                "2",
                title="SYNTHETIC accelerated iTBS versus deep TMS (H-coil) in depression",
                abstract="Patients on escitalopram or vortioxetine reported emotional blunting.",
            ),
            record("3", abstract="Anhedonia and apathy, not emotional numbing, were measured."),
            record("4", abstract="Citalopram and venlafaxine; no magnetic stimulation here."),
        ]
    )
    assert pick(tags, "1", "topic") == {
        "tms": "mesh",
        "fluoxetine": "mesh",
        "ssri": "mesh",
        "antidepressant": "mesh",
    }
    t2 = pick(tags, "2", "topic")
    assert {"tms", "theta-burst", "deep-tms", "accelerated-tms", "escitalopram", "ssri"} <= set(t2)
    assert {"vortioxetine", "blunting"} <= set(t2)
    assert "citalopram" not in t2  # escitalopram is not citalopram
    assert set(t2.values()) == {"text_rule"}
    assert set(pick(tags, "3", "topic")) == {"anhedonia", "apathy", "blunting"}
    t4 = pick(tags, "4", "topic")
    assert {"citalopram", "ssri", "venlafaxine", "snri"} <= set(t4) and "tms" not in t4


@pytest.mark.parametrize(
    ("title", "abstract", "expected"),
    [
        ("SYNTHETIC: a systematic review and meta-analysis", "", "meta-analysis"),
        ("SYNTHETIC: a systematic review", "Randomized trials were searched.", "systematic review"),
        (
            "SYNTHETIC",
            "Patients were randomized to active or sham rTMS.",
            "randomized controlled trial",
        ),
        ("SYNTHETIC", "A double-blind, placebo-controlled study.", "randomized controlled trial"),
        (
            "SYNTHETIC",
            "In this open-label study, 20 patients received iTBS.",
            "non-randomized trial",
        ),
        ("SYNTHETIC", "A prospective cohort of 300 outpatients.", "cohort"),
        ("SYNTHETIC", "A cross-sectional online survey of 669 users.", "cross-sectional"),
        ("SYNTHETIC", "A case-control study.", "case-control"),
        ("SYNTHETIC", "We describe a case series of 5 patients.", "case series"),
        ("SYNTHETIC case report", "", "case report"),
        ("SYNTHETIC", "Semi-structured interviews and thematic analysis.", "qualitative"),
        ("SYNTHETIC: a clinical practice guideline", "", "guideline"),
        ("SYNTHETIC: a review", "", "narrative review"),
        ("SYNTHETIC: a brief non-systematic review", "", "narrative review"),
        ("SYNTHETIC", "Previous randomized trials and meta-analyses are cited.", "meta-analysis"),
    ],
)
def test_design_text_rules(title, abstract, expected):
    assert design_from_text(title, abstract)[0] == expected


def test_design_text_rules_near_misses():
    assert design_from_text("SYNTHETIC", "Randomized trials exist but this is an essay.") is None
    assert design_from_text("SYNTHETIC", "") is None


def test_publication_type_beats_text_and_text_only_when_no_design_type():
    tags = tags_of(
        [
            record(
                "1",
                publication_types=["Journal Article", "Randomized Controlled Trial"],
                abstract="A systematic review of the literature was also cited.",
            ),
            record(
                "2",
                citation_status="PubMed-not-MEDLINE",
                abstract="Patients were randomly assigned to rTMS or sham.",
            ),
            record("3", publication_types=["Review", "Meta-Analysis"]),
        ]
    )
    assert pick(tags, "1", "design") == {"randomized controlled trial": "publication_type"}
    assert pick(tags, "2", "design") == {"randomized controlled trial": "text_rule"}
    assert pick(tags, "3", "design") == {"meta-analysis": "publication_type"}


def test_healthy_volunteers_and_levels():
    tags = tags_of(
        [
            record(
                "1",
                mesh=mesh("Humans", "Healthy Volunteers"),
                publication_types=["Randomized Controlled Trial"],
            ),
            record("2", mesh=mesh("Humans"), publication_types=["Randomized Controlled Trial"]),
        ]
    )
    rubric = load_rubric()
    assert pick(tags, "1", "design") == {"healthy-volunteer experiment": "mesh"}
    assert pick(tags, "1", "indirect") == {"indirect": "rubric"}
    lv = tags[tags["kind"] == "level"].set_index("pmid")["tag"]
    assert lv["1"] == str(rubric.levels["healthy-volunteer experiment"])
    assert lv["2"] == str(rubric.levels["randomized controlled trial"])
    assert pick(tags, "2", "indirect") == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("In total, n = 164 were analysed.", 164),
        ("164 patients were randomized; 80 completed.", 164),
        ("We enrolled 1,234 adult outpatients (N=1,234).", 1234),
        ("A total of 57 were included.", 57),
        ("Twelve studies with 3 arms over 8 weeks.", None),
    ],
)
def test_sample_size(text, expected):
    found = sample_size_from_text(text)
    assert (found[0] if found else None) == expected


def test_curator_tags_win_per_kind():
    records = pd.DataFrame(
        [record("1", publication_types=["Review"], abstract="In this review, 40 patients.")]
    )
    curator = TAGS.conform(
        pd.DataFrame(
            [
                {
                    "pmid": "1",
                    "tag": "cohort",
                    "kind": "design",
                    "origin": "curator",
                    "confidence": 1.0,
                    "value": "cohort",
                },
                {
                    "pmid": "1",
                    "tag": "sample_size",
                    "kind": "sample_size",
                    "origin": "curator",
                    "confidence": 1.0,
                    "value": "250",
                },
            ]
        )
    )
    tags = tag_records(records, curator_tags=curator)
    assert pick(tags, "1", "design") == {"cohort": "curator"}
    assert tags[tags["kind"] == "sample_size"]["value"].tolist() == ["250"]
    assert pick(tags, "1", "level") == {"3": "rubric"}
    assert list(tags.columns) == TAGS.columns
