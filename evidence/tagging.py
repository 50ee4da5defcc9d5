"""Tags per record: topics, study design, population, sample size, evidence level, indirectness.

Every tag row records where it came from (``origin``), so a reader can tell an indexer's judgement
from a text heuristic:

==============  ============================================================  ===================
kind            tag                                                           origin
==============  ============================================================  ===================
topic           tms, rtms, theta-burst, deep-tms, accelerated-tms; ssri and   mesh, text_rule,
                each SSRI by name; snri and each SNRI; vortioxetine,          curator
                bupropion, agomelatine, mirtazapine, tricyclic, maoi;
                antidepressant (any of these); blunting, anhedonia, apathy
design          one of `schema.DESIGNS`                                       publication_type,
                                                                              text_rule, mesh,
                                                                              curator
population      humans, animals, healthy volunteers                           mesh, text_rule,
                                                                              curator
sample_size     "sample_size" (value: participants, as a string: "164")       text_rule, curator
level           "1".."5" from the design via ``rubric.yaml`` (value: design)  rubric
indirect        "indirect" (value: why: preclinical, healthy volunteers ...)  rubric
==============  ============================================================  ===================

MeSH comes first for topics and population (an indexer read the full text); text rules
(title, abstract, keywords) fill in what MeSH lacks or what is not yet indexed. Design comes from
PubMed publication types when they name one, otherwise from text rules (title before abstract).
Curator tags (curated records have no abstract or MeSH) replace computed tags of the same kind.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .cells import as_list
from .levels import Rubric, load_rubric
from .schema import TAGS

# --- Topics ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicRule:
    tag: str
    parents: tuple[str, ...]
    text: str | None  # regex over title + abstract + keywords (case-insensitive unless noted)
    mesh: str | None  # regex that must match a whole MeSH descriptor name (case-insensitive)
    hints: tuple[str, ...] = ()  # lower-case substrings one of which the text must contain


# Cheap substring checks that gate each text regex (most records mention few topics): a rule's
# regex runs only when the lower-cased text contains one of its hints. Default: the tag itself.
TOPIC_HINTS: dict[str, tuple[str, ...]] = {
    "tms": ("magnetic", "tms"),
    "rtms": ("repetitive", "tms"),
    "theta-burst": ("theta", "tbs"),
    "deep-tms": ("deep", "coil", "dtms"),
    "accelerated-tms": ("accelerated", "stanford", "saint", "snt"),
    "ssri": ("ssri", "serotonin"),
    "snri": ("snri", "serotonin"),
    "tricyclic": ("tricyclic", "tca", "triptyline", "imipramine", "clomipramine"),
    "maoi": ("monoamine", "maoi", "phenelzine", "tranylcypromine"),
    "antidepressant": ("antidepress",),
    "blunting": ("emotional", "blunt", "flat"),
    "anhedonia": ("anhedoni",),
    "apathy": ("apath",),
}
DESIGN_HINTS: dict[str, tuple[str, ...]] = {
    "meta-analysis": ("meta", "pooled"),
    "systematic review": ("systematic", "umbrella"),
    "guideline": ("guideline", "consensus", "position", "parameter"),
    "randomized controlled trial": ("random", "blind", "controlled"),
    "non-randomized trial": ("random", "open", "single", "quasi", "uncontrolled", "phase"),
    "case-control": ("case", "control"),
    "cohort": ("cohort", "prospective", "retrospective", "longitudinal", "registry", "follow"),
    "cross-sectional": ("cross", "survey"),
    "case series": ("series",),
    "case report": ("case", "year"),
    "qualitative": ("qualitative", "interview", "thematic", "focus group", "phenomenolog"),
    "narrative review": ("review", "overview"),
}


def _drug(name: str, parents: tuple[str, ...], mesh: str | None = None) -> TopicRule:
    return TopicRule(name, parents, rf"\b{name}\b", mesh or rf"{name}(?: \w+)?")


_SSRI = ("ssri", "antidepressant")
_SNRI = ("snri", "antidepressant")
_AD = ("antidepressant",)
TOPIC_RULES: tuple[TopicRule, ...] = (
    TopicRule(
        "tms",
        (),
        r"transcranial magnetic stimulation|\b(?-i:[rd]?TMS)\b|magnetic seizure",
        r"transcranial magnetic stimulation",
    ),
    TopicRule(
        "rtms",
        ("tms",),
        r"\brepetitive transcranial magnetic|\b(?-i:rTMS)\b|\bhigh[- ]frequency (?:left )?TMS\b",
        None,
    ),
    TopicRule("theta-burst", ("tms",), r"theta[- ]burst|\b(?-i:[ic]?TBS)\b", None),
    TopicRule(
        "deep-tms",
        ("tms",),
        r"\bdeep (?:transcranial magnetic stimulation|TMS)\b|\bH[- ]coil|\b(?-i:dTMS)\b",
        None,
    ),
    TopicRule(
        "accelerated-tms",
        ("tms",),
        r"\baccelerated (?:i?TBS|rTMS|TMS|theta[- ]burst|transcranial|protocol|schedule|course)"
        r"|Stanford (?:accelerated intelligent )?neuromodulation therapy|\b(?-i:SAINT|SNT)\b",
        None,
    ),
    TopicRule(
        "ssri",
        _AD,
        r"\b(?-i:SSRIs?)\b|selective serotonin(?:[- ]| re)uptake inhibit",
        r"(?:selective )?serotonin (?:re)?uptake inhibitors",
    ),
    _drug("fluoxetine", _SSRI),
    _drug("sertraline", _SSRI),
    _drug("paroxetine", _SSRI),
    _drug("escitalopram", _SSRI),
    TopicRule("citalopram", _SSRI, r"\b(?<!es)citalopram\b", r"citalopram"),
    _drug("fluvoxamine", _SSRI),
    TopicRule(
        "snri",
        _AD,
        r"\b(?-i:SNRIs?)\b|serotonin[- ](?:and[- ])?nor(?:epinephrine|adrenaline) reuptake",
        r"serotonin and (?:noradrenaline|norepinephrine) reuptake inhibitors",
    ),
    _drug("venlafaxine", _SNRI),
    _drug("desvenlafaxine", _SNRI),
    _drug("duloxetine", _SNRI),
    _drug("milnacipran", _SNRI),
    _drug("levomilnacipran", _SNRI),
    _drug("vortioxetine", _AD),
    _drug("bupropion", _AD),
    _drug("agomelatine", _AD),
    _drug("mirtazapine", _AD),
    TopicRule(
        "tricyclic",
        _AD,
        r"\btricyclic|\b(?-i:TCAs?)\b|\b(?:amitriptyline|nortriptyline|imipramine|clomipramine)\b",
        r"antidepressive agents, tricyclic|amitriptyline|nortriptyline|imipramine|clomipramine",
    ),
    TopicRule(
        "maoi",
        _AD,
        r"monoamine oxidase inhibitor|\b(?-i:MAOIs?)\b|\b(?:phenelzine|tranylcypromine)\b",
        r"monoamine oxidase inhibitors|phenelzine|tranylcypromine",
    ),
    TopicRule(
        "antidepressant", (), r"\bantidepress", r"antidepressive agents(?:, second-generation)?"
    ),
    TopicRule(
        "blunting",
        (),
        r"\bemotional(?:ly)?[- ](?:blunt|numb|flat|indifferen|detach|dulling)"
        r"|\bblunted (?:emotion|affect)|\baffective blunting|\bflat affect",
        None,
    ),
    TopicRule("anhedonia", (), r"\banhedoni", r"anhedonia"),
    TopicRule("apathy", (), r"\bapath(?:y|etic)", r"apathy"),
)

# --- Study design ------------------------------------------------------------------------------

# PubMed publication type -> design, most specific first (the first match in this order wins).
PUBLICATION_TYPE_DESIGNS: tuple[tuple[str, str], ...] = (
    ("Randomized Controlled Trial, Veterinary", "preclinical"),
    ("Clinical Trial, Veterinary", "preclinical"),
    ("Observational Study, Veterinary", "preclinical"),
    ("Meta-Analysis", "meta-analysis"),
    ("Systematic Review", "systematic review"),
    ("Practice Guideline", "guideline"),
    ("Guideline", "guideline"),
    ("Consensus Development Conference", "guideline"),
    ("Consensus Development Conference, NIH", "guideline"),
    ("Randomized Controlled Trial", "randomized controlled trial"),
    ("Equivalence Trial", "randomized controlled trial"),
    ("Pragmatic Clinical Trial", "randomized controlled trial"),
    ("Controlled Clinical Trial", "non-randomized trial"),
    ("Clinical Trial, Phase I", "non-randomized trial"),
    ("Clinical Trial, Phase II", "non-randomized trial"),
    ("Clinical Trial, Phase III", "non-randomized trial"),
    ("Clinical Trial, Phase IV", "non-randomized trial"),
    ("Clinical Trial", "non-randomized trial"),
    ("Observational Study", "cohort"),  # refined by text: case-control / cross-sectional
    ("Case Reports", "case report"),
    ("Scoping Review", "narrative review"),
    ("Review", "narrative review"),
    ("Editorial", "other"),
    ("Comment", "other"),
    ("Letter", "other"),
)
_PT_ORDER = {pt.lower(): (i, d) for i, (pt, d) in enumerate(PUBLICATION_TYPE_DESIGNS)}
# Subtypes of "Observational Study" that text can tell apart.
_OBSERVATIONAL = ("case-control", "cross-sectional", "cohort")

# A trial phase ("phase II", "phase 2b", "phase I/II"), as trial names write it.
_PHASE = r"phase (?:I{1,3}|IV|[1-4])[ab]?(?:/(?:I{1,3}|IV|[1-4])[ab]?)?"

# Text rules, in precedence order: the first design whose pattern matches wins. Title first,
# then abstract. Abstract patterns avoid plurals that merely cite other work ("randomized trials"),
# and a match right after a citing word ("published case series") is passed over (`_CITING`).
DESIGN_TEXT_RULES: tuple[tuple[str, str], ...] = (
    ("meta-analysis", r"\bmeta[- ]?analy(?:sis|ses|tic)|\bpooled analysis of\b"),
    (
        "systematic review",
        # not "a non-systematic review" (a narrative review that says so)
        r"(?<!non-)(?<!non )\bsystematic(?:ally)? (?:literature )?review|\bumbrella review",
    ),
    (
        "guideline",
        # a text that calls itself a guideline; a bare "guidelines" is title-only
        # (`_TITLE_GUIDELINE`): abstracts mostly cite them ("according to WHO guidelines")
        r"\b(?:this|these|the present) (?:[\w-]+ ){0,2}guidelines?\b"
        r"|\bconsensus (?:statement|recommendations?|review)|\bposition (?:statement|paper)"
        r"|\bexpert consensus|\bpractice parameter",
    ),
    (
        "randomized controlled trial",
        rf"\brandomi[sz]ed(?:,)? (?:\w+[- ])?(?:{_PHASE} )?(?:controlled |clinical |"
        r"sham[- ]controlled |placebo[- ]controlled |double[- ]blind(?:ed)? |crossover |"
        r"cross-over )*(?:trial|study)\b"
        r"|\brandomly (?:assigned|allocated)|\bwere randomi[sz]ed\b|\brandomi[sz]ed to\b"
        r"|\bdouble[- ]blind(?:ed)?\b|\b(?:sham|placebo)[- ]controlled (?:trial|study)\b",
    ),
    (
        "non-randomized trial",
        r"\bnon[- ]?randomi[sz]ed (?:\w+ )?(?:trial|study)|\bopen[- ]label|\bsingle[- ]arm"
        r"|\bquasi[- ]experimental|\buncontrolled (?:trial|study)"
        # an early-phase trial not called randomized (phase III trials mostly are: left out)
        r"|\bphase (?:I|II|1|2)[ab]?(?:/(?:II|2)[ab]?)? (?:[\w-]+ )?(?:trial|study)\b",
    ),
    (
        "case-control",
        r"\bcase[- ]control|\bnested case|\bcases and \d+ (?:\w+ )?(?:matched )?controls"
        r"|\bmatched controls\b",
    ),
    (
        "cohort",
        r"\bcohort\b|\bprospective(?:ly)? (?:\w+ )?(?:study|follow)|\bretrospective(?:ly)? "
        r"(?:\w+ )?(?:study|analysis|review|chart)|\blongitudinal (?:\w+ )?(?:study|analysis)"
        r"|\bregistry[- ]based|\bfollow[- ]up study",
    ),
    (
        "cross-sectional",
        r"\bcross[- ]sectional|\b(?:online|web[- ]based|national|population[- ]based) survey"
        r"|\bsurvey (?:study|of)\b",
    ),
    ("case series", r"\bcase series|\bseries of \d+ (?:patients|cases)"),
    (
        "case report",
        # singular: "case reports" in an abstract cites others' reports
        r"\bcase report\b|\bwe (?:report|describe|present) (?:a|the|an) (?:\w+ )?(?:case|patient)"
        r"|\ba \d+[- ]year[- ]old (?:man|woman|male|female|boy|girl|patient)",
    ),
    (
        "qualitative",
        r"\bqualitative (?:study|analysis|interview|research)|\bsemi[- ]structured interviews"
        r"|\bthematic analysis|\bfocus groups?\b|\binterpretative phenomenological",
    ),
    (
        "narrative review",
        r"\bnarrative review|\b(?:in )?this review\b|\bliterature review"
        r"|\bwe (?:(?:will|shall|briefly|critically|also) )*review\b"
        r"|\b(?:this|the present) (?:article|paper|chapter) (?:\w+ )?(?:reviews|summari[sz]es)\b"
        r"|\bscoping review|\boverview of\b|\breview of (?:the )?(?:literature|evidence)",
    ),
)
# In a title, "review" alone already marks a review ("Emotional blunting: a review"), and
# "guidelines" a guideline, unless the title only follows, studies or reports on guidelines.
_TITLE_REVIEW = re.compile(r"\b(?:review|overview)\b", re.IGNORECASE)
_TITLE_GUIDELINE = re.compile(
    r"(?<!adherence to )(?<!according to )(?<!compliance with )"
    r"\b(?:clinical )?(?:practice )?guidelines?\b"
    r"(?!-| (?:for|on) (?:the )?reporting| adherence| concordan| implementation)",
    re.IGNORECASE,
)
# A title that names a comment, reply, letter or editorial: an article kind ("other"), whatever
# study it discusses ("Commentary on: ... a randomised, placebo-controlled trial" is no trial).
# Mostly only PubMed's publication types tell these kinds; these are the titles that say so.
_TITLE_ARTICLE_KIND = re.compile(
    r"^(?:re|reply|in reply|response|editorial|comment(?:ary)?|authors?['’]? "
    r"(?:reply|response))\s*(?:[:.]|$)"
    r"|(?:^|(?<=[:.] ))(?:a )?(?:comment(?:ary)? on|(?:in )?reply to|response to (?:the |a )?"
    r"(?:letter|comment(?:ary)?|editorial|critique))\b"
    r"|\bletter to the editor\b|\beditorial comment\b",
    re.IGNORECASE,
)
# Words right before a design phrase that cite others' work ("published case series", "several
# cohort studies", "previous large randomized trials"): such a match says nothing about this
# study. Only "published"/"previous"/"earlier"/"existing" may sit one word away, as "some
# patients were randomized" must still count.
_CITING = re.compile(
    r"\b(?:(?:published|previous(?:ly)?|prior|earlier|existing|several|some|other|many|few)"
    r"|(?:published|previous|earlier|existing)\s+[\w-]+)\s+$",
    re.IGNORECASE,
)
_CITING_WINDOW = 60
# Title cues of a trial that do not say it was unrandomized ("open-label", "phase II trial"):
# unless the title also says so in words, an abstract that says randomized outranks them.
_EXPLICIT_NON_RANDOM = re.compile(
    r"non[- ]?randomi|single[- ]arm|quasi|uncontrolled", re.IGNORECASE
)

# --- Population and sample size ----------------------------------------------------------------

_MESH_POPULATION = {
    "humans": "humans",
    "animals": "animals",
    "mice": "animals",
    "rats": "animals",
    "healthy volunteers": "healthy volunteers",
}
_ANIMAL_TEXT = re.compile(
    r"\b(?:mice|mouse|rats?|rodents?|murine|zebrafish|macaques?|monkeys?|non-human primates?)\b",
    re.IGNORECASE,
)
_HUMAN_TEXT = re.compile(
    r"\b(?:patients?|participants?|adults?|children|adolescents|women|men|volunteers?|"
    r"outpatients|inpatients|individuals|people|veterans|respondents)\b",
    re.IGNORECASE,
)
_HEALTHY_TEXT = re.compile(
    r"\bhealthy (?:human |adult |young |male |female )?(?:volunteers?|participants?|subjects?"
    r"|adults?|individuals?|men|women)\b",
    re.IGNORECASE,
)
_PATIENT_TEXT = re.compile(r"\bpatients?\b", re.IGNORECASE)
_NUM = r"(\d{1,3}(?:,\d{3})+|\d+)"
_PEOPLE = (
    r"(?:patients|participants|subjects|adults|individuals|people|persons|women|men|children|"
    r"adolescents|outpatients|inpatients|volunteers|veterans|respondents|users|cases)"
)
_SAMPLE_SIZE = re.compile(
    rf"\b[nN]\s*=\s*{_NUM}\b"
    rf"|\b{_NUM}\s+(?:[A-Za-z-]+\s+){{0,3}}?{_PEOPLE}\b"
    rf"|\b(?:total|sample) of\s+{_NUM}\b"
)
MAX_SAMPLE_SIZE = 10_000_000


Hints = tuple[str, ...]


@dataclass(frozen=True)
class _Compiled:
    topics: tuple[tuple[TopicRule, re.Pattern[str] | None, re.Pattern[str] | None, Hints], ...]
    designs: tuple[tuple[str, re.Pattern[str], Hints], ...]
    observational: tuple[tuple[str, re.Pattern[str], Hints], ...]
    rct: re.Pattern[str]


def _compile() -> _Compiled:
    flags = re.IGNORECASE
    topics = tuple(
        (
            r,
            re.compile(r.text, flags) if r.text else None,
            re.compile(rf"(?:{r.mesh})", flags) if r.mesh else None,
            TOPIC_HINTS.get(r.tag, (r.tag,)),
        )
        for r in TOPIC_RULES
    )
    designs = tuple((d, re.compile(p, flags), DESIGN_HINTS[d]) for d, p in DESIGN_TEXT_RULES)
    observational = tuple(x for x in designs if x[0] in _OBSERVATIONAL)
    rct = next(p for d, p, _ in designs if d == "randomized controlled trial")
    return _Compiled(topics, designs, observational, rct)


def _hinted(low: str, hints: Hints) -> bool:
    return any(h in low for h in hints)


_RULES = _compile()

# --- Row helpers -------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _descriptors(mesh: Any) -> list[str]:
    out = []
    for m in as_list(mesh):
        name = m.get("descriptor") if isinstance(m, dict) else None
        if isinstance(name, str) and name:
            out.append(name)
    return out


def design_from_publication_types(pub_types: Iterable[str]) -> tuple[str, str] | None:
    """(design, publication type) for the most specific mapped type; None when none maps."""
    best: tuple[int, str, str] | None = None
    for pt in pub_types:
        hit = _PT_ORDER.get(str(pt).strip().lower())
        if hit and (best is None or hit[0] < best[0]):
            best = (hit[0], hit[1], str(pt))
    return (best[1], best[2]) if best else None


def _own_match(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """The first match that is not another study being cited ("previous randomized trials")."""
    for m in pattern.finditer(text):
        if not _CITING.search(text, max(0, m.start() - _CITING_WINDOW), m.start()):
            return m
    return None


def design_from_text(title: str, abstract: str) -> tuple[str, str, str] | None:
    """(design, where, matched text) from text rules: title first, then abstract.

    A title naming an article kind (comment, reply, editorial) gives "other" before any design
    the discussed study's title carries. A title's open-label or phase I/II trial is an RCT when
    the abstract says it was randomized. A bare "review" or "guidelines" counts in a title only,
    and only when no other design rule matched there.
    """
    if title:
        m = _TITLE_ARTICLE_KIND.search(title)
        if m:
            return "other", "title", m.group(0)
    for where, text in (("title", title), ("abstract", abstract)):
        if not text:
            continue
        low = text.lower()
        for design, pattern, hints in _RULES.designs:
            m = _own_match(pattern, text) if _hinted(low, hints) else None
            if not m:
                continue
            if (
                where == "title"
                and design == "non-randomized trial"
                and not _EXPLICIT_NON_RANDOM.search(text)
                and abstract
                and (r := _own_match(_RULES.rct, abstract))
            ):
                return "randomized controlled trial", "abstract", r.group(0)
            return design, where, m.group(0)
        if where == "title":
            m = _TITLE_GUIDELINE.search(text)
            if m:
                return "guideline", where, m.group(0)
            m = _TITLE_REVIEW.search(text)
            if m:
                return "narrative review", where, m.group(0)
    return None


def sample_size_from_text(text: str) -> tuple[int, str] | None:
    """The largest participant count stated in the text, with the phrase it came from."""
    best: tuple[int, str] | None = None
    for m in _SAMPLE_SIZE.finditer(text):
        raw = next(g for g in m.groups() if g)
        n = int(raw.replace(",", ""))
        if 0 < n < MAX_SAMPLE_SIZE and (best is None or n > best[0]):
            best = (n, m.group(0))
    return best


Row = tuple[str, str, str, str, float, str]  # pmid, tag, kind, origin, confidence, value


def _topic_rows(pmid: str, text: str, descriptors: list[str]) -> Iterator[Row]:
    found: dict[str, tuple[str, float, str]] = {}
    mesh_text = "\n".join(descriptors)
    low = text.lower()
    for rule, text_re, mesh_re, hints in _RULES.topics:
        hit: tuple[str, float, str] | None = None
        if mesh_re is not None and mesh_text:
            for d in descriptors:
                if mesh_re.fullmatch(d):
                    hit = ("mesh", 1.0, d)
                    break
        if hit is None and text_re is not None and _hinted(low, hints):
            m = text_re.search(text)
            if m:
                hit = ("text_rule", 0.8, m.group(0))
        if hit is None:
            continue
        for tag in (rule.tag, *rule.parents):
            if tag not in found or (found[tag][1] < hit[1]):
                found[tag] = hit if tag == rule.tag else (hit[0], hit[1], f"{rule.tag}: {hit[2]}")
    for tag, (origin, conf, value) in found.items():
        yield (pmid, tag, "topic", origin, conf, value)


def _population(text: str, descriptors: list[str]) -> dict[str, tuple[str, str]]:
    """population tag -> (origin, value)."""
    pops: dict[str, tuple[str, str]] = {}
    for d in descriptors:
        pop = _MESH_POPULATION.get(d.lower())
        if pop and pop not in pops:
            pops[pop] = ("mesh", d)
    if not descriptors and text:
        m = _ANIMAL_TEXT.search(text)
        if m:
            pops["animals"] = ("text_rule", m.group(0))
        m = _HUMAN_TEXT.search(text)
        if m:
            pops["humans"] = ("text_rule", m.group(0))
    if "healthy volunteers" not in pops and text and not _PATIENT_TEXT.search(text):
        m = _HEALTHY_TEXT.search(text)
        if m:
            pops["healthy volunteers"] = ("text_rule", m.group(0))
            pops.setdefault("humans", ("text_rule", m.group(0)))
    return pops


def _design(
    title: str, abstract: str, pub_types: list[str], pops: dict[str, tuple[str, str]]
) -> tuple[str, str, float, str] | None:
    """(design, origin, confidence, value) for one record."""
    design: tuple[str, str, float, str] | None = None
    from_pt = design_from_publication_types(pub_types)
    if from_pt:
        d, pt = from_pt
        if pt.lower() == "observational study":
            for sub, pattern, _ in _RULES.observational:
                m = pattern.search(title) or pattern.search(abstract)
                if m:
                    d, pt = sub, f"{pt}; text: {m.group(0)}"
                    break
        design = (d, "publication_type", 0.95, pt)
    else:
        from_text = design_from_text(title, abstract)
        if from_text:
            d, where, matched = from_text
            design = (d, "text_rule", 0.8 if where == "title" else 0.6, f"{where}: {matched}")
    if "animals" in pops and "humans" not in pops:
        origin, value = pops["animals"]
        return ("preclinical", origin, 0.9, f"animals only ({value})")
    if (
        "healthy volunteers" in pops
        and (design is None or design[0] in ("randomized controlled trial", "non-randomized trial"))
        and (design is not None or pops["healthy volunteers"][0] == "mesh")
    ):
        origin, value = pops["healthy volunteers"]
        base = design[0] if design else "experiment"
        return ("healthy-volunteer experiment", origin, 0.8, f"{base} in {value}")
    return design


def _record_rows(
    pmid: str,
    title: str,
    abstract: str,
    keywords: list[str],
    mesh: Any,
    pub_types: list[str],
) -> Iterator[Row]:
    descriptors = _descriptors(mesh)
    text = " \n".join(x for x in (title, abstract, "; ".join(map(str, keywords))) if x)
    yield from _topic_rows(pmid, text, descriptors)
    pops = _population(text, descriptors)
    for pop, (origin, value) in pops.items():
        yield (pmid, pop, "population", origin, 1.0 if origin == "mesh" else 0.7, value)
    design = _design(title, abstract, pub_types, pops)
    if design:
        yield (pmid, design[0], "design", design[1], design[2], design[3])
    size = sample_size_from_text(abstract) if abstract else None
    if size:
        yield (pmid, "sample_size", "sample_size", "text_rule", 0.7, str(size[0]))


def _frame(rows: list[Row]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["pmid", "tag", "kind", "origin", "confidence", "value"])
    return TAGS.conform(df) if len(df) else TAGS.empty()


def derive_levels(tags: pd.DataFrame, rubric: Rubric | None = None) -> pd.DataFrame:
    """Level and indirect rows from each record's design (and population) tags."""
    rubric = rubric or load_rubric()
    designs = tags[tags["kind"] == "design"].drop_duplicates("pmid", keep="first")
    pops = tags[tags["kind"] == "population"]
    healthy_only = set(pops.loc[pops["tag"] == "healthy volunteers", "pmid"])
    animals = set(pops.loc[pops["tag"] == "animals", "pmid"])
    humans = set(pops.loc[pops["tag"] == "humans", "pmid"])
    rows: list[Row] = []
    for pmid, design in zip(designs["pmid"], designs["tag"], strict=True):
        rows.append((pmid, str(rubric.level(design)), "level", "rubric", 1.0, design))
    indirect: dict[str, str] = {}
    for pmid, design in zip(designs["pmid"], designs["tag"], strict=True):
        if design in rubric.indirect_designs:
            indirect[pmid] = design
    for pmid in animals - humans:
        indirect.setdefault(pmid, "animals only")
    for pmid in healthy_only:
        indirect.setdefault(pmid, "healthy volunteers")
    rows.extend((p, "indirect", "indirect", "rubric", 1.0, why) for p, why in indirect.items())
    return _frame(rows)


