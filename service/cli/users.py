"""``arrears users add|set|set-password|list``: people and what assignment knows of them."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys

from sqlalchemy import select

from service import auth
from service.assignment.queues import update_user
from service.cli.common import Verbs, actor, migrated, verb
from service.db.models import Role, User
from service.errors import ArrearsError
from service.settings import Settings


def read_password(env_name: str) -> str:
    password = os.environ.get(env_name)
    if password:
        return password
    if not sys.stdin.isatty():
        raise ArrearsError(f"set {env_name} or run interactively to enter a password")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise ArrearsError("the passwords differ")
    return first


async def cmd_users(settings: Settings, args: argparse.Namespace) -> int:
    async with migrated(settings) as engine:
        if args.action == "add":
            password = read_password("ARREARS_NEW_PASSWORD")
            async with engine.begin() as conn:
                await auth.create_user(
                    conn,
                    username=args.username,
                    display_name=args.name or args.username,
                    role=Role(args.role),
                    password=password,
                    languages=args.languages,
                    capacity=args.capacity,
                )
            print(f"user {args.username} created ({args.role})")
        elif args.action == "set":
            async with engine.begin() as conn:
                changed = await update_user(
                    conn,
                    args.username,
                    actor(),
                    capacity=args.capacity,
                    no_capacity=args.no_capacity,
                    languages=args.languages,
                    team=args.team,
                )
            print(f"user {args.username}: {json.dumps(changed, default=str)}")
        elif args.action == "set-password":
            password = read_password("ARREARS_NEW_PASSWORD")
            async with engine.begin() as conn:
                await auth.set_password(conn, args.username, password)
            print(f"password of {args.username} changed")
        else:
            async with engine.connect() as conn:
                rows = (await conn.execute(select(User).order_by(User.username))).all()
            for row in rows:
                state = "active" if row.active else "inactive"
                capacity = "-" if row.capacity is None else str(row.capacity)
                print(
                    f"{row.username:<16} {row.role.value:<11} {state:<9} "
                    f"{row.languages:<12} {capacity:>6}  {row.display_name}"
                )
        return 0


def register(verbs: Verbs[argparse.ArgumentParser]) -> None:
    users = verb(verbs, "users", cmd_users, "manage users (password from ARREARS_NEW_PASSWORD)")
    users_verbs = users.add_subparsers(dest="action", required=True)
    add = users_verbs.add_parser("add")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=list(Role))
    add.add_argument("--name")
    add.add_argument("--languages", default="zh-CN")
    add.add_argument("--capacity", type=int, help="most open accounts at once (collectors)")
    change = users_verbs.add_parser("set", help="capacity, languages, team")
    change.add_argument("username")
    limit = change.add_mutually_exclusive_group()
    limit.add_argument("--capacity", type=int, help="most open accounts at once")
    limit.add_argument("--no-capacity", action="store_true", help="no limit")
    change.add_argument("--languages", help="comma-separated locales, e.g. zh-CN,en")
    change.add_argument("--team", help="team name (created if new)")
    passwd = users_verbs.add_parser("set-password")
    passwd.add_argument("username")
    users_verbs.add_parser("list")
