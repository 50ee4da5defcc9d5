"""Verdict rubric: every rule fires on a case and not on its near miss; the why explains it."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from evidence.levels import GRADES, RULE_IDS, load_rubric
from evidence.schema import CLAIMS, LINKS, TAGS, VERDICTS
from evidence.verdict import grade_claims, verdicts_frame
from tests.conftest import REPO, shared_path

AS_OF = date(2026, 1, 1)
# Synthetic studies: pmid -> (design, sample size, year). Not real PMIDs' data.
STUDIES = {
    "901": ("meta-analysis", 2000, 2022),
    "902": ("randomized controlled trial", 300, 2021),
    "903": ("randomized controlled trial", 200, 2020),
    "904": ("cohort", 500, 2019),
    "905": ("case report", 1, 2018),
    "906": ("preclinical", None, 2023),
    "907": ("narrative review", None, 2015),
    "908": ("randomized controlled trial", 250, 2022),
    "909": ("cross-sectional", 600, 2021),
}


def frames(links: list[tuple], retracted: frozenset[str] = frozenset()):
    """Claims, links, records and curator tags for links given as (pmid, stance, origin), or
    (pmid, stance, origin, indirect_because) for a link a curator judged indirect."""
    claims = CLAIMS.conform(
        pd.DataFrame(
            [
                {
                    "claim_id": "C1",
                    "statement": "SYNTHETIC claim",
                    "quote": "q",
                    "topics": [],
                    "query": "",
                    "content_file": "x.md",
                    "quote_start": 0,
                    "quote_end": 1,
                }
            ]
        )
    )
    link_rows = [
        {
            "claim_id": "C1",
            "pmid": p,
            "relevance": 0.5,
            "stance": s,
            "stance_origin": o,
            "stance_confidence": 1.0,
            "stance_evidence": "",
            "note": "",
            "direct": not rest,
            "indirect_because": rest[0] if rest else "",
            "in_latest_query": True,
            "first_linked_run": "r",
            "updated_at": None,
            "updated_by": "test",
        }
        for p, s, o, *rest in links
    ]
    links_df = LINKS.conform(pd.DataFrame(link_rows, columns=LINKS.columns))
    records = pd.DataFrame(
        {
            "pmid": list(STUDIES),
            "title": ["SYNTHETIC test record"] * len(STUDIES),
            "pub_year": [y for _, _, y in STUDIES.values()],
            "retracted": [p in retracted for p in STUDIES],
        }
    )
    tags = []
    for pmid, (design, n, _) in STUDIES.items():
        tags.append(
            {
                "pmid": pmid,
                "tag": design,
                "kind": "design",
                "origin": "curator",
                "confidence": 1.0,
                "value": design,
            }
        )
        if n is not None:
            tags.append(
                {
                    "pmid": pmid,
                    "tag": "sample_size",
                    "kind": "sample_size",
                    "origin": "curator",
                    "confidence": 1.0,
                    "value": str(n),
                }
            )
    return claims, links_df, records, TAGS.conform(pd.DataFrame(tags))


def verdict(links, retracted=frozenset()):
    return grade_claims(*frames(links, retracted), as_of=AS_OF)["C1"]


C, S = "curator", "suggested"
# (rule expected, links); each rule has a case that fires it and a near miss that does not.
CASES = [
    ("no_evidence", [("901", "background", C), ("902", "unassessed", "unassessed")]),
    ("limited", [("901", "background", C), ("907", "supports", C)]),  # near miss of no_evidence
    ("contradicted", [("902", "contradicts", C), ("907", "supports", C)]),
    ("contested", [("902", "contradicts", C), ("903", "supports", C)]),  # near miss: equal level
    ("contested", [("901", "contradicts", C), ("902", "supports", C), ("903", "supports", C)]),
    ("well_supported", [("901", "supports", C), ("902", "supports", C), ("904", "supports", C)]),
    ("supported", [("901", "supports", C), ("902", "supports", C), ("905", "contradicts", C)]),
    ("well_supported", [("902", "supports", C), ("903", "supports", C), ("908", "supports", C)]),
    ("supported", [("902", "supports", C), ("903", "supports", S), ("908", "supports", S)]),
    ("supported", [("904", "supports", C)]),
    ("limited", [("909", "supports", C)]),  # near miss of supported: level 4
    ("no_evidence", [("904", "supports", S)]),  # suggested: never counted
    ("limited", [("906", "supports", C), ("909", "supports", C)]),  # preclinical: indirect
    ("limited", [("904", "supports", C, "SYNTHETIC other population")]),  # judged indirect
    ("limited", [("901", "supports", C, "SYNTHETIC other treatment")]),  # indirect level 1
    ("limited", [("902", "mixed", C), ("903", "mixed", C)]),
    ("no_evidence", [("902", "supports", C), ("903", "irrelevant", C)]),  # retracted below
]


@pytest.mark.parametrize(("expected", "links"), CASES[:-1])
def test_each_rule_fires_and_near_misses_do_not(expected, links):
    v = verdict(links)
    rubric = load_rubric()
    assert v.rule == expected
    assert v.grade == rubric.rule(expected).grade
    low, high = rubric.bands[v.grade]
    assert low <= v.score <= high
    assert v.plain and not any(rule_id in " ".join(v.plain) for rule_id in RULE_IDS)


def test_every_rule_is_exercised_by_the_table():
    assert {rule for rule, _ in CASES} == set(RULE_IDS)


def test_rubric_yaml_describes_every_rule_and_grade():
    rubric = load_rubric(REPO / "evidence" / "rubric.yaml")
    assert [r.id for r in rubric.rules] == list(RULE_IDS)
    assert all(r.description for r in rubric.rules)
    assert {r.grade for r in rubric.rules} == set(GRADES)
    text = (REPO / "evidence" / "rubric.yaml").read_text()
    for rule_id in RULE_IDS:
        assert re.search(rf"- id: {rule_id}\n", text)


def test_retracted_never_counts_and_is_flagged():
    v = verdict([("902", "supports", C), ("903", "irrelevant", C)], retracted=frozenset({"902"}))
    assert v.rule == "no_evidence" and v.counts["supports"] == 0
    assert v.cites_retracted == ("902",)
    assert "retracted" in v.why.lower() and "902" in v.why


def test_suggested_stances_never_count_and_are_named():
    curator = verdict([("904", "supports", C)])
    suggested = verdict([("904", "supports", S), ("902", "supports", S), ("901", "supports", S)])
    assert (curator.grade, suggested.grade) == ("Supported", "No evidence found")
    assert suggested.deciding == () and suggested.suggested == {"supports": 3}
    assert "three machine-suggested studies await review" in suggested.why.lower()
    assert "machine-suggested" not in curator.why
    assert not suggested.needs_review


def test_why_names_deciding_studies_and_unassessed():
    v = verdict(
        [
            ("901", "supports", C),
            ("902", "contradicts", C),
            ("905", "unassessed", "unassessed"),
            ("906", "unassessed", "unassessed"),
        ]
    )
    assert {d.pmid for d in v.deciding} == {"901", "902"}
    best = v.deciding[0]
    assert (best.pmid, best.design, best.level, best.stance) == (
        "901",
        "meta-analysis",
        1,
        "supports",
    )
    assert "Two relevant studies found by search are not yet assessed." in v.details
    assert v.n_unassessed == 2


def test_older_and_smaller_studies_score_lower():
    records_newer = verdict([("908", "supports", C)])
    older = frames([("908", "supports", C)])
    older[2].loc[older[2]["pmid"] == "908", "pub_year"] = 1995
    assert grade_claims(*older, as_of=AS_OF)["C1"].score < records_newer.score


def test_verdicts_frame_shape():
    verdicts = {"C1": verdict([("901", "supports", C)])}
    df = verdicts_frame(verdicts, "run-1", datetime(2026, 1, 1, tzinfo=UTC))
    assert list(df.columns) == VERDICTS.columns
    assert df.loc[0, "n_supports"] == 1 and df.loc[0, "rule"] == verdicts["C1"].rule
    row = df.loc[0, ["direction", "certainty", "needs_review"]].tolist()
    assert row == ["supports", verdicts["C1"].certainty, False]


def test_curated_corpus_gets_a_verdict_for_every_claim():
    from evidence.claims import claims_frame, load_claims
    from evidence.curated import read_curated
    from evidence.tagging import tag_records

    corpus = shared_path("corpus", "curated_evidence.jsonl")
    registry = load_claims(REPO / "data" / "claims.yaml")
    curated = read_curated(Path(corpus), registry.claim_ids)
    tags = tag_records(curated.records, curator_tags=curated.tags)
    verdicts = grade_claims(
        claims_frame(registry), curated.links, curated.records, tags, as_of=date(2026, 11, 26)
    )
    assert sorted(verdicts) == [f"C{i:02d}" for i in range(1, 18)]
    print()
    for claim_id, v in verdicts.items():
        assert v.why
        deciding = ", ".join(f"{d.pmid}({d.design},L{d.level},{d.stance})" for d in v.deciding)
        print(f"{claim_id} {v.grade:<18} {v.score:>3}  {deciding}")
    # The curators' own reading (corpus README): C12 has no direct support, C13 is contradicted
    # by indirect evidence, C06 is supported by eight studies.
    assert verdicts["C12"].grade in ("Limited", "No evidence found")
    assert verdicts["C13"].grade in ("Contested", "Contradicted")
    assert verdicts["C06"].grade in ("Supported", "Well supported")
    # no study tests C12 or C13 directly: their certainty is never above low
    assert {verdicts[c].certainty for c in ("C12", "C13")} <= {"low", "very low"}


def test_bad_rubric_names_the_field(tmp_path):
    from evidence.errors import ConfigError

    text = (REPO / "evidence" / "rubric.yaml").read_text().replace("  cohort: 3\n", "")
    path = tmp_path / "rubric.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="levels.*cohort"):
        load_rubric(path)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("    other: very low\n", "", "certainty.start"),
        ("    other: very low\n", "    other: unsure\n", "certainty.start"),
        ("  preclinical: an animal", "  lab: an animal", "indirect_designs"),
        ("  test_max_level: 4\n", "  test_max_level: 9\n", "certainty.test_max_level"),
    ],
)
def test_bad_certainty_rules_name_the_field(tmp_path, old, new, field):
    from evidence.errors import ConfigError

    text = (REPO / "evidence" / "rubric.yaml").read_text()
    assert text.count(old) == 1
    path = tmp_path / "rubric.yaml"
    path.write_text(text.replace(old, new))
    with pytest.raises(ConfigError, match=re.escape(field)):
        load_rubric(path)
