"""The JSON API: one module per area, each an :class:`~service.web.api.framework.Api` whose
handlers' signatures are their request and response models (``schemas`` holds the shared ones).
``/api/openapi.json`` is generated from these (:mod:`service.web.openapi`)."""

from __future__ import annotations

from service.web.api import (
    agencies,
    assignment,
    cob,
    compliance,
    contact,
    contact_log,
    dashboard,
    health,
    imports,
    inspections,
    jobs,
    legal,
    outbox,
    plans,
    portfolio,
    promises,
    restrictions,
    session,
    tasks,
    users,
    write_offs,
)
from service.web.api.framework import Api

AREAS: tuple[Api, ...] = (
    health.api,
    session.api,
    portfolio.api,
    restrictions.api,
    imports.api,
    cob.api,
    jobs.api,
    assignment.api,
    contact.api,
    contact_log.api,
    promises.api,
    plans.api,
    tasks.api,
    agencies.api,
    inspections.api,
    outbox.api,
    legal.api,
    write_offs.api,
    dashboard.api,
    compliance.api,
    users.api,
)
