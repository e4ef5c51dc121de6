"""The raw limit for "next account": a bare aiohttp endpoint doing only the SKIP LOCKED pop.

    python bench/assign/bare.py DSN PORT QUEUE_ID

No authentication, no release of an earlier lease, no account details: one statement per
request on an asyncpg pool, the floor any real "next account" endpoint stands on.
"""

from __future__ import annotations

import sys

import asyncpg
from aiohttp import web

POP = """
UPDATE work_items SET lease_holder_id = $1, lease_expires_at = now() + interval '15 minutes'
WHERE loan_id = (
  SELECT loan_id FROM work_items
  WHERE queue_id = $2 AND lease_holder_id IS NULL
  ORDER BY rank, score, loan_id
  LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING loan_id"""


def main() -> None:
    dsn, port, queue_id = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    pool_key = web.AppKey("pool", asyncpg.Pool)
    holder_key = web.AppKey("holder", int)

    async def pop(request: web.Request) -> web.Response:
        loan_id = await request.app[pool_key].fetchval(POP, request.app[holder_key], queue_id)
        return web.json_response({"loan_id": loan_id})

    async def resources(app: web.Application) -> object:
        app[pool_key] = await asyncpg.create_pool(dsn, min_size=10, max_size=30)
        async with app[pool_key].acquire() as conn:
            app[holder_key] = await conn.fetchval("SELECT min(id) FROM users")
        yield
        await app[pool_key].close()

    app = web.Application()
    app.cleanup_ctx.append(resources)
    app.router.add_post("/pop", pop)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
