"""The collector's workspace (``/work``): my queues with their counts, today's callbacks and
promises due, promises proposed from text replies to confirm or reject, and "next account".

"Next account" and "release" are the API's (``POST /api/work/next``, ``/api/work/release``):
the same lease, through :mod:`service.assignment.worklist`. Only collectors take accounts from
the work list (the API refuses anyone else); a supervisor's ``/work`` is the floor's view —
every active queue worked by people, with every callback and promise due in them — without the
button. Collectors see their own queues, and their own callbacks beside their queues' (never
another collector's own).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote
from zoneinfo import ZoneInfo

from aiohttp import web

from service.assignment import worklist, workspace
from service.auth import CurrentUser
from service.clock import lender_today
from service.contact import callbacks, promises
from service.db.models import PromiseStatus, Role
from service.domain.contact import PromiseSource
from service.domain.ptp import deadline
from service.portfolio.visibility import loan_visible
from service.web.keys import CLOCK, ENGINE, HOT_POOL, SETTINGS
from service.web.ui.framework import COLLECTING, Pages, see_other
from service.web.ui.i18n import gettext as _
from service.web.ui.i18n import ngettext
from service.web.ui.render import render

pages = Pages("work")

# How many of each list the page shows (the rest: on the account pages, by next account).
LISTED = 50


def _flash(request: web.Request) -> str | None:
    if request.query.get("next") == "none":
        return _("Nothing is due in your queues right now.")
    released = request.query.get("released")
    if released is not None and released.isdigit():
        count = int(released)
        if count == 0:
            return _("You held no account.")
        return ngettext("%(num)d account released.", "%(num)d accounts released.", count)
    return None


@pages.get("/work", roles=COLLECTING)
async def my_work(request: web.Request, user: CurrentUser) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    now = request.app[CLOCK].now()
    today = lender_today(settings.lender_timezone, now)
    # Today's callbacks: those due before the lender's day ends (and any overdue).
    end_of_day = dt.datetime.combine(
        today + dt.timedelta(days=1), dt.time(), tzinfo=ZoneInfo(settings.lender_timezone)
    )
    visible = loan_visible(user)
    collector = user.role is Role.collector
    async with request.app[ENGINE].connect() as conn:
        queues = await workspace.my_queues(conn, user)
        held = await workspace.held_by(conn, user.id, now)
        due_callbacks = await callbacks.list_callbacks(
            conn,
            visible,
            user_id=user.id if collector else None,
            due_before=end_of_day,
            limit=LISTED,
        )
        due_promises = await promises.list_promises(
            conn, visible, status=PromiseStatus.pending.value, due_by=today, limit=LISTED
        )
        proposals = await promises.list_promises(
            conn,
            visible,
            status=PromiseStatus.proposed.value,
            source=PromiseSource.sms.value,
            limit=LISTED,
        )
    return render(
        request,
        "work/queues.html",
        flash=_flash(request),
        queues=queues,
        held=held,
        callbacks=due_callbacks,
        # The last day a payment still keeps each (service.domain.ptp: the date plus grace).
        promises=[
            {**p, "deadline": deadline(p["promised_on"], settings.promise_grace_days)}
            for p in due_promises
        ],
        proposals=[p for p in proposals if p["arrangement_id"] is None],
        listed=LISTED,
        collector=collector,
        now=now,
        today=today,
    )


@pages.post("/work/next", roles=(Role.collector,))
async def next_account(request: web.Request, user: CurrentUser) -> web.StreamResponse:
    """Release what I held and lease the most urgent free account of my queues."""
    account = await worklist.next_account_now(
        request.app[ENGINE],
        user,
        request.app[SETTINGS],
        request.app[CLOCK].now(),
        request.app.get(HOT_POOL),
    )
    if account is None:
        raise see_other("/work?next=none")
    raise see_other(f"/accounts/{quote(account.loan_ref, safe='')}?next={account.reason}")


@pages.post("/work/release", roles=COLLECTING)
async def release(request: web.Request, user: CurrentUser) -> web.StreamResponse:
    async with request.app[ENGINE].begin() as conn:
        released = await worklist.release(conn, user.id)
    raise see_other(f"/work?released={released}")
