"""Cue- and negation-aware stance rules: the always-available fallback of the stance suggester.

A study supports a claim when a sentence that talks about the claim's subject reports a finding
in the claim's direction; it refutes it when that finding is negated (NegEx-style: a negation
trigger within a few tokens before the finding) or points the other way. Hedged sentences
("may", "further studies are needed") pull the suggestion towards background. Conclusion
sentences weigh most, because that is where an abstract states what it found.

The same cues are exposed as numeric pair features (`pair_features`) for the learned model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import pysbd


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_TOKEN = re.compile(r"[a-z0-9]+(?:['’-][a-z0-9]+)*")

# NegEx-style pre-triggers: they negate a cue that follows within _NEG_WINDOW tokens.
_NEG_TRIGGERS = _words(
    "not no never none neither nor without cannot can't didn't doesn't don't isn't wasn't aren't "
    "weren't won't wouldn't couldn't shouldn't hasn't haven't hadn't lack lacks lacking absence "
    "absent fail fails failed unable myth false hoax unproven unsubstantiated"
)
# Null-result phrases counted once more on top of their trigger: they are the strongest cue.
_NULL_PHRASES = ("no evidence", "no significant", "no difference", "no benefit")
# Tokens that end a negation's scope (NegEx termination terms).
_NEG_STOP = _words("but however although though whereas yet except while")
_NEG_WINDOW = 6
_HEDGES_TO_MUTE = 3  # a sentence hedged this often is read as stating no finding

# Findings that state an effect or an association (the claim's "it does X").
_FINDING = _words(
    "effective efficacy efficacious improve improves improved improvement improving reduce reduces "
    "reduced reduction reducing decrease decreases decreased increase increases increased "
    "increasing prevent prevents prevented prevention protect protects protective protection "
    "cure cures cured treat treats treated benefit benefits beneficial associated association "
    "correlated correlation linked link cause causes caused causing risk risks lower lowers higher "
    "inhibit inhibits inhibited inhibition kill kills killed inactivate inactivated inactivation "
    "spread spreads transmit transmitted transmission survive survives safe safety harmful "
    "worsen worsens worsened worse better superior significant significantly elevated promote "
    "promotes enhance enhances enhanced boost boosts help helps"
)
# Findings that are null or negative by themselves (no trigger needed).
_NULL_FINDING = _words(
    "ineffective inefficacious unsafe unrelated unlikely insufficient inconclusive "
    "nonsignificant non-significant ineffectual useless unfounded disproved refuted"
)
# Direction of an effect, compared between claim and sentence.
_UP = _words(
    "increase increases increased increasing raise raises raised higher more elevated elevate "
    "enhance enhances enhanced boost boosts promote promotes worsen worsens worsened worse "
    "greater exacerbate exacerbates aggravate aggravates"
)
_DOWN = _words(
    "decrease decreases decreased decreasing reduce reduces reduced reducing reduction lower "
    "lowers lowered less fewer diminish diminishes diminished inhibit inhibits inhibited "
    "prevent prevents prevented alleviate alleviates attenuate attenuates suppress suppresses "
    "kill kills killed inactivate inactivates inactivated"
)
_HEDGES = _words(
    "may might could possibly possible potentially potential perhaps suggest suggests suggested "
    "suggesting appear appears appeared seem seems likely unclear unknown hypothesize hypothesise "
    "speculate plausible warrant warranted preliminary remain remains uncertain"
)
_HEDGE_PHRASES = (
    "further studies",
    "further research",
    "more research",
    "more studies",
    "further investigation",
    "needs to be",
    "need to be",
    "needed to",
    "remains to be",
    "remain to be",
    "is warranted",
    "are warranted",
    "yet to be",
    "not yet",
)
_CONCLUSION_MARKERS = (
    "conclusion",
    "in conclusion",
    "conclusions",
    "we conclude",
    "these findings",
    "these results",
    "our findings",
    "our results",
    "this study",
    "our study",
    "taken together",
    "overall",
    "in summary",
    "to summarize",
    "our data",
    "these data",
)
_STOPWORDS = _words(
    "a an the of and or in on at to for from by with as is are was were be been being it its this "
    "that these those there their they them we our you your he she his her i me my can could may "
    "might will would should shall do does did done has have had not no yes than then so such "
    "into about over under between among also only more most less very much many some any all "
    "each other which who whom whose what when where why how if but however while because due "
    "per via vs via et al e g i e up out new one two use used using covid covid-19 19 sars cov "
    "sars-cov-2 coronavirus coronaviruses virus viral disease patients patient people study "
    "studies 2019-ncov ncov pandemic"
)


@dataclass(frozen=True)
class SentenceCues:
    """What the rules read in one sentence; kept to explain and to feed the learned model."""

    relevance: float  # share of the claim's content words found in the sentence
    findings: int  # affirmed finding cues
    negated: int  # finding cues inside a negation's scope, plus null findings
    hedges: int
    direction: int  # +1 up, -1 down, 0 none or both (after negation)
    conclusion: bool


@dataclass(frozen=True)
class RuleDecision:
    stance: str  # supports | contradicts | background
    confidence: float
    sentence_index: int | None  # the sentence that drove the decision (None: no relevant one)
    score: float  # signed: > 0 supports, < 0 contradicts


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower().replace("’", "'"))


def _stem(token: str) -> str:
    """A crude stem so that 'vaccines'/'vaccine' and 'infected'/'infection' meet."""
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ied", "ed", "es", "s"):
        if token.endswith(suffix) and len(token) - len(suffix) >= 4:
            return token[: -len(suffix)]
    return token


def content_stems(text: str) -> frozenset[str]:
    return frozenset(_stem(t) for t in tokens(text) if t not in _STOPWORDS and len(t) > 2)


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False, char_span=False)


def split_sentences(text: str | Sequence[str]) -> tuple[str, ...]:
    """Sentences as verbatim substrings of the input (a sequence is split item by item)."""
    items = [text] if isinstance(text, str) else list(text)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"text must be a string or a sequence of strings, got {type(item)!r}")
        out.extend(s.strip() for s in _segmenter().segment(item) if s.strip())
    return tuple(out)


def _has_phrase(text: str, phrases: Sequence[str]) -> int:
    return sum(1 for p in phrases if re.search(rf"\b{re.escape(p)}\b", text))


def read_polarity(toks: Sequence[str], text: str) -> tuple[int, int, int]:
    """Affirmed finding cues, negated ones, and the net direction (NegEx-style scopes)."""
    findings = negated = 0
    up = down = 0
    scope = 0  # tokens left in the current negation scope
    for tok in toks:
        if tok in _NEG_STOP:
            scope = 0
        if tok in _NEG_TRIGGERS:
            scope = _NEG_WINDOW
            continue
        in_scope = scope > 0
        scope = max(0, scope - 1)
        if tok in _NULL_FINDING:
            negated += 1
            continue
        if tok in _FINDING or tok in _UP or tok in _DOWN:
            if in_scope:
                negated += 1
            else:
                findings += 1
            sign = -1 if in_scope else 1
            if tok in _UP:
                up += sign
            elif tok in _DOWN:
                down += sign
    negated += _has_phrase(text, _NULL_PHRASES)
    direction = (up > down) - (down > up)
    return findings, negated, direction


def sentence_cues(claim_stems: frozenset[str], sentence: str, *, last: bool) -> SentenceCues:
    low = sentence.lower()
    toks = tokens(sentence)
    findings, negated, direction = read_polarity(toks, low)
    stems = {_stem(t) for t in toks}
    relevance = len(claim_stems & stems) / len(claim_stems) if claim_stems else 0.0
    hedges = sum(1 for t in toks if t in _HEDGES) + _has_phrase(low, _HEDGE_PHRASES)
    conclusion = last or any(low.startswith(m) or f" {m}" in low[:60] for m in _CONCLUSION_MARKERS)
    return SentenceCues(relevance, findings, negated, hedges, direction, conclusion)


def claim_polarity(claim: str) -> tuple[int, int]:
    """(+1 affirmative / -1 negated claim, direction of the claimed effect)."""
    low = claim.lower()
    findings, negated, direction = read_polarity(tokens(claim), low)
    negative = negated > 0 or any(w in _NEG_TRIGGERS for w in tokens(claim))
    return (-1 if negative else 1), direction


def sentence_score(claim_sign: int, claim_dir: int, cues: SentenceCues) -> float:
    """Signed evidence of one sentence: > 0 agrees with the claim, < 0 disagrees."""
    if cues.findings == 0 and cues.negated == 0:
        return 0.0
    if cues.hedges >= _HEDGES_TO_MUTE:
        return 0.0  # "may possibly ..., further studies are needed" asserts nothing yet
    polarity = (cues.findings > cues.negated) - (cues.negated > cues.findings)
    if polarity == 0:
        polarity = -1 if cues.negated else 0
    if claim_dir and cues.direction and polarity > 0:
        polarity = 1 if claim_dir == cues.direction else -1
    weight = cues.relevance * (1.5 if cues.conclusion else 1.0) / (1.0 + 0.25 * cues.hedges**2)
    return claim_sign * polarity * weight


def decide(claim: str, sentences: Sequence[str]) -> RuleDecision:
    """The rules' stance: the strongest relevant sentence decides; weak or hedged -> background."""
    claim_stems = content_stems(claim)
    claim_sign, claim_dir = claim_polarity(claim)
    best_i: int | None = None
    best = 0.0
    best_rel = -1.0
    for i, sentence in enumerate(sentences):
        cues = sentence_cues(claim_stems, sentence, last=i == len(sentences) - 1)
        score = sentence_score(claim_sign, claim_dir, cues)
        # Ties go to the earlier sentence so that the result never depends on set order.
        if abs(score) > abs(best) or (best == 0.0 and cues.relevance > best_rel):
            best_i, best, best_rel = i, score, max(best_rel, cues.relevance)
    if best_i is None or abs(best) < 0.2:
        conf = 0.5 + min(0.4, 0.4 * (0.2 - abs(best)) / 0.2)
        return RuleDecision("background", round(conf, 4), best_i, best)
    stance = "supports" if best > 0 else "contradicts"
    conf = min(0.9, 0.45 + 0.4 * abs(best))
    return RuleDecision(stance, round(conf, 4), best_i, best)


