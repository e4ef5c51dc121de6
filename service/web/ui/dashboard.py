"""The supervisor dashboard (docs/dashboard.md): the portfolio, recovery, roll and cure rates,
promises kept, contact and right-party-contact rates over a date range, by collector, queue or
strategy arm, the live backlog, each KPI's definition, charts (ECharts, vendored) and every table
as CSV. The figures are :mod:`service.portfolio.dashboard`'s, as the JSON API gives them."""

from __future__ import annotations

import itertools
import json
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

from aiohttp import web

from service.errors import ArrearsError
from service.portfolio import dashboard
from service.portfolio.exports import Column, CsvTable
from service.web.api.dashboard import DashboardQuery, period_of
from service.web.api.framework import validated
from service.web.keys import CLOCK, ENGINE, SETTINGS
from service.web.ui.framework import STAFF, Pages
from service.web.ui.i18n import lazy_gettext as _l
from service.web.ui.render import render
from service.web.ui.task_view import Problem, problem

pages = Pages("dashboard")

# Each KPI's definition as DESIGN.md §1 words it, shown beside the figures.
DEFINITIONS = (
    (_l("Recovery rate"), _l("Amount collected in the period ÷ overdue balance at period start.")),
    (
        _l("Roll rate"),
        _l(
            "Share (count and balance) of accounts in bucket i at period-end t that sit in "
            "bucket i+1 at t+1."
        ),
    ),
    (_l("Cure rate"), _l("Share of accounts in bucket i at t that are current (M0) at t+1.")),
    (
        _l("Promise kept rate"),
        _l(
            "Promises to pay kept by their date (+ grace) ÷ promises falling due in the period; "
            "also amount-weighted."
        ),
    ),
    (_l("Contact rate"), _l("Connected attempts ÷ attempts.")),
    (_l("Right-party-contact rate"), _l("Right-party contacts ÷ attempts.")),
)

