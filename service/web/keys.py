"""Typed application and request state (aiohttp ``AppKey`` / ``RequestKey``)."""

from __future__ import annotations

import asyncpg
import jinja2
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from service.auth import CurrentUser
from service.settings import Settings
from strategies import Registry

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
STRATEGIES = web.AppKey("strategies", Registry)
REDIS = web.AppKey("redis", Redis)
# PostgreSQL only: a small raw asyncpg pool for the statements every click runs (session
# lookup, next account), which skip SQLAlchemy's per-statement overhead.
HOT_POOL = web.AppKey("hot_pool", asyncpg.Pool)  # present only when REDIS_URL is configured

USER = web.RequestKey("user", CurrentUser)
SESSION_TOKEN = web.RequestKey("session_token", str)
REQUEST_ID = web.RequestKey("request_id", str)

SESSION_COOKIE = "arrears_session"
