"""The grading rubric (levels, weights, verdict rules, certainty), loaded from ``rubric.yaml``.

The YAML is the single place a clinician reads to know how a grade is reached; this module only
validates it into a frozen object so a typo fails loudly, naming the field, at load time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, ParseError
from .schema import DESIGNS

GRADES = (
    "Well supported",
    "Supported",
    "Limited",
    "Contested",
    "Contradicted",
    "No evidence found",
)
# Rule ids the verdict code implements, in the order it tries them. The YAML must describe each.
RULE_IDS = ("no_evidence", "contradicted", "contested", "well_supported", "supported", "limited")
# Which way the counted evidence points, and how sure it is (GRADE's four levels, best first).
DIRECTIONS = ("supports", "mixed", "contradicts", "none")
CERTAINTIES = ("high", "moderate", "low", "very low")
UNKNOWN_DESIGN = "other"


@dataclass(frozen=True)
class Band:
    """A factor that applies while a quantity is below ``below`` (None = no upper bound)."""

    below: float | None
    factor: float


@dataclass(frozen=True)
class Rule:
    id: str
    grade: str
    description: str


@dataclass(frozen=True)
class CertaintyRules:
    """Section 6 of the rubric: how certainty is started and rated down (see rubric.yaml)."""

    test_max_level: int
    start: dict[str, str]  # design -> high / low / very low
    indirectness: int
    inconsistency: int
    imprecision: int
    inconsistency_ratio: float
    imprecision_min_participants: int
    pooled_designs: frozenset[str]


@dataclass(frozen=True)
class Rubric:
    levels: dict[str, int]
    indirect_designs: frozenset[str]
    indirect_reasons: dict[str, str]  # indirect design -> why it is indirect, for the "why"
    downgrade_indirect: int
    max_level: int
    level_weights: dict[int, float]
    indirect_weight: float
    sample_size_bands: tuple[Band, ...]
    sample_size_unknown: float
    recency_bands: tuple[Band, ...]
    recency_unknown: float
    mixed_share: float
    rules: tuple[Rule, ...]
    thresholds: dict[str, float]
    full_strength: float
    bands: dict[str, tuple[int, int]]
    certainty: CertaintyRules

    def level(self, design: str | None) -> int:
        """Level of a design; an unknown or missing design counts as 'other'."""
        return self.levels.get(design or UNKNOWN_DESIGN, self.levels[UNKNOWN_DESIGN])

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)

    def sample_size_factor(self, n: float | None) -> float:
        return _band(self.sample_size_bands, n, self.sample_size_unknown)

    def recency_factor(self, age_years: float | None) -> float:
        return _band(self.recency_bands, age_years, self.recency_unknown)


def _band(bands: tuple[Band, ...], value: float | None, unknown: float) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return unknown
    for band in bands:
        if band.below is None or value < band.below:
            return band.factor
    return bands[-1].factor


DEFAULT_RUBRIC_FILE = "rubric.yaml"


def load_rubric(path: str | Path | None = None) -> Rubric:
    """Read and validate a rubric; the packaged ``evidence/rubric.yaml`` when no path is given."""
    if path is None:
        source = f"evidence/{DEFAULT_RUBRIC_FILE}"
        text = resources.files("evidence").joinpath(DEFAULT_RUBRIC_FILE).read_text("utf-8")
    else:
        source = str(path)
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise ConfigError("rubric", f"cannot read {path}: {exc}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParseError(source, f"not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ParseError(source, "the rubric must be a mapping")
    return rubric_from_dict(raw, source)


def _get(raw: dict[str, Any], key: str, source: str) -> Any:
    if key not in raw:
        raise ConfigError(f"{source}:{key}", "missing")
    return raw[key]


def _bands(raw: Any, field: str) -> tuple[Band, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(field, "must be a non-empty list of {below, factor}")
    bands = tuple(Band(b.get("below"), float(b["factor"])) for b in raw)
    if bands[-1].below is not None:
        raise ConfigError(field, "the last band must have 'below: null' (no upper bound)")
    return bands


def rubric_from_dict(raw: dict[str, Any], source: str = "rubric") -> Rubric:
    """Validate a parsed rubric mapping; every error names the offending field."""
    levels = {str(k): int(v) for k, v in _get(raw, "levels", source).items()}
    missing = [d for d in DESIGNS if d not in levels]
    unknown = [d for d in levels if d not in DESIGNS]
    if missing or unknown:
        raise ConfigError(
            f"{source}:levels", f"designs without a level {missing}; not in DESIGNS {unknown}"
        )
    max_level = int(_get(raw, "max_level", source))
    if any(not 1 <= v <= max_level for v in levels.values()):
        raise ConfigError(f"{source}:levels", f"every level must be between 1 and {max_level}")
    weights = _get(raw, "weights", source)
    level_weights = {int(k): float(v) for k, v in _get(weights, "level", source).items()}
    if sorted(level_weights) != list(range(1, max_level + 1)):
        raise ConfigError(f"{source}:weights.level", f"needs a weight for levels 1..{max_level}")
    rules = tuple(
        Rule(str(r["id"]), str(r["grade"]), " ".join(str(r.get("description", "")).split()))
        for r in _get(raw, "rules", source)
    )
    ids = [r.id for r in rules]
    if ids != list(RULE_IDS):
        raise ConfigError(f"{source}:rules", f"rule ids must be {list(RULE_IDS)} in order: {ids}")
    for r in rules:
        if r.grade not in GRADES:
            raise ConfigError(f"{source}:rules.{r.id}.grade", f"{r.grade!r} not in {GRADES}")
        if not r.description:
            raise ConfigError(f"{source}:rules.{r.id}.description", "missing")
    bands = {str(k): (int(v[0]), int(v[1])) for k, v in _get(raw, "bands", source).items()}
    if sorted(bands) != sorted(GRADES):
        raise ConfigError(f"{source}:bands", f"needs exactly one band per grade {GRADES}")
    indirect = _get(raw, "indirect_designs", source)
    if not isinstance(indirect, dict) or not all(str(v).strip() for v in indirect.values()):
        raise ConfigError(f"{source}:indirect_designs", "must map each design to its reason")
    if not set(indirect) <= set(DESIGNS):
        raise ConfigError(f"{source}:indirect_designs", f"not in DESIGNS: {sorted(indirect)}")
    downgrades = _get(raw, "downgrades", source)
    return Rubric(
        levels=levels,
        indirect_designs=frozenset(str(d) for d in indirect),
        indirect_reasons={str(k): str(v).strip() for k, v in indirect.items()},
        downgrade_indirect=int(_get(downgrades, "indirect", f"{source}:downgrades")),
        max_level=max_level,
        level_weights=level_weights,
        indirect_weight=float(_get(weights, "indirect", source)),
        sample_size_bands=_bands(_get(weights, "sample_size", source), "weights.sample_size"),
        sample_size_unknown=float(_get(weights, "sample_size_unknown", source)),
        recency_bands=_bands(_get(weights, "recency", source), "weights.recency"),
        recency_unknown=float(_get(weights, "recency_unknown", source)),
        mixed_share=float(_get(weights, "mixed_share", source)),
        rules=rules,
        thresholds={str(k): float(v) for k, v in _get(raw, "thresholds", source).items()},
        full_strength=float(_get(raw, "full_strength", source)),
        bands=bands,
        certainty=_certainty(_get(raw, "certainty", source), max_level, f"{source}:certainty"),
    )


def _certainty(raw: Any, max_level: int, field: str) -> CertaintyRules:
    """Validate section 6; every design needs a starting certainty."""
    if not isinstance(raw, dict):
        raise ConfigError(field, "must be a mapping")
    start = {str(k): str(v) for k, v in _get(raw, "start", field).items()}
    missing = [d for d in DESIGNS if d not in start]
    wrong = {d: c for d, c in start.items() if c not in CERTAINTIES}
    if missing or wrong or not set(start) <= set(DESIGNS):
        raise ConfigError(
            f"{field}.start",
            f"needs one of {CERTAINTIES} for every design: missing {missing}, invalid {wrong}",
        )
    down = _get(raw, "rate_down", field)
    pooled = frozenset(str(d) for d in _get(raw, "pooled_designs", field))
    if not pooled <= set(DESIGNS):
        raise ConfigError(f"{field}.pooled_designs", f"not in DESIGNS: {sorted(pooled)}")
    test_max_level = int(_get(raw, "test_max_level", field))
    if not 1 <= test_max_level <= max_level:
        raise ConfigError(f"{field}.test_max_level", f"must be between 1 and {max_level}")
    return CertaintyRules(
        test_max_level=test_max_level,
        start=start,
        indirectness=int(_get(down, "indirectness", f"{field}.rate_down")),
        inconsistency=int(_get(down, "inconsistency", f"{field}.rate_down")),
        imprecision=int(_get(down, "imprecision", f"{field}.rate_down")),
        inconsistency_ratio=float(_get(raw, "inconsistency_ratio", field)),
        imprecision_min_participants=int(_get(raw, "imprecision_min_participants", field)),
        pooled_designs=pooled,
    )
