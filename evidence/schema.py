"""Every table's columns and Arrow types, defined once.

Parsers produce rows shaped like ``RECORD_FIELDS``; the store adds bookkeeping columns. Other
modules build empty frames and coerce frames through `Table`, never by listing columns again.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

# 2: links.direct/indirect_because; verdicts.direction/certainty/needs_review
# 3: term_stats, record_terms (incremental relevance); record_facts, verdicts.basis (incremental
#    grading); large tables kept in PMID ranges
# 4: links.curator_note (an editor's note beside the curated summary in links.note)
SCHEMA_VERSION = 4

_str = pa.string()
_strs = pa.list_(pa.string())
_ts = pa.timestamp("us", tz="UTC")

_NULLABLE = {pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype()}

ABSTRACT_SECTION = pa.struct([("label", _str), ("category", _str), ("text", _str)])
MESH_HEADING = pa.struct(
    [("descriptor", _str), ("ui", _str), ("major", pa.bool_()), ("qualifiers", _strs)]
)

# One row per PubMed article, as parsed from efetch XML, MEDLINE or a curated import.
RECORD_FIELDS = pa.schema(
    [
        ("pmid", _str),
        ("title", _str),
        ("abstract", _str),
        ("abstract_sections", pa.list_(ABSTRACT_SECTION)),
        ("journal", _str),
        ("journal_iso", _str),
        ("volume", _str),
        ("issue", _str),
        ("pages", _str),
        ("pub_year", pa.int32()),
        ("pub_date", _str),  # ISO prefix: YYYY, YYYY-MM or YYYY-MM-DD
        ("pub_date_text", _str),  # as printed, e.g. "2020 Jul-Aug"
        ("epub_date", _str),
        ("entrez_date", _str),
        ("authors", _strs),  # "Family AB" or a collective name
        ("doi", _str),
        ("pmcid", _str),
        ("languages", _strs),
        ("publication_types", _strs),
        ("mesh", pa.list_(MESH_HEADING)),
        ("keywords", _strs),
        ("citation_status", _str),  # MEDLINE, PubMed-not-MEDLINE, In-Process, Publisher, ...
        ("retracted", pa.bool_()),
        ("retraction_notices", _strs),  # PMIDs of RetractionIn notices
        ("expression_of_concern", pa.bool_()),
        ("concern_notices", _strs),
        ("errata", _strs),  # PMIDs of ErratumIn notices
        ("article_kind", _str),  # "journal" or "book"
        ("source", _str),  # efetch, nbib, curated
        ("content_hash", _str),
    ]
)


@dataclass(frozen=True)
class Table:
    """A named table: its Arrow schema and the key that makes a row unique.

    A table that grows with the literature is stored in PMID ranges of at most
    ``partition_rows`` rows (`evidence.partitions`), so a commit rewrites only the ranges it
    touches; 0 keeps the table in one file.
    """

    name: str
    schema: pa.Schema
    key: tuple[str, ...]
    partition_rows: int = 0

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    def empty(self) -> pd.DataFrame:
        return self.from_arrow(self.schema.empty_table())

    @staticmethod
    def from_arrow(table: pa.Table) -> pd.DataFrame:
        """Arrow -> pandas with nullable integers, so a missing year stays <NA>, not a float."""
        return table.to_pandas(types_mapper=_NULLABLE.get)

    def to_arrow(self, df: pd.DataFrame) -> pa.Table:
        """Coerce to this schema; a missing or extra column is an error naming it."""
        missing = [c for c in self.columns if c not in df.columns]
        extra = [c for c in df.columns if c not in self.columns]
        if missing or extra:
            raise ValueError(f"table {self.name!r}: missing columns {missing}, unexpected {extra}")
        return pa.Table.from_pandas(df[self.columns], schema=self.schema, preserve_index=False)

    def conform(self, df: pd.DataFrame) -> pd.DataFrame:
        """Round-trip through Arrow so dtypes are exactly what a stored table reads back as."""
        return self.from_arrow(self.to_arrow(df))


RECORDS = Table(
    "records",
    pa.schema(
        list(RECORD_FIELDS)
        + [
            ("origin", _str),  # first source: efetch, nbib, curated
            ("first_seen_run", _str),
            ("last_seen_run", _str),
            ("last_checked", _ts),
        ]
    ),
    ("pmid",),
    partition_rows=500,
)

RECORD_CHANGES = Table(
    "record_changes",
    pa.schema(
        [
            ("run_id", _str),
            ("pmid", _str),
            ("changed_at", _ts),
            ("fields", _strs),
            ("summary", _str),
            ("old_hash", _str),
            ("new_hash", _str),
        ]
    ),
    ("run_id", "pmid"),
    partition_rows=50_000,
)

TAGS = Table(
    "tags",
    pa.schema(
        [
            ("pmid", _str),
            ("tag", _str),
            ("kind", _str),  # topic, design, population, level, sample_size
            ("origin", _str),  # mesh, publication_type, text_rule, curator
            ("confidence", pa.float64()),
            ("value", _str),  # e.g. the sample size, or the text that matched
        ]
    ),
    ("pmid", "tag", "kind"),
    partition_rows=20_000,
)

# Relevance (evidence.relevance) without re-reading every record: each record's length and how
# often it holds each term of the claims' queries (stemmed, as BM25 tokenises), one row a record.
RECORD_TERMS = Table(
    "record_terms",
    pa.schema(
        [
            ("pmid", _str),
            ("length", pa.int64()),  # tokens in title, abstract, MeSH and keywords
            ("terms", _strs),  # query terms the record holds ...
            ("counts", pa.list_(pa.int64())),  # ... and how often
        ]
    ),
    ("pmid",),
    partition_rows=20_000,
)

# What grading reads of a record, kept per record so a verdict never reads records and tags: its
# year and retraction, and its best design, sample-size and indirectness tags (`verdict.fact_rows`).
RECORD_FACTS = Table(
    "record_facts",
    pa.schema(
        [
            ("pmid", _str),
            ("pub_year", pa.int32()),
            ("retracted", pa.bool_()),
            ("design", _str),  # None: no design tag
            ("sample_size", _str),  # the tag's value as tagged, e.g. "1,204"
            ("indirect", _str),  # None: no indirectness tag; else its value (may be "")
        ]
    ),
    ("pmid",),
    partition_rows=50_000,
)

# The corpus statistics BM25 needs, kept up to date as records come and change. term "" is the
# whole corpus: docs = records, tokens = their total length. ref_* are the values the stored
# relevance scores were computed with; claims lists the claims whose query holds the term.
TERM_STATS = Table(
    "term_stats",
    pa.schema(
        [
            ("term", _str),
            ("docs", pa.int64()),  # records holding the term
            ("tokens", pa.int64()),  # its occurrences over all records
            ("ref_docs", pa.int64()),
            ("ref_tokens", pa.int64()),
            ("claims", _strs),
        ]
    ),
    ("term",),
)

CLAIMS = Table(
    "claims",
    pa.schema(
        [
            ("claim_id", _str),
            ("statement", _str),
            ("quote", _str),
            ("topics", _strs),
            ("query", _str),
            ("content_file", _str),
            ("quote_start", pa.int64()),
            ("quote_end", pa.int64()),
        ]
    ),
    ("claim_id",),
)

# Stances: supports, contradicts, mixed, background (curator vocabulary), plus unassessed and
# irrelevant. stance_origin: curator, suggested, unassessed.
LINKS = Table(
    "links",
    pa.schema(
        [
            ("claim_id", _str),
            ("pmid", _str),
            ("relevance", pa.float64()),
            ("stance", _str),
            ("stance_origin", _str),
            ("stance_confidence", pa.float64()),
            ("stance_evidence", _str),  # the sentence(s) behind a suggested stance
            ("note", _str),  # the curated study summary (reading, finding, population)
            ("curator_note", _str),  # an editor's own note from the dashboard; never replaces note
            # Does the study answer the claim's own question? A curator's judgement; a link found
            # by the machine starts as True (it cannot raise a grade before a curator confirms it).
            ("direct", pa.bool_()),
            ("indirect_because", _str),  # e.g. "ECT, not TMS"; "" when direct
            ("in_latest_query", pa.bool_()),
            ("first_linked_run", _str),
            ("updated_at", _ts),
            ("updated_by", _str),
        ]
    ),
    ("claim_id", "pmid"),
    partition_rows=400,  # small ranges: a curator's edit rewrites one
)

AUDIT = Table(
    "audit",
    pa.schema(
        [
            ("at", _ts),
            ("actor", _str),
            ("action", _str),
            ("claim_id", _str),
            ("pmid", _str),
            ("before", _str),
            ("after", _str),
            ("note", _str),
        ]
    ),
    (),
)

RUNS = Table(
    "runs",
    pa.schema(
        [
            ("run_id", _str),
            ("started_at", _ts),
            ("ended_at", _ts),
            ("status", _str),  # running, success, failed, dry-run
            ("mode", _str),  # incremental, full, offline
            ("queries", _strs),
            ("network_requests", pa.int64()),
            ("cache_hits", pa.int64()),
            ("new_records", pa.int64()),
            ("updated_records", pa.int64()),
            ("retracted_records", pa.int64()),
            ("error", _str),
            ("report_path", _str),
        ]
    ),
    ("run_id",),
)

VERDICTS = Table(
    "verdicts",
    pa.schema(
        [
            ("run_id", _str),
            ("claim_id", _str),
            ("computed_at", _ts),
            ("grade", _str),
            ("score", pa.int64()),
            ("rule", _str),
            ("direction", _str),  # supports, mixed, contradicts, none
            ("certainty", _str),  # high, moderate, low, very low (GRADE-style)
            ("needs_review", pa.bool_()),  # a machine-suggested contradiction awaits a curator
            ("n_supports", pa.int64()),
            ("n_contradicts", pa.int64()),
            ("n_mixed", pa.int64()),
            ("n_background", pa.int64()),
            ("n_unassessed", pa.int64()),
            # Fingerprint of what the grade depends on besides links, records and tags (rubric,
            # the claim's parts, the year recency counts from): a change regrades the claim.
            ("basis", _str),
        ]
    ),
    ("run_id", "claim_id"),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        RECORDS,
        RECORD_CHANGES,
        TAGS,
        CLAIMS,
        LINKS,
        AUDIT,
        RUNS,
        VERDICTS,
        RECORD_TERMS,
        TERM_STATS,
        RECORD_FACTS,
    )
}

CURATOR_STANCES = ("supports", "contradicts", "mixed", "background")
STANCES = (*CURATOR_STANCES, "unassessed", "irrelevant")
STANCE_ORIGINS = ("curator", "suggested", "unassessed")

# Study designs, one vocabulary for curators, publication-type mapping and text rules alike.
DESIGNS = (
    "meta-analysis",
    "systematic review",
    "randomized controlled trial",
    "non-randomized trial",
    "cohort",
    "case-control",
    "cross-sectional",
    "case series",
    "case report",
    "narrative review",
    "guideline",
    "qualitative",
    "preclinical",
    "healthy-volunteer experiment",
    "other",
)
