"""SYNTHETIC PubMed-like records for the store scale benchmark (`benchmarks/store_scale.py`).

Nothing here is evidence. Every title starts "SYNTHETIC", every journal is a "SYNTHETIC ..."
journal, DOIs use Crossref's test prefix 10.5555, PMCIDs are left empty, MeSH unique ids are
"SYN..." codes, and the records are only ever written to temporary stores.

What makes them useful for measuring a store:

- Distinct text per record: title, abstract (some structured into sections), MeSH headings,
  keywords and authors are drawn per record from a seeded RNG over a vocabulary of ~1,700 real
  words (the repository's own claim, content and curator texts), ~100 filler words and 80,000
  pronounceable pseudo-words with a Zipf-like tail, so Parquet cannot compress copies away and the
  BM25 vocabulary grows with the corpus as real text does. Abstracts run 120-300 words.
- PMIDs drawn without replacement from 1..41,000,000 (today's PubMed range) minus the curated
  PMIDs, so a store partitioned by PMID range sees them spread as real records are; publication
  years follow the PMID (low PMIDs are old), as in PubMed.
- Some records state a design (title or abstract phrase, publication types), a sample size, and
  topic MeSH headings (TMS, SSRIs, anhedonia), so tagging, relevance and links do real work: at
  every size about 2-3% of records end up linked to a claim.
- Deterministic and nested: record ``i`` of the pool is the same whatever the sizes asked for,
  so the 1k store is a prefix of the 10k store, and so on. The last chunk of the pool is reserved
  for records folded into a store (never in any base store); a "weekly" fold brings mostly new
  PMIDs just above today's range, as a weekly refresh does (`SyntheticCorpus.fold_records`).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
SEED = 20_261_126
PMID_MAX = 41_000_000  # PubMed's PMIDs run to about 41 million (2025)
CHUNK = 1_000  # records are generated per chunk of the pool, each chunk from its own seed
WEEK_PMIDS = 25_000  # PMIDs PubMed assigns in about a week
YEAR_PMIDS = 1_000_000  # ... and in about a year
FOLD_MIXES = ("weekly", "spread")
POOL_MIN = 300_000  # the pool never shrinks below this, so a size's records do not depend on
#                    which other sizes were asked for

# Mixture of token sources in titles and abstracts (calibrated so ~2-3% of records link).
SHARE_FILLER, SHARE_REAL, SHARE_PSEUDO = 0.40, 0.07, 0.53
N_PSEUDO = 80_000
# Share of records with one sentence in a claim's query terms, and how many terms it has.
P_ON_TOPIC, TOPIC_TERMS = 0.3, (2, 14)

_FILLER_TEXT = (
    "the of and in to a with for was were is are on by at as from that this be or an which we "
    "patients study results group groups treatment outcome outcomes clinical compared baseline "
    "significant significantly associated analysis data effect effects months weeks years mean "
    "higher lower increased decreased reduced score scores between after before during among "
    "response rate rates total included participants observed difference differences both also "
    "however these than not no may can use used using findings methods conclusions background "
    "objective aim aims measured assessed primary secondary follow-up control controls trial "
    "risk factors level levels time first two three high low age women men adults years"
)
FILLER = _FILLER_TEXT.split()

# MeSH descriptors (names only; the unique ids stored are synthetic "SYN..." codes).
MESH_COMMON = (
    "Humans", "Female", "Male", "Adult", "Middle Aged", "Aged", "Young Adult", "Adolescent",
    "Treatment Outcome", "Prospective Studies", "Retrospective Studies", "Double-Blind Method",
    "Cross-Sectional Studies", "Follow-Up Studies", "Time Factors", "Risk Factors",
    "Surveys and Questionnaires", "Quality of Life", "Severity of Illness Index",
    "Psychiatric Status Rating Scales", "Depression", "Depressive Disorder, Major",
    "Anxiety", "Brain", "Prefrontal Cortex", "Magnetic Resonance Imaging",
)  # fmt: skip
MESH_TOPIC = (
    "Transcranial Magnetic Stimulation", "Selective Serotonin Reuptake Inhibitors",
    "Antidepressive Agents", "Serotonin and Noradrenaline Reuptake Inhibitors",
    "Anhedonia", "Affective Symptoms", "Fluoxetine", "Sertraline", "Escitalopram",
    "Bupropion", "Animals", "Mice", "Rats", "Healthy Volunteers",
)  # fmt: skip
QUALIFIERS = (
    "drug therapy", "adverse effects", "therapeutic use", "psychology", "methods",
    "physiopathology", "epidemiology", "diagnosis", "pharmacology", "therapy",
)  # fmt: skip
# (phrase, publication type or None, weight): roughly the mix of a topic search's hits.
DESIGNS = (
    (None, None, 0.42),
    ("a randomized, double-blind, placebo-controlled trial", "Randomized Controlled Trial", 0.12),
    ("a systematic review and meta-analysis", "Meta-Analysis", 0.07),
    ("a systematic review", "Systematic Review", 0.05),
    ("a prospective cohort study", None, 0.09),
    ("a cross-sectional survey", None, 0.05),
    ("a case report", "Case Reports", 0.04),
    ("a narrative review", "Review", 0.08),
    ("an open-label, single-arm pilot study", "Clinical Trial", 0.04),
    ("a case-control study", None, 0.04),
)
STATUSES = ("MEDLINE", "PubMed-not-MEDLINE", "In-Process", "Publisher")
STATUS_WEIGHTS = (0.8, 0.1, 0.06, 0.04)
INITIALS = [a + b for a in "ABCDEFGHJKLMNPRSTW" for b in ("", *"ABCDEFGHJKLMNPRSTW")]
SECTIONS = ("BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# PMID -> approximate year of indexing (PMIDs are assigned in order).
_YEAR_AT = ((0, 1965), (10_000_000, 1999), (20_000_000, 2010), (30_000_000, 2019),
            (PMID_MAX, 2026))  # fmt: skip

_WORD = re.compile(r"[A-Za-z][A-Za-z-]{2,}")


def curated_pmids(corpus: Path | None = None) -> set[str]:
    path = corpus or REPO / "data" / "corpus" / "curated_evidence.jsonl"
    with open(path, encoding="utf-8") as fh:
        return {str(json.loads(line)["pmid"]) for line in fh if line.strip()}


def _real_words() -> list[str]:
    """Words of the repository's own texts (post, claims, curator notes): no record text."""
    text = [p.read_text(encoding="utf-8") for p in sorted((REPO / "data" / "content").glob("*.md"))]
    text.append((REPO / "data" / "claims.yaml").read_text(encoding="utf-8"))
    with open(REPO / "data" / "corpus" / "curated_evidence.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                d = json.loads(line)
                text += [str(d.get(k, "")) for k in ("title", "finding", "population")]
                text += [str(c.get("why", "")) for c in d.get("claims", [])]
    seen: dict[str, None] = {}
    for w in _WORD.findall(" ".join(text)):
        seen.setdefault(w if w.isupper() else w.lower(), None)
    return list(seen)


def _claim_words() -> list[list[str]]:
    """Per claim: the distinct words of its relevance query (statement, query and topic terms)."""
    from evidence.claims import claims_frame, load_claims
    from evidence.relevance import claim_queries

    registry = load_claims(REPO / "data" / "claims.yaml")
    queries = claim_queries(
        claims_frame(registry), {k: t.query for k, t in registry.topics.items()}
    )
    return [
        list(dict.fromkeys(w.lower() for w in _WORD.findall(text))) for text in queries.values()
    ]


def _pseudo_words(n: int, rng: np.random.Generator) -> list[str]:
    onsets = [*"bcdfghjklmnprstvz", "br", "cl", "dr", "fl", "gr", "pl", "pr", "st", "tr", "th"]
    vowels = [*"aeiouy", "ai", "ea", "io", "ou"]
    codas = ["", "", "n", "r", "s", "l", "m", "x", "nd", "st", "rt"]
    out: dict[str, None] = {}
    while len(out) < n:
        k = int(rng.integers(2, 5))
        w = (
            "".join(
                onsets[rng.integers(len(onsets))] + vowels[rng.integers(len(vowels))]
                for _ in range(k)
            )
            + codas[rng.integers(len(codas))]
        )
        out.setdefault(w, None)
    return list(out)


def _zipf(n: int, s: float = 1.0, offset: float = 2.7) -> np.ndarray:
    p = 1.0 / (np.arange(n) + offset) ** s
    return p / p.sum()


class SyntheticCorpus:
    """A deterministic pool of SYNTHETIC records; see the module docstring."""

    def __init__(self, n_max: int, exclude: Iterable[str] = (), seed: int = SEED) -> None:
        self.seed = seed
        self.n_store_chunks = -(-max(n_max, POOL_MIN) // CHUNK)
        self.fold_chunk = self.n_store_chunks  # reserved: never in a base store
        need = (self.n_store_chunks + 1) * CHUNK
        excluded = {int(p) for p in exclude}
        self.excluded = excluded
        rng = np.random.default_rng(seed)
        raw = rng.choice(PMID_MAX, size=need + len(excluded), replace=False) + 1
        self.pmids = raw[~np.isin(raw, list(excluded))][:need]
        wrng = np.random.default_rng([seed, 1])
        real = _real_words()
        pseudo = _pseudo_words(N_PSEUDO, wrng)
        self.words = np.array(FILLER + real + pseudo, dtype=object)
        p = np.concatenate(
            [
                np.full(len(FILLER), SHARE_FILLER / len(FILLER)),
                SHARE_REAL * _zipf(len(real))[wrng.permutation(len(real))],
                SHARE_PSEUDO * _zipf(len(pseudo)),
            ]
        )
        self.p = p / p.sum()
        self.mesh_pseudo = [f"Synthetic {w.capitalize()}" for w in pseudo[:3000]]
        self.journals = [f"SYNTHETIC Journal of {w.capitalize()}" for w in pseudo[3000:4500]]
        self.families = [w.capitalize() for w in pseudo[4500:24500]]
        self.kw_words = real + pseudo[:20000]
        self.claim_words = _claim_words()
        self._uis: dict[str, str] = {}
        self._design_p = np.array([d[2] for d in DESIGNS]) / sum(d[2] for d in DESIGNS)

    # ----- public --------------------------------------------------------------------------

    def store_records(self, start: int, stop: int) -> pd.DataFrame:
        """Records ``start..stop-1`` of the pool (what a store of ``stop`` records holds)."""
        if stop > self.n_store_chunks * CHUNK:
            raise ValueError(f"the pool holds {self.n_store_chunks * CHUNK} store records")
        return self._range(start, stop)

    def fold_records(self, n: int = 100, mix: str = "weekly") -> pd.DataFrame:
        """``n`` records that no base store holds, as a refresh brings them.

        ``weekly``: 80% PMIDs of the coming week (41,000,001..41,025,000: PubMed adds ~25,000 a
        week), 15% from the past year (40,000,001..41,000,000: records that match once
        MeSH-indexed), 5% spread over 1..41,000,000 (older records that first match now).
        ``spread``: all spread over 1..41,000,000, the worst case for PMID-range partitions.
        """
        if n > CHUNK:
            raise ValueError(f"at most {CHUNK} fold records")
        if mix not in FOLD_MIXES:
            raise ValueError(f"fold mix {mix!r}: expected one of {', '.join(FOLD_MIXES)}")
        base = self.fold_chunk * CHUNK
        spread = self.pmids[base : base + n].tolist()
        pmids = spread
        if mix == "weekly":
            n_week, n_year = round(n * 0.80), round(n * 0.15)
            rng = np.random.default_rng([self.seed, 3])
            week = rng.choice(WEEK_PMIDS, size=n_week, replace=False) + PMID_MAX + 1
            taken = set(self.pmids.tolist()) | self.excluded
            year = [
                p
                for p in (rng.choice(YEAR_PMIDS, size=n_year + 500, replace=False) + PMID_MAX
                          - YEAR_PMIDS + 1).tolist()
                if p not in taken
            ][:n_year]  # fmt: skip
            pmids = sorted(week.tolist()) + sorted(year) + spread[: n - n_week - n_year]
        return self._frame(self._chunk(self.fold_chunk, pmids))

    # ----- generation ----------------------------------------------------------------------

    def _range(self, start: int, stop: int) -> pd.DataFrame:
        rows: list[dict[str, Any]] = []
        for chunk in range(start // CHUNK, -(-stop // CHUNK)):
            lo, hi = max(start, chunk * CHUNK), min(stop, (chunk + 1) * CHUNK)
            if lo < hi:
                rows += self._chunk(chunk)[lo - chunk * CHUNK : hi - chunk * CHUNK]
        return self._frame(rows)

    @staticmethod
    def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
        from evidence.schema import RECORD_FIELDS

        return pd.DataFrame(rows, columns=RECORD_FIELDS.names)

    def _chunk(self, chunk: int, pmids: list[int] | None = None) -> list[dict[str, Any]]:
        """The records of one chunk of the pool (or the given PMIDs with that chunk's seed)."""
        rng = np.random.default_rng([self.seed, 2, chunk])
        r = random.Random(self.seed * 1_000_003 + chunk)  # scalar draws: far cheaper than numpy's
        if pmids is None:
            pmids = self.pmids[chunk * CHUNK : (chunk + 1) * CHUNK].tolist()
        n = len(pmids)
        title_ids = rng.choice(len(self.words), size=(n, 18), p=self.p)
        abstract_ids = rng.choice(len(self.words), size=(n, 300), p=self.p)
        designs = r.choices(DESIGNS, weights=[d[2] for d in DESIGNS], k=n)
        statuses = r.choices(STATUSES, weights=STATUS_WEIGHTS, k=n)
        return [
            self._record(r, pmids[i], title_ids[i], abstract_ids[i], designs[i], statuses[i])
            for i in range(n)
        ]

    def _record(
        self,
        r: random.Random,
        pmid: int,
        title_ids: np.ndarray,
        abstract_ids: np.ndarray,
        design: tuple[str | None, str | None, float],
        status: str,
    ) -> dict[str, Any]:
        words = self.words
        phrase, pub_type, _ = design
        title = "SYNTHETIC " + " ".join(words[title_ids[: r.randint(8, 18)]])
        indexed = status == "MEDLINE"
        phrase_in_abstract = phrase is not None
        if phrase and r.random() < 0.5:
            title += f": {phrase}"
            phrase_in_abstract = False

        # Abstract: sentences of 10-25 words; maybe a design sentence, a sample size, and a
        # sentence in one claim's own terms.
        tokens = words[abstract_ids[: r.randint(120, 300)]].tolist()
        sentences = []
        while tokens:
            k = r.randint(10, 25)
            sentences.append(" ".join(tokens[:k]).capitalize() + ".")
            tokens = tokens[k:]
        if phrase_in_abstract:
            sentences.insert(min(2, len(sentences)), f"This was {phrase}.")
        if phrase and r.random() < 0.6:
            size = int(math.exp(r.uniform(math.log(8), math.log(5000))))
            sentences.insert(min(3, len(sentences)), f"A total of {size} patients took part.")
        if r.random() < P_ON_TOPIC:
            terms = r.choice(self.claim_words)
            k = min(len(terms), r.randint(*TOPIC_TERMS))
            picked = " ".join(r.sample(terms, k))
            sentences.insert(r.randint(0, len(sentences)), picked.capitalize() + ".")
        if r.random() < 0.6:  # structured
            step = -(-len(sentences) // len(SECTIONS))
            sections = [
                {"label": label, "category": label, "text": " ".join(sentences[j : j + step])}
                for label, j in zip(SECTIONS, range(0, len(sentences), step), strict=False)
            ]
            abstract = "\n".join(f"{s['label']}: {s['text']}" for s in sections)
        else:
            abstract = " ".join(sentences)
            sections = [{"label": "", "category": "", "text": abstract}]
        if r.random() < 0.08:  # no abstract (letters, old records)
            abstract, sections = "", []

        mesh = []
        if indexed:
            names: dict[str, None] = {"Humans": None} if r.random() < 0.85 else {}
            for name in r.sample(MESH_COMMON, r.randint(4, 11)):
                names.setdefault(name, None)
            for _ in range(r.randint(0, 2)):
                if r.random() < 0.35:
                    names.setdefault(r.choice(MESH_TOPIC), None)
            for _ in range(r.randint(1, 4)):
                names.setdefault(r.choice(self.mesh_pseudo), None)
            mesh = [
                {
                    "descriptor": name,
                    "ui": self._mesh_ui(name),
                    "major": r.random() < 0.2,
                    "qualifiers": r.sample(QUALIFIERS, r.randint(0, 2)),
                }
                for name in names
            ]
        keywords = r.sample(self.kw_words, r.randint(0, 6))
        pub_types = ["Journal Article"]
        if pub_type and (indexed or r.random() < 0.3):
            pub_types.append(pub_type)
        year = _year(pmid)
        month, day = r.randint(1, 12), r.randint(1, 28)
        journal = r.choice(self.journals)
        authors = [
            f"{r.choice(self.families)} {r.choice(INITIALS)}" for _ in range(r.randint(1, 12))
        ]
        first_page = r.randint(1, 2000)
        content = f"{pmid}\n{title}\n{abstract}".encode()
        return {
            "pmid": str(pmid),
            "title": title,
            "abstract": abstract,
            "abstract_sections": sections,
            "journal": journal,
            "journal_iso": journal.replace("SYNTHETIC Journal of", "Synth J"),
            "volume": str(r.randint(1, 120)),
            "issue": str(r.randint(1, 12)),
            "pages": f"{first_page}-{first_page + r.randint(2, 14)}",
            "pub_year": year,
            "pub_date": f"{year:04d}-{month:02d}",
            "pub_date_text": f"{year} {MONTHS[month - 1]}",
            "epub_date": f"{year:04d}-{month:02d}-{day:02d}" if r.random() < 0.6 else None,
            "entrez_date": f"{year:04d}-{month:02d}-{day:02d}",
            "authors": authors,
            "doi": f"10.5555/synthetic.{pmid}" if r.random() < 0.85 else None,
            "pmcid": None,
            "languages": ["eng"],
            "publication_types": pub_types,
            "mesh": mesh,
            "keywords": keywords,
            "citation_status": status,
            "retracted": False,
            "retraction_notices": [],
            "expression_of_concern": False,
            "concern_notices": [],
            "errata": [],
            "article_kind": "journal",
            "source": "efetch",
            "content_hash": "synthetic-" + hashlib.blake2b(content, digest_size=16).hexdigest(),
        }

    def _mesh_ui(self, name: str) -> str:
        ui = self._uis.get(name)
        if ui is None:
            code = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=3).digest(), "big")
            ui = self._uis[name] = f"SYN{code:08d}"
        return ui


def _year(pmid: int) -> int:
    for (p0, y0), (p1, y1) in zip(_YEAR_AT, _YEAR_AT[1:], strict=False):
        if pmid <= p1:
            return int(y0 + (y1 - y0) * (pmid - p0) / (p1 - p0))
    return _YEAR_AT[-1][1]
