"""Users over the API, for administrators: the list, a new user, a role, deactivating, a
password reset (service.assignment.staff; the users page calls the same functions)."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import Field

from service import auth
from service.assignment import staff
from service.auth import CurrentUser
from service.db.models import Role
from service.web.api.framework import Api, In, Out, TextIn
from service.web.api.schemas import Instant, Items, Ref
from service.web.keys import ENGINE

api = Api("users")

ADMIN = (Role.admin,)

Password = Annotated[str, Field(min_length=auth.MIN_PASSWORD_LENGTH, max_length=200)]
Username = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")]


class StaffUserOut(Out):
    id: int
    username: str
    display_name: str
    role: Role
    active: bool
    languages: str
    created_at: Instant
    deactivated_at: Instant | None
    accounts: int = Field(description="open accounts the user holds")


class NewUser(In):
    username: Username
    display_name: Annotated[str, Field(min_length=1, max_length=200)]
    role: Role
    password: Password
    languages: Annotated[str, Field(min_length=2, max_length=64)] = "zh-CN"


class UserPath(TextIn):
    username: Ref


class RoleChange(In):
    role: Role


class PasswordReset(In):
    password: Password


@api.get("/api/users", summary="Every user, active first", roles=ADMIN)
async def list_users(request: web.Request) -> Items[StaffUserOut]:
    async with request.app[ENGINE].connect() as conn:
        users = await staff.list_users(conn)
    return Items[StaffUserOut](items=[StaffUserOut.model_validate(u) for u in users])


@api.post("/api/users", summary="Create a user", roles=ADMIN, status=201, errors=(409,))
async def create_user(request: web.Request, user: CurrentUser, body: NewUser) -> StaffUserOut:
    async with request.app[ENGINE].begin() as conn:
        await auth.create_user(conn, actor=user.username, **body.model_dump())
        created = await staff.show_user(conn, username=body.username)
    return StaffUserOut.model_validate(created)


@api.post(
    "/api/users/{username}/role",
    summary="Change a user's role (refused while a collector holds accounts)",
    roles=ADMIN,
    errors=(404, 409),
)
async def set_role(
    request: web.Request, user: CurrentUser, path: UserPath, body: RoleChange
) -> StaffUserOut:
    async with request.app[ENGINE].begin() as conn:
        await staff.set_role(conn, path.username, body.role, user.username, user.id)
        changed = await staff.show_user(conn, username=path.username)
    return StaffUserOut.model_validate(changed)


@api.post(
    "/api/users/{username}/deactivate",
    summary="Deactivate a user (a collector holding accounts is handed over instead)",
    roles=ADMIN,
    errors=(404, 409),
)
async def deactivate(request: web.Request, user: CurrentUser, path: UserPath) -> StaffUserOut:
    async with request.app[ENGINE].begin() as conn:
        await staff.deactivate(conn, path.username, user.username, user.id)
        changed = await staff.show_user(conn, username=path.username)
    return StaffUserOut.model_validate(changed)


@api.post(
    "/api/users/{username}/password",
    summary="Set a user's password (their sessions end)",
    roles=ADMIN,
    status=204,
    responses={204: None},
    errors=(404,),
)
async def reset_password(
    request: web.Request, user: CurrentUser, path: UserPath, body: PasswordReset
) -> web.StreamResponse:
    async with request.app[ENGINE].begin() as conn:
        await staff.reset_password(conn, path.username, body.password, user.username)
    return web.Response(status=204)
