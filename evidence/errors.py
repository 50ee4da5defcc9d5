"""The package's small exception tree: callers catch `EvidenceError`, edges translate it."""

from __future__ import annotations


class EvidenceError(Exception):
    """Base of every error the package raises on purpose."""


class ConfigError(EvidenceError, ValueError):
    """A setting is missing or invalid; names the setting so an operator can fix it."""

    def __init__(self, setting: str, reason: str) -> None:
        self.setting = setting
        self.reason = reason
        super().__init__(f"invalid setting {setting!r}: {reason}")


class FetchError(EvidenceError):
    """An E-utilities request failed for good (after retries) or answered with an error body."""

    def __init__(self, request: str, reason: str) -> None:
        self.request = request
        self.reason = reason
        super().__init__(f"{request}: {reason}")


class OfflineMiss(FetchError):
    """Offline mode was asked for something the cache does not hold."""


class ParseError(EvidenceError, ValueError):
    """Input (XML, MEDLINE, YAML, JSONL...) could not be read; says where."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class StoreError(EvidenceError):
    """The Parquet store is missing, corrupt, locked or from an unknown schema version."""


class SchemaVersionError(StoreError):
    """The store was written by a schema version this code cannot migrate."""