Figures = dict[str, Any]
Rows = Callable[[Figures], Sequence[Sequence[Any]]]


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _rate(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


# The downloads: /dashboard/<name>.csv, each a table of the page (its figures, as the API's):
# the read of dashboard.everything it is made of, its columns, its rows.
TABLES: dict[str, tuple[str, CsvTable, Rows]] = {
    "portfolio-buckets": (
        "portfolio_bucket",
        CsvTable(
            [
                Column("group"),
                Column("bucket"),
                Column("accounts", "integer"),
                Column("outstanding", "money"),
                Column("overdue_amount", "money"),
            ]
        ),
        lambda f: [
            (r["group"], r["bucket"], r["accounts"], r["outstanding"], r["overdue_amount"])
            for r in f["portfolio_bucket"]["rows"]
        ],
    ),
    "portfolio-classes": (
        "portfolio_class",
        CsvTable(
            [
                Column("group"),
                Column("classification"),
                Column("accounts", "integer"),
                Column("outstanding", "money"),
                Column("overdue_amount", "money"),
            ]
        ),
        lambda f: [
            (r["group"], r["risk_class"], r["accounts"], r["outstanding"], r["overdue_amount"])
            for r in f["portfolio_class"]["rows"]
        ],
    ),
    "recovery": (
        "recovery",
        CsvTable(
            [
                Column("group"),
                Column("overdue_at_start", "money"),
                Column("collected", "money"),
                Column("recovery_rate"),
            ]
        ),
        lambda f: [
            (r["group"], r["overdue_at_start"], r["collected"], _rate(r["recovery_rate"]))
            for r in f["recovery"]["rows"]
        ],
    ),
    "roll-matrix": (
        "rolls",
        CsvTable(
            [
                Column("month"),
                Column("from_on"),
                Column("to_on"),
                Column("from_bucket"),
                Column("to_bucket"),
                Column("accounts", "integer"),
                Column("balance", "money"),
                Column("share"),
                Column("balance_share"),
            ]
        ),
        lambda f: [
            (
                m["month"].isoformat(),
                m["from_on"].isoformat(),
                m["to_on"].isoformat(),
                row["from_bucket"],
                cell["bucket"],
                cell["accounts"],
                cell["balance"],
                _rate(cell["share"]),
                _rate(cell["balance_share"]),
            )
            for m in f["rolls"]["months"]
            for row in m["rows"]
            for cell in row["to"]
        ],
    ),
    "roll-rates": (
        "rolls",
        CsvTable(
            [
                Column("month"),
                Column("group"),
                Column("accounts", "integer"),
                Column("roll_rate"),
                Column("roll_rate_balance"),
                Column("cure_rate"),
                Column("cure_rate_balance"),
            ]
        ),
        lambda f: [
            (
                r["month"].isoformat(),
                r["group"],
                r["accounts"],
                _rate(r["roll_rate"]),
                _rate(r["roll_rate_balance"]),
                _rate(r["cure_rate"]),
                _rate(r["cure_rate_balance"]),
            )
            for r in f["rolls"]["rates"]
        ],
    ),
    "promises": (
        "promises",
        CsvTable(
            [
                Column("group"),
                Column("made", "integer"),
                Column("made_amount", "money"),
                Column("due", "integer"),
                Column("due_amount", "money"),
                Column("kept", "integer"),
                Column("partially_kept", "integer"),
                Column("broken", "integer"),
                Column("open", "integer"),
                Column("settled_amount", "money"),
                Column("kept_amount", "money"),
                Column("kept_rate"),
                Column("kept_amount_rate"),
            ]
        ),
        lambda f: [
            (
                r["group"],
                r["made"],
                r["made_amount"],
                r["due"],
                r["due_amount"],
                r["kept"],
                r["partially_kept"],
                r["broken"],
                r["open"],
                r["settled_amount"],
                r["kept_amount"],
                _rate(r["kept_rate"]),
                _rate(r["kept_amount_rate"]),
            )
            for r in f["promises"]["rows"]
        ],
    ),
    "contact": (
        "contact",
        CsvTable(
            [
                Column("group"),
                Column("attempts", "integer"),
                Column("connected", "integer"),
                Column("right_party", "integer"),
                Column("contact_rate"),
                Column("rpc_rate"),
            ]
        ),
        lambda f: [
            (
                r["group"],
                r["attempts"],
                r["connected"],
                r["right_party"],
                _rate(r["contact_rate"]),
                _rate(r["rpc_rate"]),
            )
            for r in f["contact"]["rows"]
        ],
    ),
    "backlog": (
        "backlog",
        CsvTable(
            [
                Column("queue"),
                Column("accounts", "integer"),
                Column("assigned", "integer"),
                Column("leased", "integer"),
                Column("oldest_lease_seconds", "integer"),
                Column("newest_lease_seconds", "integer"),
            ]
        ),
        lambda f: [
            (
                r["queue"],
                r["accounts"],
                r["assigned"],
                r["leased"],
                r["oldest_lease_seconds"],
                r["newest_lease_seconds"],
            )
            for r in f["backlog"]["rows"]
        ],
    ),
}


def _period(request: web.Request) -> tuple[dashboard.Period, Problem | None]:
    """The asked range and grouping, as the API reads them; a bad one: the default, refused."""
    wanted = {k: v for k in ("from", "to", "group") if (v := request.query.get(k, "").strip())}
    try:
        return period_of(request, validated(DashboardQuery, wanted)), None
    except ArrearsError as exc:
        return period_of(request, validated(DashboardQuery, {})), problem(exc)


async def _figures(
    request: web.Request, period: dashboard.Period, only: set[str] | None = None
) -> Figures:
    settings = request.app[SETTINGS]
    async with request.app[ENGINE].connect() as conn:
        return await dashboard.everything(
            conn,
            period,
            settings.cob_config().buckets.labels,
            request.app[CLOCK].now(),
            settings.lease_minutes,
            only,
        )


def _charts(figures: Figures, buckets: Sequence[str]) -> str:
    """The charts' data (the page's JSON block, read by dashboard.js): the portfolio by bucket
    across groups, the latest month's roll rates by bucket."""
    accounts = dict.fromkeys(buckets, 0)
    balance = dict.fromkeys(buckets, Decimal(0))
    for row in figures["portfolio_bucket"]["rows"]:
        accounts[row["bucket"]] = accounts.get(row["bucket"], 0) + row["accounts"]
        balance[row["bucket"]] = balance.get(row["bucket"], Decimal(0)) + row["outstanding"]
    months = figures["rolls"]["months"]
    roll: list[float | None] = []
    if months:
        latest = {row["from_bucket"]: row for row in months[-1]["rows"]}
        for i, bucket in enumerate(buckets[:-1]):
            row = latest.get(bucket)
            share = row["to"][i + 1]["share"] if row else None
            roll.append(float(share) if share is not None else None)
    data = {
        "buckets": list(accounts),
        "accounts": list(accounts.values()),
        "balance": [float(v) for v in balance.values()],
        "roll_from": [f"{a}→{b}" for a, b in itertools.pairwise(buckets)],
        "roll": roll,
    }
    # In a <script type="application/json"> block: "</" must not end the element early.
    return json.dumps(data).replace("</", "<\\/")


@pages.get("/dashboard", roles=STAFF)
async def dashboard_page(request: web.Request) -> web.StreamResponse:
    period, refused = _period(request)
    figures = await _figures(request, period)
    buckets = request.app[SETTINGS].cob_config().buckets.labels
    return render(
        request,
        "dashboard/index.html",
        status=refused.status if refused else 200,
        refused=refused,
        period=period,
        groupings=dashboard.GROUPINGS,
        f=figures,
        buckets=buckets,
        definitions=DEFINITIONS,
        tables=list(TABLES),
        csv_query=request.query_string,
        chart_data=_charts(figures, buckets),
    )


def _download(
    name: str, read: str, table: CsvTable, rows: Rows
) -> Callable[[web.Request], Awaitable[Any]]:
    async def download(request: web.Request) -> web.StreamResponse:
        period, refused = _period(request)
        if refused is not None:
            return render(request, "message.html", status=refused.status, message=refused.text)
        figures = await _figures(request, period, {read})
        return web.Response(
            text=table.header() + table.rows(rows(figures)),
            content_type="text/csv",
            charset="utf-8",
            headers={
                "Content-Disposition": (
                    f'attachment; filename="dashboard-{name}-{period.start}-{period.end}.csv"'
                )
            },
        )

    download.__doc__ = f"The dashboard's {name} table as CSV (text cells safe in a spreadsheet)."
    return download


for _name, (_read, _table, _rows) in TABLES.items():
    pages.get(f"/dashboard/{_name}.csv", roles=STAFF)(_download(_name, _read, _table, _rows))
