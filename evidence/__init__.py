"""Evidence tracker: PubMed evidence, tagged and graded against a clinic's claims."""

from .errors import ConfigError, EvidenceError, FetchError, ParseError, StoreError
from .settings import Settings, load_settings

__all__ = [
    "ConfigError",
    "EvidenceError",
    "FetchError",
    "ParseError",
    "Settings",
    "StoreError",
    "load_settings",
]
