"""Tags against the real PubMed fixtures and small synthetic records; the MEDLINE bulk reader."""

from __future__ import annotations

import gzip
import io
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from lxml import etree

from evidence.errors import ParseError
from evidence.levels import load_rubric
from evidence.medline_xml import parse_medline_xml
from evidence.records import ParseStats, article_row, parse_pubmed_xml, records_frame
from evidence.schema import DESIGNS, RECORD_FIELDS, TAGS
from evidence.tagging import (
    DESIGN_TEXT_RULES,
    PUBLICATION_TYPE_DESIGNS,
    design_from_publication_types,
    design_from_text,
    sample_size_from_text,
    tag_records,
)
from tests.conftest import SHARED, shared_path
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
        # trial phases: a randomized phase II trial is an RCT; an early phase alone is not
        ("SYNTHETIC: a randomized phase II trial", "", "randomized controlled trial"),
        ("SYNTHETIC: a randomised, multicentre phase 3 trial", "", "randomized controlled trial"),
        ("SYNTHETIC: a phase II trial of iTBS", "", "non-randomized trial"),
        ("SYNTHETIC", "In this phase I dose-finding study...", "non-randomized trial"),
        ("SYNTHETIC", "A phase 1b study in 12 patients.", "non-randomized trial"),
        # an open-label or phase II title defers to an abstract that says randomized
        (
            "SYNTHETIC: a phase II trial",
            "Patients were randomly assigned to rTMS or sham.",
            "randomized controlled trial",
        ),
        (
            "SYNTHETIC open-label study",
            "Patients were randomly assigned to rTMS or sham.",
            "randomized controlled trial",
        ),
        # ... unless the title says in words that it was not randomized
        (
            "SYNTHETIC single-arm open-label study",
            "Patients were randomly assigned to a dose.",
            "non-randomized trial",
        ),
        # reviews that say so in other words
        ("SYNTHETIC", "This article reviews the evidence on rTMS.", "narrative review"),
        ("SYNTHETIC", "This paper specifically reviews animal models.", "narrative review"),
        ("SYNTHETIC", "We will briefly review these data.", "narrative review"),
        # article kinds named by the title, before the design of the study they discuss
        ("Reply.", "", "other"),
        ("Authors' response.", "", "other"),
        ("Re: a randomized trial of SYNTHETIC", "", "other"),
        (
            "SYNTHETIC: Commentary on: a randomised, placebo-controlled trial",
            "",
            "other",
        ),
        ("SYNTHETIC: letter to the editor", "", "other"),
        # guidelines: a title or a text that calls itself one; citing guidelines is no guideline
        ("SYNTHETIC guidelines for rTMS", "", "guideline"),
        ("SYNTHETIC", "This guideline updates the 2016 recommendations.", "guideline"),
        ("SYNTHETIC", "Patients were treated according to WHO guidelines.", None),
        (
            "Adherence to guidelines: a cross-sectional SYNTHETIC survey",
            "",
            "cross-sectional",
        ),
        (
            "SYNTHETIC: a randomized trial of guideline-based care",
            "",
            "randomized controlled trial",
        ),
        # a design phrase right after a citing word describes other studies
        ("SYNTHETIC", "Published case series report benefit.", None),
        ("SYNTHETIC", "Some case reports suggest harm.", None),
        ("SYNTHETIC", "Several cohort studies exist. We describe a case of mania.", "case report"),
        ("SYNTHETIC", "Some patients were randomized to sham.", "randomized controlled trial"),
    ],
)
def test_design_text_rules(title, abstract, expected):
    found = design_from_text(title, abstract)
    assert (found[0] if found else None) == expected


