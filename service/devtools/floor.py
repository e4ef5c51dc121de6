"""The demo lender's floor: users, queues and who works them, the first close of business, and
some of the day's work (promises, callbacks, holds, opt-outs), so every page and the day's plan
show their whole range."""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service import auth
from service.assignment.queues import add_member, install_default_queues
from service.assignment.run import assign
from service.cob.nightly import CobReport, Planning, run_cob
from service.db.models import (
    Callback,
    CallbackStatus,
    Hold,
    OptOut,
    Promise,
    PromiseStatus,
    Role,
    User,
)
from service.domain.contact import Channel, OptOutSource
from service.settings import Settings
from strategies import Registry

DEMO_USERS = (
    ("admin", "Admin", Role.admin, "zh-CN,en"),
    ("supervisor", "Supervisor 主管", Role.supervisor, "zh-CN,en"),
    ("collector1", "Collector 王芳", Role.collector, "zh-CN"),
    ("collector2", "Collector 李强", Role.collector, "zh-CN"),
    ("collector3", "Collector Maria Lopez", Role.collector, "en"),
    ("collector4", "Collector 陈静", Role.collector, "zh-CN,en"),
)


async def create_demo_users(db: AsyncEngine) -> list[tuple[str, str, str]]:
    """The demo users that do not exist yet: (username, role, password), each password random
    and returned once for the caller to show."""
    created: list[tuple[str, str, str]] = []
    async with db.begin() as conn:
        for username, name, role, languages in DEMO_USERS:
            if await conn.scalar(select(User.id).where(User.username == username)):
                continue
            password = secrets.token_urlsafe(9)
            await auth.create_user(
                conn,
                username=username,
                display_name=name,
                role=role,
                password=password,
                languages=languages,
                actor="demo",
            )
            created.append((username, role.value, password))
    return created


# Month-ends closed before the demo's first night (the dashboard's roll-rate months).
DEMO_MONTHS = 3


def month_ends_before(day: dt.date, months: int) -> list[dt.date]:
    """The last days of the ``months`` months before ``day``'s, oldest first."""
    ends: list[dt.date] = []
    cursor = day.replace(day=1)
    for _ in range(months):
        cursor -= dt.timedelta(days=1)
        ends.append(cursor)
        cursor = cursor.replace(day=1)
    return ends[::-1]


async def open_floor(
    db: AsyncEngine, settings: Settings, registry: Registry, as_of: dt.date
) -> CobReport:
    """Queues and members, the first close of business (which assigns and plans), then the
    day's work."""
    async with db.begin() as conn:
        await seed_demo_queues(conn)
    # The dashboard's history: the last month-ends closed first (snapshots and aggregates
    # only), so its roll-rate matrix, recovery and contact rates have months behind them.
    for month_end in month_ends_before(as_of, DEMO_MONTHS):
        await run_cob(
            db, month_end, settings.cob_config(), actor="demo", lender_zone=settings.lender_timezone
        )
    report = await run_cob(
        db, as_of, settings.cob_config(), actor="demo", planning=Planning(registry, settings)
    )
    async with db.begin() as conn:
        await seed_demo_day(conn, as_of)
        await assign(conn, registry, settings, as_of, actor="demo")
    return report


# Queue memberships of the demo collectors (users from `arrears demo`), with capacities.
DEMO_MEMBERS = {
    "collector1": ("M1 early", "M2-M3"),
    "collector2": ("M1 early", "Field visits"),
    "collector3": ("M1 early", "M1 senior"),
    "collector4": ("M1 senior", "M2-M3", "Recovery and legal"),
}
DEMO_CAPACITY = 2_000


async def seed_demo_queues(conn: AsyncConnection) -> None:
    """The source policies' queues, the demo collectors in them, language match for M1."""
    await install_default_queues(conn)
    await conn.execute(
        text("UPDATE queues SET collector_strategy = 'language_match' WHERE name = 'M1 early'")
    )
    for username, queues in DEMO_MEMBERS.items():
        await conn.execute(
            text("UPDATE users SET capacity = :capacity WHERE username = :username"),
            {"capacity": DEMO_CAPACITY, "username": username},
        )
        for queue in queues:
            await add_member(conn, queue, username)


