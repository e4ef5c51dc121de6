"""Process settings: one frozen object read from the environment once and passed down.

Nothing reads ``os.environ`` after :func:`Settings.from_env`; tests build ``Settings`` directly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from service.domain.compliance import PROFILE_NAMES
from service.domain.delinquency import (
    CLASSIFICATION_PROFILES,
    BucketScheme,
    CobConfig,
    CreditSteps,
    PenaltyPolicy,
    TierScheme,
    validate_waterfall,
)
from service.errors import ConfigurationError

DEFAULT_VAR_DIR = Path("var")

LOG_FORMATS = ("console", "json")
DISPATCH_MODES = ("inprocess", "arq")
CHANNELS = ("console", "twilio")
# What "next account" serves first; the DPD × balance score always orders what is left.
PRIORITIES = ("callback_due", "broken_promise", "promise_due_today", "score")


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Everything a process needs to know about its environment.

    Defaults are the embedded mode: a SQLite file under ``./var``, in-process dispatch, the console
    channel, lender zone Asia/Shanghai, compliance profile ``cn``.
    """

    database_url: str = f"sqlite+aiosqlite:///{DEFAULT_VAR_DIR / 'arrears.db'}"
    redis_url: str | None = None
    dispatch: str = "inprocess"
    channel: str = "console"
    lender_timezone: str = "Asia/Shanghai"
    lender_name: str = "Arrears Demo Lender"  # signs SMS, calls and letters
    compliance_profile: str = "cn"
    default_currency: str = "CNY"
    default_phone_region: str = "CN"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = dataclasses.field(default=None, repr=False)
    twilio_from_number: str | None = None
    twilio_base_url: str | None = None
    public_base_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = 8080
    log_format: str = "console"
    log_level: str = "INFO"
    session_ttl_hours: int = 12
    cookie_secure: bool = False
    import_chunk_rows: int = 20_000
    db_pool_size: int = 30  # PostgreSQL connections each process keeps open
    var_dir: Path = DEFAULT_VAR_DIR
    # Delinquency (see docs/delinquency.md); validated together by cob_config().
    classification_profile: str = "cn_bank_2023"
    bucket_edges: tuple[int, ...] = (0, 30, 60, 90, 120, 150, 180)
    tier_bounds: tuple[Decimal, ...] = (Decimal(100_000), Decimal(300_000), Decimal(1_000_000))
    penalty_daily_rate: Decimal = Decimal("0.0005")
    penalty_annual_cap: Decimal = Decimal("0.24")
    waterfall: tuple[str, ...] = ("penalty", "interest", "principal")
    # Credit coefficient: up per on-time installment, down per late one, floor, ceiling.
    credit_steps: tuple[Decimal, ...] = (
        Decimal("0.01"),
        Decimal("0.05"),
        Decimal("0.5"),
        Decimal("1.5"),
    )
    cob_time: dt.time = dt.time(1, 0)  # lender-local: after the core system's end of day
    snapshot_retention_days: int = 800
    # Assignment (see docs/queues.md): the routing strategy, how long a collector holds an
    # account taken with "next account", and the order "next account" serves them in.
    assignment_strategy: str = "routing_table"
    lease_minutes: int = 15
    # Days after a promise's date before it counts as broken (and automated dunning resumes).
    promise_grace_days: int = 3
    next_account_priority: tuple[str, ...] = PRIORITIES

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.dispatch not in DISPATCH_MODES:
            problems.append(
                f"ARREARS_DISPATCH must be one of {DISPATCH_MODES}, not {self.dispatch!r}"
            )
        if self.dispatch == "arq" and not self.redis_url:
            problems.append("ARREARS_DISPATCH=arq needs REDIS_URL")
        if self.channel not in CHANNELS:
            problems.append(f"ARREARS_CHANNEL must be one of {CHANNELS}, not {self.channel!r}")
        if self.channel == "twilio" and not (
            self.twilio_account_sid and self.twilio_auth_token and self.twilio_from_number
        ):
            problems.append(
                "ARREARS_CHANNEL=twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN "
                "and TWILIO_FROM_NUMBER"
            )
        if self.compliance_profile not in PROFILE_NAMES:
            problems.append(
                f"ARREARS_COMPLIANCE_PROFILE must be one of {PROFILE_NAMES}, "
                f"not {self.compliance_profile!r}"
            )
        if self.log_format not in LOG_FORMATS:
            problems.append(f"LOG_FORMAT must be one of {LOG_FORMATS}, not {self.log_format!r}")
        if self.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            problems.append(
                f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {self.log_level!r}"
            )
        try:
            ZoneInfo(self.lender_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"ARREARS_LENDER_TIMEZONE {self.lender_timezone!r} is not an IANA zone")
        if not self.database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            problems.append(
                "DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                "(postgresql:// and postgres:// are accepted and converted)"
            )
        if self.import_chunk_rows < 1:
            problems.append("ARREARS_IMPORT_CHUNK_ROWS must be positive")
        if self.snapshot_retention_days < 1:
            problems.append("ARREARS_SNAPSHOT_RETENTION_DAYS must be positive")
        if self.promise_grace_days < 0:
            problems.append("ARREARS_PROMISE_GRACE_DAYS must not be negative")
        if self.db_pool_size < 1:
            problems.append("ARREARS_DB_POOL_SIZE must be positive")
        if self.lease_minutes < 1:
            problems.append("ARREARS_LEASE_MINUTES must be positive")
        if sorted(self.next_account_priority) != sorted(PRIORITIES) or (
            self.next_account_priority[-1] != "score"
        ):
            problems.append(
                "ARREARS_NEXT_ACCOUNT_PRIORITY must list each of "
                f"{', '.join(PRIORITIES)} once, with score last"
            )
        try:
            self.cob_config()
        except ConfigurationError as exc:
            problems.append(exc.message)
        if problems:
            raise ConfigurationError("; ".join(problems))

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def cob_config(self) -> CobConfig:
        """The delinquency rules these settings ask for (raises ConfigurationError if unsound)."""
        if len(self.credit_steps) != 4:
            raise ConfigurationError("ARREARS_CREDIT_STEPS needs up,down,floor,ceiling")
        profile = CLASSIFICATION_PROFILES.get(self.classification_profile)
        if profile is None:
            raise ConfigurationError(
                f"ARREARS_CLASSIFICATION_PROFILE must be one of {sorted(CLASSIFICATION_PROFILES)}"
            )
        return CobConfig(
            buckets=BucketScheme(self.bucket_edges),
            tiers=TierScheme(self.tier_bounds),
            classification=profile,
            penalty=PenaltyPolicy(self.penalty_daily_rate, self.penalty_annual_cap),
            waterfall=validate_waterfall(self.waterfall),
            credit=CreditSteps(*self.credit_steps),
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (see the README's settings table)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}

        def text(name: str, field: str) -> None:
            value = env.get(name, "").strip()
            if value:
                values[field] = value

        text("DATABASE_URL", "database_url")
        text("REDIS_URL", "redis_url")
        text("ARREARS_DISPATCH", "dispatch")
        text("ARREARS_CHANNEL", "channel")
        text("ARREARS_LENDER_TIMEZONE", "lender_timezone")
        text("ARREARS_LENDER_NAME", "lender_name")
        text("ARREARS_COMPLIANCE_PROFILE", "compliance_profile")
        text("ARREARS_DEFAULT_CURRENCY", "default_currency")
        text("ARREARS_DEFAULT_PHONE_REGION", "default_phone_region")
        text("TWILIO_ACCOUNT_SID", "twilio_account_sid")
        text("TWILIO_AUTH_TOKEN", "twilio_auth_token")
        text("TWILIO_FROM_NUMBER", "twilio_from_number")
        text("TWILIO_BASE_URL", "twilio_base_url")
        text("ARREARS_PUBLIC_BASE_URL", "public_base_url")
        text("ARREARS_HOST", "host")
        text("LOG_FORMAT", "log_format")
        text("LOG_LEVEL", "log_level")
        text("ARREARS_ASSIGNMENT_STRATEGY", "assignment_strategy")
        for name, field in (
            ("ARREARS_PORT", "port"),
            ("ARREARS_SESSION_TTL_HOURS", "session_ttl_hours"),
            ("ARREARS_IMPORT_CHUNK_ROWS", "import_chunk_rows"),
            ("ARREARS_SNAPSHOT_RETENTION_DAYS", "snapshot_retention_days"),
            ("ARREARS_LEASE_MINUTES", "lease_minutes"),
            ("ARREARS_DB_POOL_SIZE", "db_pool_size"),
            ("ARREARS_PROMISE_GRACE_DAYS", "promise_grace_days"),
        ):
            raw = env.get(name, "").strip()
            if raw:
                try:
                    values[field] = int(raw)
                except ValueError:
                    raise ConfigurationError(
                        f"{name} must be a whole number, not {raw!r}"
                    ) from None
        text("ARREARS_CLASSIFICATION_PROFILE", "classification_profile")
        listed: list[tuple[str, str, Callable[[str], object]]] = [
            ("ARREARS_BUCKET_EDGES", "bucket_edges", int),
            ("ARREARS_TIER_BOUNDS", "tier_bounds", Decimal),
            ("ARREARS_WATERFALL", "waterfall", str.strip),
            ("ARREARS_CREDIT_STEPS", "credit_steps", Decimal),
            ("ARREARS_NEXT_ACCOUNT_PRIORITY", "next_account_priority", str.strip),
        ]
        for name, field, convert in listed:
            raw = env.get(name, "").strip()
            if raw:
                try:
                    values[field] = tuple(convert(part) for part in raw.split(","))
                except (ValueError, ArithmeticError):
                    raise ConfigurationError(f"{name} must be a comma-separated list") from None
        for name, field in (
            ("ARREARS_PENALTY_DAILY_RATE", "penalty_daily_rate"),
            ("ARREARS_PENALTY_ANNUAL_CAP", "penalty_annual_cap"),
        ):
            raw = env.get(name, "").strip()
            if raw:
                try:
                    values[field] = Decimal(raw)
                except ArithmeticError:
                    raise ConfigurationError(f"{name} must be a decimal fraction") from None
        raw_time = env.get("ARREARS_COB_TIME", "").strip()
        if raw_time:
            try:
                values["cob_time"] = dt.time.fromisoformat(raw_time)
            except ValueError:
                raise ConfigurationError("ARREARS_COB_TIME must be HH:MM (lender time)") from None
        secure = env.get("ARREARS_COOKIE_SECURE", "").strip().lower()
        if secure:
            values["cookie_secure"] = secure in {"1", "true", "yes", "on"}
        var_dir = env.get("ARREARS_VAR_DIR", "").strip()
        if var_dir:
            values["var_dir"] = Path(var_dir)
            values.setdefault("database_url", f"sqlite+aiosqlite:///{Path(var_dir) / 'arrears.db'}")
        if "database_url" in values:
            values["database_url"] = normalise_database_url(str(values["database_url"]))
        if values.get("redis_url") and "dispatch" not in values:
            # Redis configured means the arq workers deliver; embedded mode dispatches in-process.
            values["dispatch"] = "arq"
        return cls(**values)  # type: ignore[arg-type]  # keys are the dataclass's own fields


def normalise_database_url(url: str) -> str:
    """Accept the URLs people paste (``postgres://``, ``postgresql://``) and name our drivers."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url