def test_design_text_rules_near_misses():
    assert design_from_text("SYNTHETIC", "Randomized trials exist but this is an essay.") is None
    assert design_from_text("SYNTHETIC", "") is None
    # "reply to" / "response to" in a research title do not make it a letter
    assert design_from_text("Time to reply to SYNTHETIC messages", "") is None
    assert design_from_text("Response to treatment in a randomized SYNTHETIC trial", "") == (
        "randomized controlled trial",
        "title",
        "randomized SYNTHETIC trial",
    )
    assert design_from_text("SYNTHETIC: a phase II/III trial", "") is None
    assert design_from_text("SYNTHETIC", "Medical records were reviewed.") is None


def test_text_article_kind_is_tagged_other_when_not_indexed():
    tags = tags_of(
        [
            record(
                "1",
                citation_status="In-Process",
                title="SYNTHETIC: Commentary on: a randomised, placebo-controlled trial",
            )
        ]
    )
    assert pick(tags, "1", "design") == {"other": "text_rule"}
    assert pick(tags, "1", "level") == {str(load_rubric().levels["other"]): "rubric"}


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


# --- MEDLINE bulk XML (MedlineCitationSet) --------------------------------------------------

MEDLINE_XML = ("fixtures", "medline", "medline16n0902.xml.gz")


@pytest.fixture(scope="module")
def medline_rows() -> list[dict]:
    return list(parse_medline_xml(shared_path(*MEDLINE_XML)))


def test_medline_xml_reads_every_real_citation(medline_rows):
    path = shared_path(*MEDLINE_XML)
    stats = ParseStats()
    rows = list(parse_medline_xml(path, stats=stats))
    assert (stats.articles, stats.skipped, stats.problems) == (604, 0, [])
    assert rows == medline_rows
    assert len({r["pmid"] for r in rows}) == 604
    assert all(set(r) == set(RECORD_FIELDS.names) for r in rows)
    assert len(records_frame(rows)) == 604
    statuses = Counter(r["citation_status"] for r in rows)
    assert statuses == {
        "PubMed-not-MEDLINE": 254,
        "In-Process": 181,
        "MEDLINE": 94,
        "In-Data-Review": 75,
    }
    types = Counter(t for r in rows for t in r["publication_types"])
    assert (types["Journal Article"], types["Review"], types["Comment"], types["Letter"]) == (
        575,
        40,
        20,
        15,
    )
    assert (types["Editorial"], types["Randomized Controlled Trial"], types["Case Reports"]) == (
        7,
        5,
        1,
    )


def test_medline_xml_row_fields(medline_rows):
    row = next(r for r in medline_rows if r["pmid"] == "17942999")
    assert row["title"].startswith("Neuroplasticity in the processing of pitch dimensions")
    assert (row["journal"], row["journal_iso"]) == (
        "Restorative neurology and neuroscience",
        "Restor. Neurol. Neurosci.",
    )
    assert (row["volume"], row["issue"], row["pages"], row["pub_year"]) == (
        "25",
        "3-4",
        "195-210",
        2007,
    )
    assert row["authors"] == ["Chandrasekaran B", "Gandour JT", "Krishnan A"]
    assert [s["label"] for s in row["abstract_sections"]] == [
        "PURPOSE",
        "METHODS",
        "RESULTS",
        "CONCLUSIONS",
    ]
    assert row["abstract"].startswith("PURPOSE: An auditory electrophysiological study")
    assert row["publication_types"] == ["Journal Article", "Research Support, Non-U.S. Gov't"]
    assert {"descriptor": "Humans", "ui": "D006801", "major": False, "qualifiers": []} in row[
        "mesh"
    ]
    assert row["citation_status"] == "MEDLINE"
    assert row["languages"] == ["eng"]
    # the bulk form has no PubmedData: no Entrez date, no PMC id
    assert (row["entrez_date"], row["pmcid"], row["source"]) == ("", "", "medline_xml")


