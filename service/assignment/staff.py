"""The users as an administrator manages them: the list, a new user, a role changed, a user
deactivated, a password reset (service.auth keeps the passwords and sessions). A role or an
account's holder changes only when no open account would be left with someone who may not
work it: a collector holding accounts is handed over first (service.assignment.moves)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit, auth
from service.clock import utcnow
from service.db.models import Loan, LoanStatus, QueueMember, Role, Session, User
from service.errors import Conflict, NotFound, ValidationFailed


def _users() -> Any:
    held = (
        select(func.count())
        .select_from(Loan)
        .where(Loan.collector_id == User.id, Loan.status == LoanStatus.open)
        .scalar_subquery()
    )
    return select(
        User.id,
        User.username,
        User.display_name,
        User.role,
        User.active,
        User.languages,
        User.created_at,
        User.deactivated_at,
        held.label("accounts"),
    )


def _view(row: Any) -> dict[str, Any]:
    return {**row._mapping, "active": bool(row.active), "accounts": int(row.accounts)}


async def list_users(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every user, active first, by name, with the open accounts each holds."""
    rows = await conn.execute(_users().order_by(User.active.desc(), User.username))
    return [_view(row) for row in rows]


async def show_user(
    conn: AsyncConnection, *, user_id: int | None = None, username: str = ""
) -> dict[str, Any]:
    """One user as :func:`list_users` shows them, by id or by name."""
    where = User.id == user_id if user_id is not None else User.username == username
    row = (await conn.execute(_users().where(where))).one_or_none()
    if row is None:
        raise NotFound(f"user {user_id or username!r} not found")
    return _view(row)


async def _user(conn: AsyncConnection, username: str) -> Any:
    found = (await conn.execute(select(User).where(User.username == username))).one_or_none()
    if found is None:
        raise NotFound(f"user {username!r} not found")
    return found


async def _held(conn: AsyncConnection, user_id: int) -> int:
    count = await conn.scalar(
        select(func.count())
        .select_from(Loan)
        .where(Loan.collector_id == user_id, Loan.status == LoanStatus.open)
    )
    return int(count or 0)


async def _keeps_an_admin(conn: AsyncConnection, user: Any) -> None:
    """Refuse to leave the lender with no active administrator."""
    if user.role is not Role.admin:
        return
    others = await conn.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == Role.admin, User.active.is_(True), User.id != user.id)
    )
    if not others:
        raise Conflict("the last active administrator stays one", details={"rule": "last_admin"})


async def _holds_nothing(conn: AsyncConnection, user: Any) -> None:
    held = await _held(conn, user.id)
    if held:
        raise Conflict(
            f"{user.username} holds {held} open account(s): hand them over first",
            details={"rule": "holds_accounts", "accounts": held},
        )


async def set_role(
    conn: AsyncConnection, username: str, role: Role, actor: str, actor_id: int | None = None
) -> None:
    """A user's role. One who stops being a collector leaves their queues (queues take
    collectors); refused while they hold open accounts, and for the last administrator."""
    user = await _user(conn, username)
    if not user.active:
        raise ValidationFailed(f"{username} is inactive")
    if user.role is role:
        raise ValidationFailed(f"{username} is a {role.value} already")
    await _keeps_an_admin(conn, user)
    if user.role is Role.collector:
        await _holds_nothing(conn, user)
        await conn.execute(delete(QueueMember).where(QueueMember.user_id == user.id))
    await conn.execute(update(User).where(User.id == user.id).values(role=role))
    # What a session may do follows the role: it ends, and the user signs in again.
    await _end_sessions(conn, user.id)
    await audit.record(
        conn,
        actor=actor,
        actor_id=actor_id,
        action="user.role_changed",
        entity_type="user",
        entity_ref=username,
        details={"from": user.role.value, "to": role.value},
    )


async def deactivate(
    conn: AsyncConnection, username: str, actor: str, actor_id: int | None = None
) -> None:
    """A user who may no longer sign in: their sessions end, they leave their queues. A
    collector holding open accounts is handed over instead (which deactivates them too)."""
    user = await _user(conn, username)
    if not user.active:
        raise ValidationFailed(f"{username} is already inactive")
    if actor_id is not None and user.id == actor_id:
        raise ValidationFailed("an administrator does not deactivate themselves")
    await _keeps_an_admin(conn, user)
    await _holds_nothing(conn, user)
    await conn.execute(delete(QueueMember).where(QueueMember.user_id == user.id))
    await conn.execute(
        update(User).where(User.id == user.id).values(active=False, deactivated_at=utcnow())
    )
    await _end_sessions(conn, user.id)
    await audit.record(
        conn,
        actor=actor,
        actor_id=actor_id,
        action="user.deactivated",
        entity_type="user",
        entity_ref=username,
        details={},
    )


async def reset_password(conn: AsyncConnection, username: str, password: str, actor: str) -> None:
    """An administrator sets a user's password (every session of theirs ends)."""
    user = await _user(conn, username)
    if not user.active:
        raise ValidationFailed(f"{username} is inactive")
    await auth.set_password(conn, username, password, actor=actor)


async def _end_sessions(conn: AsyncConnection, user_id: int) -> None:
    await conn.execute(
        update(Session)
        .where(Session.user_id == user_id, Session.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
