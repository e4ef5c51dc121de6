"""Typed application and request state (aiohttp ``AppKey`` / ``RequestKey``)."""

from __future__ import annotations

import asyncpg
import jinja2
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from service.auth import CurrentUser
from service.clock import Clock
from service.settings import Settings
from strategies import Registry
from workers.jobs import JobRunner

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
ENGINE = web.AppKey("engine", AsyncEngine)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
STRATEGIES = web.AppKey("strategies", Registry)
# Present only when REDIS_URL is configured (an arq pool: also what /healthz pings).
REDIS = web.AppKey("redis", Redis)
# PostgreSQL only: a small raw asyncpg pool for the statements every click runs (session
# lookup, next account), which skip SQLAlchemy's per-statement overhead.
HOT_POOL = web.AppKey("hot_pool", asyncpg.Pool)
# Who runs long work asked for over HTTP: the arq workers, or this process (embedded default).
JOBS = web.AppKey("jobs", JobRunner)

USER = web.RequestKey("user", CurrentUser)
SESSION_TOKEN = web.RequestKey("session_token", str)
REQUEST_ID = web.RequestKey("request_id", str)
# Why a session cookie was not honoured for this state-changing request (CSRF: not proven to
# come from our own pages); endpoints that need a login then answer 403, not 401.
CROSS_ORIGIN = web.RequestKey("cross_origin", str)

SESSION_COOKIE = "arrears_session"