def test_medline_xml_stream_equals_whole_tree_parse(medline_rows):
    """Moving each citation out of the streamed document loses nothing."""
    data = gzip.decompress(shared_path(*MEDLINE_XML).read_bytes())
    parser = etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False)
    whole = etree.fromstring(data, parser)
    expected = []
    for citation in whole.iterfind("MedlineCitation"):
        envelope = etree.Element("PubmedArticle")
        envelope.append(citation)
        expected.append(article_row(envelope, "medline_xml"))
    assert medline_rows == expected
    assert list(parse_medline_xml(data)) == expected  # uncompressed bytes
    compressed = io.BytesIO(shared_path(*MEDLINE_XML).read_bytes())  # seekable, cannot peek
    assert list(parse_medline_xml(compressed)) == expected
    assert not compressed.closed  # the caller's stream is the caller's to close
    with gzip.open(shared_path(*MEDLINE_XML)) as handle:  # a stream already decompressed
        assert list(parse_medline_xml(handle)) == expected


def test_medline_xml_tags_real_citations(medline_rows):
    records = records_frame(medline_rows)
    designs = tag_records(records).query("kind == 'design'").set_index("pmid")
    # publication types first: a comment on a trial is "other", a randomized phase II trial RCT
    assert designs.loc["26431759", ["tag", "origin"]].tolist() == ["other", "publication_type"]
    assert designs.loc["22508830", "tag"] == "randomized controlled trial"
    # the text rules alone on the same real titles and abstracts
    by_pmid = {r["pmid"]: r for r in medline_rows}

    def text_design(pmid: str) -> str | None:
        found = design_from_text(by_pmid[pmid]["title"], by_pmid[pmid]["abstract"])
        return found[0] if found else None

    assert text_design("22508830") == "randomized controlled trial"  # "Randomized phase II trial"
    assert text_design("23415808") == "non-randomized trial"  # "phase II trial (S0526)"
    assert text_design("26431759") == "other"  # "...: Commentary on: ... randomised trial"
    assert text_design("26354093") == "narrative review"  # "This article reviews"
    assert text_design("26342244") is None  # a review citing "published case series"


def hostile_medline(secret: Path) -> bytes:
    """A MedlineCitationSet with an external entity, nested entities and a citation sans PMID."""
    return f"""<?xml version="1.0"?>
<!DOCTYPE MedlineCitationSet [
  <!ENTITY xxe SYSTEM "file://{secret}">
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
]>
<MedlineCitationSet>
<MedlineCitation Status="MEDLINE"><PMID Version="1">123</PMID>
<Article><ArticleTitle>SYNTHETIC &xxe; &lol2;</ArticleTitle></Article></MedlineCitation>
<MedlineCitation Status="MEDLINE"><Article><ArticleTitle>SYNTHETIC no PMID</ArticleTitle>
</Article></MedlineCitation>
<DeleteCitation><PMID Version="1">456</PMID></DeleteCitation>
</MedlineCitationSet>
""".encode()


def test_medline_xml_hostile_and_broken_input(tmp_path: Path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    hostile = hostile_medline(secret)
    stats = ParseStats()
    rows = list(parse_medline_xml(gzip.compress(hostile), stats=stats))
    assert [r["pmid"] for r in rows] == ["123"]  # the DeleteCitation's PMID is no citation
    assert rows[0]["title"] == "SYNTHETIC &xxe; &lol2;"  # neither entity expanded
    assert stats.skipped == 1 and "no PMID" in stats.problems[0]
    truncated = tmp_path / "cut.xml.gz"
    truncated.write_bytes(gzip.compress(hostile)[:-40])
    with pytest.raises(ParseError, match="malformed"):
        list(parse_medline_xml(truncated))
    with pytest.raises(ParseError, match="malformed"):
        list(parse_medline_xml(b"<MedlineCitationSet><MedlineCitation>"))


def test_medline_xml_refuses_pubmed_article_set():
    path = shared_path("fixtures", "eutils", "pubmed1.xml")
    assert list(parse_pubmed_xml(path))  # the efetch form belongs to the efetch parser
    with pytest.raises(ParseError, match="use parse_pubmed_xml"):
        list(parse_medline_xml(path))
