"""Users, passwords and login sessions.

Passwords are hashed with scrypt (standard library, memory-hard). Session tokens are random and
only their SHA-256 is stored, so reading the database does not yield a working login.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import math
import secrets
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service import audit
from service.clock import utcnow
from service.db.dialect import asyncpg_sql
from service.db.models import AuditEvent, Role, Session, User
from service.db.types import UTCDateTime
from service.errors import Conflict, InputError, NotFound
from service.settings import Settings

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 10


@dataclasses.dataclass(frozen=True, slots=True)
class CurrentUser:
    id: int
    username: str
    display_name: str
    role: Role
    # The language the web pages are shown in (zh-CN or en); None: the browser's choice.
    locale: str | None = None

    @property
    def is_collector(self) -> bool:
        return self.role is Role.collector


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    encoded_salt = base64.b64encode(salt).decode()
    encoded_digest = base64.b64encode(digest).decode()
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${encoded_salt}${encoded_digest}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(
        password.encode(),
        salt=base64.b64decode(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        dklen=len(expected),
    )
    return hmac.compare_digest(actual, expected)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_user(
    conn: AsyncConnection,
    *,
    username: str,
    display_name: str,
    role: Role,
    password: str,
    languages: str = "zh-CN",
    actor: str = "cli",
    capacity: int | None = None,
) -> int:
    if capacity is not None and capacity < 0:
        raise InputError("capacity must not be negative")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    exists = await conn.scalar(select(User.id).where(User.username == username))
    if exists is not None:
        raise Conflict(f"user {username!r} already exists")
    password_hash = await asyncio.to_thread(hash_password, password)
    user_id = (
        await conn.execute(
            insert(User)
            .values(
                username=username,
                display_name=display_name,
                role=role,
                password_hash=password_hash,
                languages=languages,
                capacity=capacity,
                active=True,
                created_at=utcnow(),
            )
            .returning(User.id)
        )
    ).scalar_one()
    await audit.record(
        conn,
        actor=actor,
        action="user.created",
        entity_type="user",
        entity_ref=username,
        details={"role": role.value},
    )
    return int(user_id)


async def set_password(
    conn: AsyncConnection, username: str, password: str, actor: str = "cli"
) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    password_hash = await asyncio.to_thread(hash_password, password)
    result = await conn.execute(
        update(User).where(User.username == username).values(password_hash=password_hash)
    )
    if result.rowcount == 0:
        raise NotFound(f"user {username!r} does not exist")
    # Every open session of that user ends: a password change is often a response to a leak.
    await conn.execute(
        update(Session)
        .where(Session.user_id.in_(select(User.id).where(User.username == username)))
        .where(Session.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    await audit.record(
        conn,
        actor=actor,
        action="user.password_changed",
        entity_type="user",
        entity_ref=username,
        details={},
    )


async def change_own_password(conn: AsyncConnection, user_id: int, current: str, new: str) -> str:
    """A user's own change: the current password proves it is them (a session left open on a
    shared desk is not enough). Every session ends, as with any change; returns the username."""
    row = (
        await conn.execute(select(User.username, User.password_hash).where(User.id == user_id))
    ).one_or_none()
    if row is None:
        raise NotFound("user not found")
    if not await asyncio.to_thread(verify_password, current, row.password_hash):
        raise InputError("the current password is wrong")
    if new == current:
        raise InputError("the new password is the current one")
    await set_password(conn, row.username, new, actor=row.username)
    return str(row.username)


async def set_preferences(
    conn: AsyncConnection, user_id: int, *, ui_locale: str | None = None, phone: str | None = None
) -> None:
    """A user's own page language and phone (each only when given; "" clears the phone)."""
    values: dict[str, str | None] = {}
    if ui_locale is not None:
        values["ui_locale"] = ui_locale
    if phone is not None:
        values["phone"] = phone or None
    if values:
        await conn.execute(update(User).where(User.id == user_id).values(**values))


