"""The lender's calendar: which date it is where the lender books its business."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def lender_today(zone: str, now: dt.datetime | None = None) -> dt.date:
    moment = now or dt.datetime.now(dt.UTC)
    return moment.astimezone(ZoneInfo(zone)).date()