def merge_curator_tags(computed: pd.DataFrame, curator: pd.DataFrame | None) -> pd.DataFrame:
    """Curator tags replace computed tags of the same kind for the same record."""
    if curator is None or curator.empty:
        return computed
    curator = curator[~curator["kind"].isin(["level", "indirect"])]
    covered = set(zip(curator["pmid"], curator["kind"], strict=True))
    keep = [(p, k) not in covered for p, k in zip(computed["pmid"], computed["kind"], strict=True)]
    merged = pd.concat([computed[keep], curator], ignore_index=True)
    return merged.drop_duplicates(["pmid", "tag", "kind"], keep="last").reset_index(drop=True)


def tag_records(
    records: pd.DataFrame,
    curator_tags: pd.DataFrame | None = None,
    rubric: Rubric | None = None,
) -> pd.DataFrame:
    """TAGS rows for every record (see the module table), curator tags winning per kind."""
    rows: list[Row] = []
    n = len(records)

    def col(name: str) -> Iterable[Any]:
        return records[name] if name in records.columns else [None] * n

    for pmid, title, abstract, keywords, mesh, pub_types in zip(
        col("pmid"),
        col("title"),
        col("abstract"),
        col("keywords"),
        col("mesh"),
        col("publication_types"),
        strict=True,
    ):
        rows.extend(
            _record_rows(
                str(pmid),
                _text(title),
                _text(abstract),
                as_list(keywords),
                mesh,
                [str(p) for p in as_list(pub_types)],
            )
        )
    tags = merge_curator_tags(_frame(rows), curator_tags)
    derived = derive_levels(tags, rubric)
    out = pd.concat([tags, derived], ignore_index=True) if len(derived) else tags
    return TAGS.conform(out) if len(out) else TAGS.empty()
