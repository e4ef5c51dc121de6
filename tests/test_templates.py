"""Every template ships with the package and renders under StrictUndefined in every locale, with
the variables the code that uses it really passes."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import zipfile
from decimal import Decimal
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from service.contact.inbound import REPLY_TEMPLATES, reply_context
from service.contact.ivr import MENU_TEMPLATE, render_menu
from service.db.models import Role
from service.domain.compliance import PROFILE_NAMES, load_profile
from service.domain.contact import LOCALES
from service.settings import Settings
from service.treatment.accounts import PlanRow
from service.treatment.messages import (
    SUFFIXES,
    letter_variables,
    render_letter,
    render_sms,
    render_voice,
    sms_text,
    voice_context,
)
from service.treatment.planner import message_context
from service.web.keys import TEMPLATES
from service.web.ui.render import web_environment
from strategies.treatment import TreatmentAccount
from tests.conftest import PASSWORD, make_user
from tests.test_pages import post_form

ROOT = resources.files("templates")
ROOT_DIR = Path(str(ROOT))


def _names(kind: str, locale: str) -> set[str]:
    folder = ROOT.joinpath(kind, locale)
    return {entry.name.rsplit(".", 1)[0] for entry in folder.iterdir() if entry.is_file()}


def _row(locale: str) -> PlanRow:
    account = TreatmentAccount(
        loan_id=7,
        loan_ref="L-20261124-0007",
        product="cash",
        bucket="M1",
        amount_tier="S",
        days_past_due=12,
        outstanding=Decimal("5230.00"),
        risk_class="special_mention",
        lost_contact=False,
        days_to_due=3,
        days_to_maturity=200,
    )
    return PlanRow(
        account,
        "王芳" if locale == "zh-CN" else "Maria Lopez",
        locale,
        "CNY",
        Decimal("1200.50"),
        dt.date(2026, 11, 27),
        Decimal("880.00"),
    )


@pytest.mark.parametrize("kind", sorted(SUFFIXES))
def test_every_message_template_exists_in_every_locale(kind: str) -> None:
    names = {locale: _names(kind, locale) for locale in LOCALES}
    assert names["zh-CN"], f"no {kind} templates"
    assert all(found == names["zh-CN"] for found in names.values()), names


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_sms_and_call_scripts_render_with_the_planners_variables(locale: str, profile: str) -> None:
    footer = load_profile(profile).sms_footer
    context = message_context(_row(locale), "Arrears Demo Lender")
    for template in _names("sms", locale) - set(REPLY_TEMPLATES):
        assert footer not in render_sms(template, locale, context)  # the sender adds it
        text = sms_text(template, locale, context, footer)
        assert "L-20261124-0007"[-4:] in text
        assert text.endswith(footer)
    for template in _names("voice", locale) - {MENU_TEMPLATE}:
        script = render_voice(template, locale, voice_context(context, "http://127.0.0.1:8080", 7))
        assert "<Response>" in script
        assert context["name"] in script
        assert ("<Gather" in script) == (not template.endswith("_limited"))
        # A voicemail hears the script alone.
        alone = render_voice(template, locale, {**voice_context(context, "x", 7), "menu_url": ""})
        assert "<Gather" not in alone


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("profile", PROFILE_NAMES)
@pytest.mark.parametrize("number", [None, "+8610955555"])
def test_keyword_replies_render_with_the_replies_variables(
    locale: str, profile: str, number: str | None
) -> None:
    settings = Settings(collector_number=number)
    context = reply_context(load_profile(profile), settings)
    for template in REPLY_TEMPLATES:
        assert settings.lender_name in render_sms(template, locale, context)
    assert (number is not None) == (str(number) in render_sms("help", locale, context))
    assert load_profile(profile).opt_in_keywords[0] in render_sms(
        "opt_out_confirmation", locale, context
    )


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(
    "step",
    ["menu", "amount", "date", "confirm", "promised", "dial", "closed", "paid", "goodbye"],
)
@pytest.mark.parametrize(
    "problem", ["", "choice", "amount_invalid", "amount_too_large", "date_invalid", "date_too_far"]
)
def test_every_step_of_the_call_menu_renders(locale: str, step: str, problem: str) -> None:
    variables = {
        "step": step,
        "problem": problem,
        "action": "https://x/webhooks/twilio/voice/menu?outbox=7&step=amount&tries=0",
        "amount": "500",
        "promised_on": "5 December",
        "currency": "yuan",
        "outstanding": "5,230.00",
        "days_max": 30,
        "collector_number": "+8610955555",
        "office_hours": "09:00-18:00",
        "lender": "Arrears Demo Lender",
    }
    script = render_menu(locale, variables)
    assert script.startswith("<?xml")
    assert "<Response>" in script
    assert "&amp;step=amount" in script or "<Gather" not in script  # URLs escaped in XML


@pytest.mark.parametrize("locale", LOCALES)
def test_letters_render_with_the_letters_variables(locale: str) -> None:
    loan = SimpleNamespace(
        name="王芳",
        address="上海市",
        loan_ref="L-7",
        currency="CNY",
        principal=Decimal("10000.00"),
        disbursed_on=dt.date(2026, 1, 5),
        maturity_on=dt.date(2027, 1, 5),
        outstanding=Decimal("5230.00"),
        overdue_amount=Decimal("1200.50"),
        penalty_unpaid=Decimal("12.30"),
        days_past_due=12,
    )
    context = letter_variables(loan, "Arrears Demo Lender", dt.date(2026, 11, 24))
    for template in _names("letters", locale):
        html = render_letter(template, locale, context)
        assert "1,200.50" in html or "5,230.00" in html


def test_a_missing_variable_is_an_error_never_a_gap() -> None:
    context = message_context(_row("en"), "Lender")
    del context["amount_due"]
    with pytest.raises(jinja2.UndefinedError):
        render_sms("due_day", "en", context)


async def test_every_web_template_renders_for_the_pages_that_use_it(
    aiohttp_client: Any, settings: Any, engine: AsyncEngine
) -> None:
    from service.web.app import create_app

    app = create_app(settings)
    rendered: list[str] = []
    pages = app[TEMPLATES]
    original = pages.get_template

    def recording(name: Any, *args: Any, **kwargs: Any) -> jinja2.Template:
        rendered.append(str(name))
        return original(name, *args, **kwargs)

    pages.get_template = recording  # type: ignore[method-assign]
    try:
        client: TestClient[Any, Any] = await aiohttp_client(app)
        for path in ("/", "/login"):
            assert (await client.get(path)).status == 200
        for role in (Role.collector, Role.supervisor):
            await make_user(engine, role.value, role)
            login = {"username": role.value, "password": PASSWORD}
            assert (await post_form(client, "/login", login, "/login")).status == 200
            home = await client.get("/")
            assert home.status == 200
            assert role.value.title() in await home.text()  # logged in: the page with their name
            assert (await client.get("/me")).status == 200
            assert (await post_form(client, "/logout", {}, "/")).status == 200
        # A form posted without its token: refused, with the message page.
        assert (await client.post("/logout")).status == 403
    finally:
        del pages.get_template
    shipped = {entry.name for entry in ROOT.joinpath("web").iterdir() if entry.is_file()}
    assert shipped <= set(rendered), f"never rendered: {shipped - set(rendered)}"
    assert web_environment().undefined is jinja2.StrictUndefined


def test_an_installed_wheel_carries_every_template(tmp_path: Path) -> None:
    subprocess.run(  # noqa: S603  # our own interpreter building our own project
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-w",
            str(tmp_path),
            str(ROOT_DIR.parent),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("arrears-*.whl")
    packed = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        path.relative_to(ROOT_DIR.parent).as_posix()
        for path in ROOT_DIR.rglob("*")
        if path.is_file() and path.suffix in (".html", ".txt", ".xml", ".po", ".css", ".js")
    }
    assert shipped
    assert shipped <= packed, sorted(shipped - packed)
    assert "service/db/migrations/script.py.mako" in packed
    assert "service/db/migrations/versions/0001_initial_schema.py" in packed
    assert "service/domain/profiles.toml" in packed