PAIR_FEATURE_NAMES = (
    "rel_max",
    "rel_mean",
    "rel_conclusion",
    "claim_negated",
    "claim_direction",
    "claim_hedges",
    "findings",
    "negated",
    "hedges",
    "direction_agree",
    "direction_disagree",
    "rule_score",
    "rule_supports",
    "rule_contradicts",
    "n_sentences",
    "claim_question",
    "neg_x_claimneg",
    "find_x_claimneg",
)


def pair_features(claim: str, sentences: Sequence[str]) -> list[float]:
    """Numeric cue features of a claim–study pair, in PAIR_FEATURE_NAMES order."""
    claim_stems = content_stems(claim)
    claim_sign, claim_dir = claim_polarity(claim)
    cues = [
        sentence_cues(claim_stems, s, last=i == len(sentences) - 1) for i, s in enumerate(sentences)
    ] or [SentenceCues(0.0, 0, 0, 0, 0, False)]
    rels = [c.relevance for c in cues]
    concl = [c.relevance for c in cues if c.conclusion] or [0.0]
    findings = sum(c.findings for c in cues)
    negated = sum(c.negated for c in cues)
    dirs = [c.direction for c in cues if c.direction]
    decision = decide(claim, sentences)
    claim_low = claim.lower()
    claim_neg = 1.0 if claim_sign < 0 else 0.0
    return [
        max(rels),
        sum(rels) / len(rels),
        max(concl),
        claim_neg,
        float(claim_dir),
        float(sum(1 for t in tokens(claim) if t in _HEDGES)),
        float(findings),
        float(negated),
        float(sum(c.hedges for c in cues)),
        float(bool(claim_dir) and any(d == claim_dir for d in dirs)),
        float(bool(claim_dir) and any(d == -claim_dir for d in dirs)),
        decision.score,
        float(decision.stance == "supports"),
        float(decision.stance == "contradicts"),
        float(len(sentences)),
        float("?" in claim_low),
        float(negated) * claim_neg,
        float(findings) * claim_neg,
    ]
