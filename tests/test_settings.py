"""Settings come from the environment once, with the embedded mode as the default."""

from __future__ import annotations

import pytest

from service.errors import ConfigurationError
from service.settings import Settings


def test_no_configuration_is_the_embedded_mode() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite+aiosqlite:///var/arrears.db"
    assert (settings.dispatch, settings.channel) == ("inprocess", "console")
    assert (settings.lender_timezone, settings.compliance_profile) == ("Asia/Shanghai", "cn")
    assert settings.redis_url is None


def test_production_parts_are_switched_on_by_the_environment() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgres://app@db:5432/arrears",
            "REDIS_URL": "redis://cache:6379/0",
            "ARREARS_CHANNEL": "twilio",
            "TWILIO_ACCOUNT_SID": "AC123",
            "TWILIO_AUTH_TOKEN": "secret",
            "TWILIO_FROM_NUMBER": "+15005550006",
            "LOG_FORMAT": "json",
            "ARREARS_PORT": "9000",
        }
    )
    assert settings.database_url == "postgresql+asyncpg://app@db:5432/arrears"
    assert settings.dispatch == "arq"
    assert settings.channel == "twilio"
    assert settings.port == 9000
    assert "secret" not in repr(settings)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ARREARS_LENDER_TIMEZONE": "Mars/Olympus"}, "not an IANA zone"),
        ({"ARREARS_CHANNEL": "twilio"}, "needs TWILIO_ACCOUNT_SID"),
        ({"ARREARS_DISPATCH": "arq"}, "needs REDIS_URL"),
        ({"ARREARS_PORT": "eighty"}, "whole number"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL must start"),
        ({"ARREARS_COMPLIANCE_PROFILE": "fr"}, "must be one of"),
    ],
)
def test_impossible_settings_are_refused_with_the_reason(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(environ)


def test_delinquency_configuration_is_validated_at_start() -> None:
    with pytest.raises(ConfigurationError, match=r"0.5 % a day is 182.5 % a year"):
        Settings.from_env({"ARREARS_PENALTY_DAILY_RATE": "0.005"})
    with pytest.raises(ConfigurationError, match="must increase strictly"):
        Settings.from_env({"ARREARS_BUCKET_EDGES": "0,30,20"})
    with pytest.raises(ConfigurationError, match="CLASSIFICATION_PROFILE"):
        Settings.from_env({"ARREARS_CLASSIFICATION_PROFILE": "cn_bank_1998"})
    card = Settings.from_env(
        {"ARREARS_CLASSIFICATION_PROFILE": "cn_card_2011", "ARREARS_COB_TIME": "02:30"}
    )
    assert card.cob_config().classification.classify(121).name == "doubtful"