async def seed_demo_day(conn: AsyncConnection, as_of: dt.date) -> None:
    """After the first close of business: some accounts lost contact (失联), some promises
    and callbacks, so that the queues and "next account" show their whole range."""
    await conn.execute(
        text(
            "UPDATE loans SET lost_contact_on = :day "
            "WHERE status = 'open' AND days_past_due > 45 AND id % 6 = 0"
        ),
        {"day": as_of - dt.timedelta(days=10)},
    )
    overdue = (
        await conn.execute(
            text(
                "SELECT id, overdue_amount FROM loans WHERE status = 'open' "
                "AND days_past_due BETWEEN 1 AND 90 AND lost_contact_on IS NULL ORDER BY id"
            )
        )
    ).all()
    now = dt.datetime.combine(as_of, dt.time(1, 0), tzinfo=dt.UTC)
    for index, (loan_id, amount) in enumerate(overdue[:60]):
        status, day = (
            ("broken", as_of - dt.timedelta(days=3))
            if index % 3 == 0
            else ("pending", as_of if index % 3 == 1 else as_of + dt.timedelta(days=5))
        )
        await conn.execute(
            insert(Promise).values(
                loan_id=loan_id,
                collector_id=None,
                amount=Decimal(str(amount)),
                promised_on=day,
                status=PromiseStatus(status),
                source="collector",
                created_at=now,
                updated_at=now,
            )
        )
    for loan_id, _amount in overdue[60:80]:
        await conn.execute(
            insert(Callback).values(
                loan_id=loan_id,
                user_id=None,
                due_at=now,
                status=CallbackStatus.scheduled,
                note="asked to be called back",
                created_at=now,
                created_by="demo",
            )
        )
    await _seed_compliance(conn, as_of, now)


# Holds a demo lender has on its books, by how many accounts carry each.
DEMO_HOLDS = (("dispute", 4), ("complaint", 3), ("deceased", 1), ("bankruptcy", 1))


async def _seed_compliance(conn: AsyncConnection, as_of: dt.date, now: dt.datetime) -> None:
    """Holds on a few overdue borrowers and SMS opt-outs (TD replies) from a few numbers, so a
    day's plan shows the guard blocking and why."""
    borrowers = (
        (
            await conn.execute(
                text(
                    "SELECT DISTINCT l.borrower_id FROM loans l WHERE l.status = 'open' "
                    "AND l.days_past_due BETWEEN 1 AND 30 ORDER BY l.borrower_id DESC"
                )
            )
        )
        .scalars()
        .all()
    )
    picked = iter(borrowers)
    for code, count in DEMO_HOLDS:
        for borrower_id in [next(picked, None) for _ in range(count)]:
            if borrower_id is None:
                return
            await conn.execute(
                insert(Hold).values(
                    borrower_id=borrower_id,
                    loan_id=None,
                    code=code,
                    started_on=as_of - dt.timedelta(days=2),
                    ends_on=None,
                    note="demo",
                    created_by="demo",
                    created_at=now,
                    source="demo",
                )
            )
    # Borrowers the next day's plan texts (T-3 and due day): every other one replied TD.
    phones = (
        await conn.execute(
            text(
                "SELECT DISTINCT p.e164 FROM phone_numbers p "
                "JOIN borrowers b ON b.id = p.borrower_id JOIN loans l ON l.borrower_id = b.id "
                "JOIN installments i ON i.loan_id = l.id "
                "WHERE p.kind = 'primary' AND b.sms_consent AND i.settled_on IS NULL "
                "AND l.days_past_due = 0 AND i.due_on IN (:first, :last) ORDER BY p.e164"
            ),
            {"first": as_of + dt.timedelta(days=1), "last": as_of + dt.timedelta(days=4)},
        )
    ).all()
    for (phone,) in phones[::2]:
        await conn.execute(
            insert(OptOut).values(
                phone=phone,
                channel=Channel.sms,
                opted_out_at=now,
                source=OptOutSource.keyword,
                keyword="TD",
            )
        )