async def login(
    conn: AsyncConnection, username: str, password: str, ttl: dt.timedelta
) -> tuple[str, CurrentUser] | None:
    """Check the password and open a session; None when either is wrong or the user inactive."""
    row = (
        await conn.execute(select(User).where(User.username == username, User.active.is_(True)))
    ).one_or_none()
    if row is None:
        # Spend the same time as a real check so usernames cannot be probed by timing.
        await asyncio.to_thread(verify_password, password, _DUMMY_HASH)
        return None
    if not await asyncio.to_thread(verify_password, password, row.password_hash):
        return None
    token = secrets.token_urlsafe(32)
    now = utcnow()
    await conn.execute(
        insert(Session).values(
            token_hash=_token_hash(token), user_id=row.id, created_at=now, expires_at=now + ttl
        )
    )
    return token, CurrentUser(row.id, row.username, row.display_name, Role(row.role), row.ui_locale)


# --- login, throttled -----------------------------------------------------------------------------
#
# Failed logins are counted from the append-only audit log, not a table of their own: one event
# per failure for the account (entity "user") and one for the client address (entity "client"),
# read back through ix_audit_entity. Every web process sees the same count, and the trail of an
# attack is the audit trail itself. Two processes may each let one more guess through at the
# threshold; the bound stays within a guess or two.

LOGIN = "auth.login"
LOGIN_FAILED = "auth.login_failed"
LOCKED_OUT = "auth.locked_out"
REF_LENGTH = 64  # audit_log.entity_ref


