"""One frozen settings object with one precedence order.

defaults < config file (TOML) < ``EVIDENCE_*`` environment variables < explicit overrides.
The config file is ``$EVIDENCE_CONFIG`` if set, else ``<data_dir>/evidence.toml`` if present.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

DEFAULT_BASE_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
# NCBI documents retmax up to 10,000 for efetch of PubMed records from the history server.
MAX_EFETCH_BATCH = 10_000
REPO_DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class Settings:
    """Everything that varies between deployments. Passed explicitly; never a module global.

    HTTP time limits, so an unattended refresh cannot hang: ``connect_timeout`` (seconds to
    open a connection), ``timeout`` (seconds to wait for each read of an answer),
    ``total_timeout`` (seconds one request may take in all, however slowly the answer trickles
    in) and ``run_deadline_minutes`` (after this long no new request starts and no retry wait
    runs: the run stops with `DeadlineExceeded`).
    """

    data_dir: Path = REPO_DATA_DIR
    email: str = ""
    api_key: str = ""
    tool: str = "evidence-tracker"
    base_url: str = DEFAULT_BASE_URL
    offline: bool = False
    esearch_expire_hours: float = 6.0
    efetch_expire_days: float = 28.0
    batch_size: int = 200
    connect_timeout: float = 10.0
    timeout: float = 30.0
    total_timeout: float = 120.0
    run_deadline_minutes: float = 120.0
    max_retries: int = 5
    backoff_factor: float = 0.5
    backoff_max: float = 60.0
    recheck_days: float = 7.0
    # Alerts after each refresh (see README "Alerts"); every channel is off until configured.
    alert_email_to: str = ""  # comma-separated recipients
    alert_email_from: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)  # secret: env or a file outside the repo
    smtp_ca_file: str = ""  # extra CA bundle for a server with a private certificate
    smtp_timeout: float = 30.0
    webhook_url: str = ""
    webhook_secret: str = field(default="", repr=False)  # secret, as smtp_password
    webhook_timeout: float = 10.0
    webhook_retries: int = 4
    dashboard_url: str = ""  # e.g. https://evidence.example.org, for claim links in alerts
    alert_always: bool = False  # send a digest even when nothing changed
    alert_stale_days: float = 21.0  # alert when no refresh has succeeded for this long

    @property
    def requests_per_second(self) -> float:
        """NCBI's documented ceiling: 3/s anonymous, 10/s with an API key."""
        return 10.0 if self.api_key else 3.0

    @property
    def cache_path(self) -> Path:
        return self.data_dir / "http_cache.sqlite"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    def validate(self) -> Settings:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError("base_url", f"must be an http(s) URL, got {self.base_url!r}")
        if not 1 <= self.batch_size <= MAX_EFETCH_BATCH:
            raise ConfigError("batch_size", f"must be between 1 and {MAX_EFETCH_BATCH}")
        if self.email and "@" not in self.email:
            raise ConfigError("email", f"{self.email!r} is not an e-mail address")
        if not self.tool or any(c.isspace() for c in self.tool):
            raise ConfigError("tool", "must be a non-empty string without spaces")
        positive = (
            "esearch_expire_hours",
            "efetch_expire_days",
            "connect_timeout",
            "timeout",
            "total_timeout",
            "run_deadline_minutes",
            "recheck_days",
        )
        for name in positive:
            if not 0 < getattr(self, name) < math.inf:  # also refuses NaN
                raise ConfigError(name, "must be greater than 0")
        if self.max_retries < 0:
            raise ConfigError("max_retries", "must be 0 or more")
        self._validate_alerts()
        return self

    @property
    def alert_recipients(self) -> tuple[str, ...]:
        return tuple(a.strip() for a in self.alert_email_to.split(",") if a.strip())

    def _validate_alerts(self) -> None:
        for address in self.alert_recipients:
            if "@" not in address:
                raise ConfigError("alert_email_to", f"{address!r} is not an e-mail address")
        if self.alert_recipients and not self.smtp_host:
            raise ConfigError("smtp_host", "needed to send alerts to alert_email_to")
        if self.alert_recipients and "@" not in (self.alert_email_from or self.smtp_user):
            raise ConfigError("alert_email_from", "needed (an e-mail address) to send alerts")
        if not 0 < self.smtp_port < 65536:
            raise ConfigError("smtp_port", "must be between 1 and 65535")
        if self.smtp_ca_file and not Path(self.smtp_ca_file).is_file():
            raise ConfigError("smtp_ca_file", f"{self.smtp_ca_file} is not a file")
        for name in ("webhook_url", "dashboard_url"):
            value = getattr(self, name)
            if value and not value.startswith(("http://", "https://")):
                raise ConfigError(name, f"must be an http(s) URL, got {value!r}")
        if self.webhook_url and not self.webhook_secret:
            raise ConfigError("webhook_secret", "needed to sign webhook alerts (set it in env)")
        for name in ("smtp_timeout", "webhook_timeout", "alert_stale_days"):
            if not 0 < getattr(self, name) < math.inf:
                raise ConfigError(name, "must be greater than 0")
        if self.webhook_retries < 0:
            raise ConfigError("webhook_retries", "must be 0 or more")


_FIELDS = {f.name: f for f in fields(Settings)}
_REPO_DIR = REPO_DATA_DIR.parent


def _coerce(name: str, value: Any) -> Any:
    kind = _FIELDS[name].type
    try:
        if kind == "Path":
            return Path(value).expanduser()
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(f"expected true/false, got {value!r}")
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(name, str(exc)) from exc


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Build validated settings from file, environment and overrides (None values ignored)."""
    env = os.environ if env is None else env
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    values: dict[str, Any] = {}

    env_values = {
        name: env[f"EVIDENCE_{name.upper()}"]
        for name in _FIELDS
        if f"EVIDENCE_{name.upper()}" in env
    }
    data_dir = Path(overrides.get("data_dir") or env_values.get("data_dir") or REPO_DATA_DIR)
    if config_file is None and env.get("EVIDENCE_CONFIG"):
        config_file = Path(env["EVIDENCE_CONFIG"])
    if config_file is None and (data_dir / "evidence.toml").is_file():
        config_file = data_dir / "evidence.toml"
    if config_file is not None:
        try:
            file_values = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError("config_file", f"{config_file}: {exc}") from exc
        file_values = file_values.get("evidence", file_values)
        unknown = sorted(set(file_values) - set(_FIELDS))
        if unknown:
            raise ConfigError(
                unknown[0], f"unknown key in {config_file}; valid keys: {', '.join(_FIELDS)}"
            )
        _refuse_secrets_in_repo(Path(config_file), file_values)
        values.update(file_values)
    values.update(env_values)
    values.update(overrides)
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ConfigError(unknown[0], f"unknown setting; valid: {', '.join(_FIELDS)}")
    return Settings(**{k: _coerce(k, v) for k, v in values.items()}).validate()


def replace(settings: Settings, **changes: Any) -> Settings:
    """A validated copy with some settings changed."""
    return dataclasses.replace(settings, **changes).validate()


def _refuse_secrets_in_repo(config_file: Path, file_values: Mapping[str, Any]) -> None:
    """Alert secrets never sit in a file inside the repository, where they could be committed."""
    inside = config_file.resolve().is_relative_to(_REPO_DIR.resolve())
    for name in ("smtp_password", "webhook_secret"):
        if inside and file_values.get(name):
            raise ConfigError(
                name,
                f"secret in {config_file}, inside the repository; set EVIDENCE_{name.upper()} "
                "or use a config file outside it (EVIDENCE_CONFIG)",
            )
