"""Process settings: one frozen object read from the environment once and passed down.

Nothing reads ``os.environ`` after :func:`Settings.from_env`; tests build ``Settings`` directly.
The variables are one table (:data:`ENVIRONMENT`), each with its reader. Kept as a dataclass
rather than pydantic-settings: every refusal names the variable in the operator's words
("ARREARS_PORT must be a whole number"), checks across variables read naturally in one place,
and the secret is kept out of ``repr``; pydantic-settings would need a translation of its errors
for the first and would not shorten the rest.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
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
from service.domain.inspections import InspectionPolicy
from service.errors import ConfigurationError

DEFAULT_VAR_DIR = Path("var")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")

LOG_FORMATS = ("console", "json")
# inprocess: this process sends; arq: the workers do; off: neither (``arrears dispatch`` does).
DISPATCH_MODES = ("inprocess", "arq", "off")
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
    # The secret of a Twilio SharedKey, when a Webhook Setting signs our webhooks with one
    # (X-Twilio-Webhooks-Signature-Settings); unset: only Auth Token signatures are accepted.
    twilio_webhook_shared_key: str | None = dataclasses.field(default=None, repr=False)
    # Where the call menu's "speak to a collector" connects (E.164); unset: the office hours
    # are read out instead. Office hours as the debtor hears them.
    collector_number: str | None = None
    office_hours: str = "09:00-18:00"
    public_base_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = 8080
    log_format: str = "console"
    log_level: str = "INFO"
    session_ttl_hours: int = 12
    # Failed logins (per account and per client address, counted from the audit log): from
    # the Nth within the window each attempt waits a second per failure past it (5 s at
    # most); at the lock thresholds logins are refused for the rest of the window (429).
    login_window_minutes: int = 15
    login_slow_after: int = 3
    login_lock_after: int = 10
    login_client_lock_after: int = 50
    cookie_secure: bool = False
    import_chunk_rows: int = 20_000
    # An upload larger than this is imported by a job (202), not inside the request.
    import_inline_bytes: int = 2 * 1024 * 1024
    # The largest upload POST /api/imports takes (every other request: 64 KiB, service.web.app).
    import_max_bytes: int = 512 * 1024 * 1024
    # PostgreSQL connections each process keeps open (N): a web process holds at most 2.5 N (N,
    # N/2 overflow, N raw for the hot paths), a worker or the CLI 1.5 N (docs/security.md).
    db_pool_size: int = 10
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
    # Months the contact log, the guard's decisions and the audit log are kept after a loan's
    # last collection activity (Reg F, 12 CFR 1006.100: three years): docs/contact-log.md.
    contact_log_retention_months: int = 36
    # Assignment (see docs/queues.md): the routing strategy, how long a collector holds an
    # account taken with "next account", and the order "next account" serves them in.
    assignment_strategy: str = "routing_table"
    lease_minutes: int = 15
    # Days after a promise's date before it counts as broken (and automated dunning resumes).
    promise_grace_days: int = 3
    # Arrangements: who approves by the amount at stake (service.domain.arrangements); the
    # source policies' tiers, 10万 / 30万 / 100万.
    approval_tiers: tuple[Decimal, ...] = (Decimal(100_000), Decimal(300_000), Decimal(1_000_000))
    next_account_priority: tuple[str, ...] = PRIORITIES
    # Casework (docs/agencies.md): days an agency keeps a placed account before it is recalled,
    # and the largest photo a field visit may attach.
    agency_recall_days: int = 90
    photo_max_bytes: int = 10 * 1024 * 1024
    # Dispatch (see docs/dispatch.md): rows claimed per job, most rows claimed and not yet
    # taken, how long a claim or a send may stay unfinished before the sweeper takes it back,
    # tries before a transient failure is final, the first retry's wait (doubling, jittered),
    # messages in flight per process, messages a second per sending number (across every
    # worker), and how long one request to the provider may take.
    dispatch_batch: int = 200
    dispatch_max_queued: int = 5000
    dispatch_lease_seconds: int = 60
    dispatch_max_tries: int = 5
    dispatch_backoff_seconds: float = 2.0
    send_concurrency: int = 50
    send_rate_per_second: int = 10
    send_timeout_seconds: float = 10.0
    # Post-loan inspections (docs/inspections.md): the first within N working days of
    # disbursement, then every N months, every N months after a risk signal; loans of N months
    # or less exempt; a task opened N days before it falls due.
    inspection_first_working_days: int = 15
    inspection_periodic_months: int = 3
    inspection_risk_months: int = 1
    inspection_exempt_months: int = 1
    inspection_lead_days: int = 30

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
        if self.collector_number is not None and not _E164.match(self.collector_number):
            problems.append(
                f"ARREARS_COLLECTOR_NUMBER must be an E.164 number such as +8610..., "
                f"not {self.collector_number!r}"
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
        if self.import_inline_bytes < 0:
            problems.append("ARREARS_IMPORT_INLINE_BYTES must not be negative")
        if self.import_max_bytes < 1:
            problems.append("ARREARS_IMPORT_MAX_BYTES must be positive")
        if self.snapshot_retention_days < 1:
            problems.append("ARREARS_SNAPSHOT_RETENTION_DAYS must be positive")
        if self.contact_log_retention_months < 1:
            problems.append("ARREARS_CONTACT_LOG_RETENTION_MONTHS must be positive")
        if self.promise_grace_days < 0:
            problems.append("ARREARS_PROMISE_GRACE_DAYS must not be negative")
        tiers = self.approval_tiers
        if len(tiers) != 3 or tiers[0] <= 0 or list(tiers) != sorted(set(tiers)):
            problems.append("ARREARS_APPROVAL_TIERS must be three increasing positive amounts")
        if self.agency_recall_days < 1 or self.photo_max_bytes < 1:
            problems.append(
                "ARREARS_AGENCY_RECALL_DAYS and ARREARS_PHOTO_MAX_BYTES must be positive"
            )
        for name, value in (
            ("ARREARS_LOGIN_WINDOW_MINUTES", self.login_window_minutes),
            ("ARREARS_LOGIN_SLOW_AFTER", self.login_slow_after),
            ("ARREARS_LOGIN_LOCK_AFTER", self.login_lock_after),
            ("ARREARS_LOGIN_CLIENT_LOCK_AFTER", self.login_client_lock_after),
        ):
            if value < 1:
                problems.append(f"{name} must be positive")
        if self.db_pool_size < 1:
            problems.append("ARREARS_DB_POOL_SIZE must be positive")
        for name, number in (
            ("ARREARS_DISPATCH_BATCH", self.dispatch_batch),
            ("ARREARS_DISPATCH_MAX_QUEUED", self.dispatch_max_queued),
            ("ARREARS_DISPATCH_MAX_TRIES", self.dispatch_max_tries),
            ("ARREARS_SEND_CONCURRENCY", self.send_concurrency),
            ("ARREARS_SEND_RATE_PER_SECOND", self.send_rate_per_second),
        ):
            if number < 1:
                problems.append(f"{name} must be positive")
        if self.send_timeout_seconds <= 0 or self.dispatch_backoff_seconds < 0:
            problems.append(
                "ARREARS_SEND_TIMEOUT_SECONDS must be positive and "
                "ARREARS_DISPATCH_BACKOFF_SECONDS not negative"
            )
        if self.dispatch_lease_seconds <= 2 * self.send_timeout_seconds:
            # A send still waiting on the provider must never look abandoned to the sweeper.
            problems.append(
                "ARREARS_DISPATCH_LEASE_SECONDS must be more than twice "
                "ARREARS_SEND_TIMEOUT_SECONDS"
            )
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
        try:
            self.inspection_policy()
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

    def inspection_policy(self) -> InspectionPolicy:
        """The post-loan inspection schedule these settings ask for."""
        try:
            return InspectionPolicy(
                first_working_days=self.inspection_first_working_days,
                periodic_months=self.inspection_periodic_months,
                risk_months=self.inspection_risk_months,
                exempt_months=self.inspection_exempt_months,
                lead_days=self.inspection_lead_days,
            )
        except ValueError as exc:
            raise ConfigurationError(f"ARREARS_INSPECTION_*: {exc}") from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (the README's settings table); an empty
        variable is as good as unset."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name, (field, parse) in ENVIRONMENT.items():
            raw = env.get(name, "").strip()
            if raw:
                try:
                    values[field] = parse(raw)
                except (ValueError, ArithmeticError) as exc:
                    raise ConfigurationError(f"{name} {exc}") from None
        if "var_dir" in values:
            values.setdefault("database_url", f"sqlite+aiosqlite:///{values['var_dir']}/arrears.db")
        if "database_url" in values:
            values["database_url"] = normalise_database_url(str(values["database_url"]))
        if values.get("redis_url") and "dispatch" not in values:
            # Redis configured means the arq workers deliver; embedded mode dispatches in-process.
            values["dispatch"] = "arq"
        return cls(**values)  # type: ignore[arg-type]  # keys are the dataclass's own fields


def _whole(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"must be a whole number, not {raw!r}") from None


def _fraction(raw: str) -> Decimal:
    try:
        return Decimal(raw)
    except ArithmeticError:
        raise ValueError(f"must be a decimal fraction, not {raw!r}") from None


def _listed(convert: Callable[[str], object]) -> Callable[[str], tuple[object, ...]]:
    def parse(raw: str) -> tuple[object, ...]:
        try:
            return tuple(convert(part.strip()) for part in raw.split(","))
        except (ValueError, ArithmeticError):
            raise ValueError(f"must be a comma-separated list, not {raw!r}") from None

    return parse


def _boolean(raw: str) -> bool:
    # A typo ("ture") is refused: guessing would turn a security setting off silently.
    folded = raw.lower()
    if folded in {"1", "true", "yes", "on"}:
        return True
    if folded in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"must be true or false, not {raw!r}")


def _time(raw: str) -> dt.time:
    try:
        return dt.time.fromisoformat(raw)
    except ValueError:
        raise ValueError("must be HH:MM (lender time)") from None


def _seconds(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"must be a number of seconds, not {raw!r}") from None


def _text(raw: str) -> str:
    return raw


# Environment variable -> (field, how its text is read). The README's settings table lists them.
ENVIRONMENT: dict[str, tuple[str, Callable[[str], object]]] = {
    "DATABASE_URL": ("database_url", _text),
    "REDIS_URL": ("redis_url", _text),
    "ARREARS_DISPATCH": ("dispatch", _text),
    "ARREARS_CHANNEL": ("channel", _text),
    "ARREARS_LENDER_TIMEZONE": ("lender_timezone", _text),
    "ARREARS_LENDER_NAME": ("lender_name", _text),
    "ARREARS_COMPLIANCE_PROFILE": ("compliance_profile", _text),
    "ARREARS_DEFAULT_CURRENCY": ("default_currency", _text),
    "ARREARS_DEFAULT_PHONE_REGION": ("default_phone_region", _text),
    "TWILIO_ACCOUNT_SID": ("twilio_account_sid", _text),
    "TWILIO_AUTH_TOKEN": ("twilio_auth_token", _text),
    "TWILIO_FROM_NUMBER": ("twilio_from_number", _text),
    "TWILIO_BASE_URL": ("twilio_base_url", _text),
    "TWILIO_WEBHOOK_SHARED_KEY": ("twilio_webhook_shared_key", _text),
    "ARREARS_COLLECTOR_NUMBER": ("collector_number", _text),
    "ARREARS_OFFICE_HOURS": ("office_hours", _text),
    "ARREARS_PUBLIC_BASE_URL": ("public_base_url", _text),
    "ARREARS_HOST": ("host", _text),
    "ARREARS_PORT": ("port", _whole),
    "LOG_FORMAT": ("log_format", _text),
    "LOG_LEVEL": ("log_level", _text),
    "ARREARS_SESSION_TTL_HOURS": ("session_ttl_hours", _whole),
    "ARREARS_LOGIN_WINDOW_MINUTES": ("login_window_minutes", _whole),
    "ARREARS_LOGIN_SLOW_AFTER": ("login_slow_after", _whole),
    "ARREARS_LOGIN_LOCK_AFTER": ("login_lock_after", _whole),
    "ARREARS_LOGIN_CLIENT_LOCK_AFTER": ("login_client_lock_after", _whole),
    "ARREARS_COOKIE_SECURE": ("cookie_secure", _boolean),
    "ARREARS_IMPORT_CHUNK_ROWS": ("import_chunk_rows", _whole),
    "ARREARS_IMPORT_INLINE_BYTES": ("import_inline_bytes", _whole),
    "ARREARS_IMPORT_MAX_BYTES": ("import_max_bytes", _whole),
    "ARREARS_DB_POOL_SIZE": ("db_pool_size", _whole),
    "ARREARS_VAR_DIR": ("var_dir", Path),
    "ARREARS_CLASSIFICATION_PROFILE": ("classification_profile", _text),
    "ARREARS_BUCKET_EDGES": ("bucket_edges", _listed(int)),
    "ARREARS_TIER_BOUNDS": ("tier_bounds", _listed(Decimal)),
    "ARREARS_PENALTY_DAILY_RATE": ("penalty_daily_rate", _fraction),
    "ARREARS_PENALTY_ANNUAL_CAP": ("penalty_annual_cap", _fraction),
    "ARREARS_WATERFALL": ("waterfall", _listed(str)),
    "ARREARS_CREDIT_STEPS": ("credit_steps", _listed(Decimal)),
    "ARREARS_COB_TIME": ("cob_time", _time),
    "ARREARS_SNAPSHOT_RETENTION_DAYS": ("snapshot_retention_days", _whole),
    "ARREARS_CONTACT_LOG_RETENTION_MONTHS": ("contact_log_retention_months", _whole),
    "ARREARS_ASSIGNMENT_STRATEGY": ("assignment_strategy", _text),
    "ARREARS_LEASE_MINUTES": ("lease_minutes", _whole),
    "ARREARS_PROMISE_GRACE_DAYS": ("promise_grace_days", _whole),
    "ARREARS_APPROVAL_TIERS": ("approval_tiers", _listed(Decimal)),
    "ARREARS_NEXT_ACCOUNT_PRIORITY": ("next_account_priority", _listed(str)),
    "ARREARS_AGENCY_RECALL_DAYS": ("agency_recall_days", _whole),
    "ARREARS_PHOTO_MAX_BYTES": ("photo_max_bytes", _whole),
    "ARREARS_DISPATCH_BATCH": ("dispatch_batch", _whole),
    "ARREARS_DISPATCH_MAX_QUEUED": ("dispatch_max_queued", _whole),
    "ARREARS_DISPATCH_LEASE_SECONDS": ("dispatch_lease_seconds", _whole),
    "ARREARS_DISPATCH_MAX_TRIES": ("dispatch_max_tries", _whole),
    "ARREARS_DISPATCH_BACKOFF_SECONDS": ("dispatch_backoff_seconds", _seconds),
    "ARREARS_SEND_CONCURRENCY": ("send_concurrency", _whole),
    "ARREARS_SEND_RATE_PER_SECOND": ("send_rate_per_second", _whole),
    "ARREARS_SEND_TIMEOUT_SECONDS": ("send_timeout_seconds", _seconds),
    "ARREARS_INSPECTION_FIRST_WORKING_DAYS": ("inspection_first_working_days", _whole),
    "ARREARS_INSPECTION_PERIODIC_MONTHS": ("inspection_periodic_months", _whole),
    "ARREARS_INSPECTION_RISK_MONTHS": ("inspection_risk_months", _whole),
    "ARREARS_INSPECTION_EXEMPT_MONTHS": ("inspection_exempt_months", _whole),
    "ARREARS_INSPECTION_LEAD_DAYS": ("inspection_lead_days", _whole),
}


def normalise_database_url(url: str) -> str:
    """Accept the URLs people paste (``postgres://``, ``postgresql://``) and name our drivers."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url