@dataclasses.dataclass(frozen=True, slots=True)
class LoginPolicy:
    """When failed logins slow down and lock out (ARREARS_LOGIN_* settings)."""

    window: dt.timedelta  # failures older than this are forgotten
    slow_after: int  # from this many failures on, each attempt waits (1 s a failure, 5 s at most)
    lock_after: int  # this many failures for one account lock it out for the window
    client_lock_after: int  # this many from one address lock the address out
    max_delay: float = 5.0

    @classmethod
    def of(cls, settings: Settings) -> LoginPolicy:
        return cls(
            window=dt.timedelta(minutes=settings.login_window_minutes),
            slow_after=settings.login_slow_after,
            lock_after=settings.login_lock_after,
            client_lock_after=settings.login_client_lock_after,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class LoginOutcome:
    """A login's outcome: a session, a refusal (wrong password or user), or a lockout."""

    token: str | None = None
    user: CurrentUser | None = None
    locked_for: int | None = None  # seconds until a login is tried again (Retry-After)


async def authenticate(
    engine: AsyncEngine,
    username: str,
    password: str,
    ttl: dt.timedelta,
    *,
    client: str,
    channel: str,
    policy: LoginPolicy,
) -> LoginOutcome:
    """Log in through the throttle (the API and the form alike): a locked account or address is
    refused before the password is looked at, so a lockout answers as fast for a right password
    as for a wrong one; past ``slow_after`` failures an attempt waits first (outside any
    transaction: a waiting guess holds no connection). Every outcome is audited."""
    account, client = username[:REF_LENGTH], client[:REF_LENGTH]
    now = utcnow()
    async with engine.connect() as conn:
        user_failures, client_failures = await _recent_failures(
            conn, account, client, now - policy.window
        )
    locked_for = max(
        _locked_for(user_failures, policy.lock_after, policy.window, now),
        _locked_for(client_failures, policy.client_lock_after, policy.window, now),
    )
    if locked_for > 0:
        return LoginOutcome(locked_for=locked_for)
    failures = max(len(user_failures), len(client_failures))
    if failures >= policy.slow_after:
        await asyncio.sleep(min(float(failures - policy.slow_after + 1), policy.max_delay))
    details = {"client": client, "channel": channel}
    async with engine.begin() as conn:
        result = await login(conn, username, password, ttl)
        if result is not None:
            token, user = result
            await audit.record(
                conn,
                actor=user.username,
                actor_id=user.id,
                action=LOGIN,
                entity_type="user",
                entity_ref=user.username,
                details=details,
            )
            return LoginOutcome(token=token, user=user)
        for entity_type, entity_ref in (("user", account), ("client", client)):
            await audit.record(
                conn,
                actor=account,
                action=LOGIN_FAILED,
                entity_type=entity_type,
                entity_ref=entity_ref,
                details={**details, "username": account},
            )
        if len(user_failures) + 1 == policy.lock_after:
            await audit.record(
                conn,
                actor=account,
                action=LOCKED_OUT,
                entity_type="user",
                entity_ref=account,
                details={**details, "minutes": int(policy.window.total_seconds() // 60)},
            )
    return LoginOutcome()


async def _recent_failures(
    conn: AsyncConnection, account: str, client: str, since: dt.datetime
) -> tuple[list[dt.datetime], list[dt.datetime]]:
    """The failures since ``since`` of the account (after its last successful login) and of
    the address, oldest first."""
    rows = (
        await conn.execute(
            select(AuditEvent.entity_type, AuditEvent.action, AuditEvent.occurred_at)
            .where(
                or_(
                    and_(AuditEvent.entity_type == "user", AuditEvent.entity_ref == account),
                    and_(AuditEvent.entity_type == "client", AuditEvent.entity_ref == client),
                ),
                AuditEvent.action.in_((LOGIN, LOGIN_FAILED)),
                AuditEvent.occurred_at > since,
            )
            .order_by(AuditEvent.occurred_at, AuditEvent.id)
        )
    ).all()
    user_failures: list[dt.datetime] = []
    client_failures: list[dt.datetime] = []
    for entity_type, action, occurred_at in rows:
        if entity_type == "client":
            if action == LOGIN_FAILED:
                client_failures.append(occurred_at)
        elif action == LOGIN:
            user_failures.clear()  # the account's owner got in: earlier guesses are forgiven
        else:
            user_failures.append(occurred_at)
    return user_failures, client_failures


def _locked_for(
    failures: list[dt.datetime], threshold: int, window: dt.timedelta, now: dt.datetime
) -> int:
    """Seconds until fewer than ``threshold`` of ``failures`` are inside the window (0: not
    locked)."""
    if len(failures) < threshold:
        return 0
    # Locked until the failure that would leave threshold-1 behind ages out.
    expires = failures[len(failures) - threshold] + window
    return max(1, math.ceil((expires - now).total_seconds()))


# The session lookup every request makes: one statement, shared by both paths below.
SESSION_USER = """
    SELECT u.id, u.username, u.display_name, u.role, u.ui_locale FROM users u
    JOIN sessions s ON s.user_id = u.id
    WHERE s.token_hash = :token_hash AND s.revoked_at IS NULL AND s.expires_at > :now
      AND u.active"""
_SESSION_USER = text(SESSION_USER).bindparams(bindparam("now", type_=UTCDateTime))
_SESSION_USER_RAW = asyncpg_sql(SESSION_USER, ("token_hash", "now"))


async def user_for_token(conn: AsyncConnection, token: str) -> CurrentUser | None:
    row = (
        await conn.execute(_SESSION_USER, {"token_hash": _token_hash(token), "now": utcnow()})
    ).one_or_none()
    return None if row is None else CurrentUser(row[0], row[1], row[2], Role(row[3]), row[4])


async def user_for_token_raw(pool: Any, token: str) -> CurrentUser | None:
    """The same lookup on a raw asyncpg pool (PostgreSQL): no SQLAlchemy on every request."""
    row = await pool.fetchrow(_SESSION_USER_RAW, _token_hash(token), utcnow())
    return None if row is None else CurrentUser(row[0], row[1], row[2], Role(row[3]), row[4])


async def logout(conn: AsyncConnection, token: str) -> None:
    await conn.execute(
        update(Session)
        .where(Session.token_hash == _token_hash(token), Session.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


_DUMMY_HASH = (
    "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)
