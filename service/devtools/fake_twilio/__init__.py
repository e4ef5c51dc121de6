"""A local Twilio-compatible server (``arrears fake-twilio``): the Messages and Calls REST API
that the real ``twilio`` SDK calls, signed status callbacks, inbound texts, a voice simulator,
and faults injected at start or at run time. See docs/fake_twilio.md."""

from service.devtools.fake_twilio.config import (
    DEMO_ACCOUNT_SID,
    DEMO_AUTH_TOKEN,
    FakeTwilioConfig,
)
from service.devtools.fake_twilio.runtime import FAKE, FakeTwilio
from service.devtools.fake_twilio.server import create_fake_twilio

__all__ = [
    "DEMO_ACCOUNT_SID",
    "DEMO_AUTH_TOKEN",
    "FAKE",
    "FakeTwilio",
    "FakeTwilioConfig",
    "create_fake_twilio",
]
