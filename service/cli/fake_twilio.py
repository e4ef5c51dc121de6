"""``arrears fake-twilio``: the local Twilio-compatible server for tests, the demo, the fault
test and the benchmark (service/devtools/fake_twilio; docs/fake_twilio.md)."""

from __future__ import annotations

import argparse
import os
from types import MappingProxyType

from service.cli.common import Verbs, verb
from service.devtools.fake_twilio import (
    DEMO_ACCOUNT_SID,
    DEMO_AUTH_TOKEN,
    FakeTwilioConfig,
    create_fake_twilio,
)
from service.errors import ArrearsError
from service.settings import Settings


def _weights(text: str) -> dict[str, float]:
    """``answered=6,no-answer=2,busy=1,voicemail=1`` → a weight per outcome."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            weights[name.strip()] = float(value) if sep else 1.0
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r} is not NAME=WEIGHT") from None
    return weights


def cmd_fake_twilio(settings: Settings, args: argparse.Namespace) -> int:
    from aiohttp import web

    # Secrets come from the environment only, never from the command line.
    sid = os.environ.get("TWILIO_ACCOUNT_SID") or None
    token = os.environ.get("TWILIO_AUTH_TOKEN") or None
    if (sid is None) != (token is None):
        raise ArrearsError("set both TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or neither")
    try:
        config = FakeTwilioConfig(
            account_sid=sid or DEMO_ACCOUNT_SID,
            auth_token=token or DEMO_AUTH_TOKEN,
            sms_url=args.sms_url,
            seed=args.seed,
            stop=frozenset(args.stop),
            invalid=frozenset(args.invalid),
            transient_rate=args.transient_rate,
            timeout_seconds=args.timeout_seconds,
            step_seconds=args.step_seconds,
            callbacks=not args.no_callbacks,
            shuffle_callbacks=args.shuffle_callbacks,
            answer_weights=MappingProxyType(args.answer_weights or {"answered": 1.0}),
        )
    except ValueError as exc:
        raise ArrearsError(f"fake-twilio: {exc}") from None
    base = f"http://{args.host}:{args.port}"
    if sid is None:
        print(
            "NOTICE: TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN are unset: using the fixed demo pair\n"
            f"  TWILIO_ACCOUNT_SID={DEMO_ACCOUNT_SID}\n"
            f"  TWILIO_AUTH_TOKEN={DEMO_AUTH_TOKEN}\n"
            "  (a published test pair: never a real account's)"
        )
    print(
        f"fake Twilio listening on {base}/ (Ctrl-C stops it); control API at {base}/_fake/stats\n"
        f"point Arrears at it with: TWILIO_BASE_URL={base} ARREARS_CHANNEL=twilio "
        "and the same TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN",
        flush=True,
    )
    # No access log: the hot path logs nothing above debug (a 10,000-message run stays quiet).
    web.run_app(
        create_fake_twilio(config), host=args.host, port=args.port, print=None, access_log=None
    )
    return 0


def register(verbs: Verbs[argparse.ArgumentParser]) -> None:
    fake = verb(verbs, "fake-twilio", cmd_fake_twilio, "run a local Twilio-compatible server")
    fake.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    fake.add_argument("--port", type=int, default=4010)
    fake.add_argument("--seed", type=int, default=0, help="seed of every random fault")
    fake.add_argument(
        "--transient-rate",
        type=float,
        default=0.0,
        help="share of creates answered 429, 500 or a timeout (e.g. 0.1)",
    )
    fake.add_argument(
        "--timeout-seconds",
        type=float,
        default=5.0,
        help="how long a timeout fault holds its answer (the message is created)",
    )
    fake.add_argument(
        "--step-seconds", type=float, default=0.05, help="delay between two status steps"
    )
    fake.add_argument("--sms-url", help="the application's inbound-SMS webhook")
    fake.add_argument(
        "--stop", nargs="+", default=[], metavar="NUMBER", help="numbers that replied STOP"
    )
    fake.add_argument(
        "--invalid", nargs="+", default=[], metavar="NUMBER", help="numbers answered 21211"
    )
    fake.add_argument(
        "--answer-weights",
        type=_weights,
        metavar="OUTCOME=W,...",
        help="seeded call outcomes, e.g. answered=6,no-answer=2,busy=1,voicemail=1",
    )
    fake.add_argument("--no-callbacks", action="store_true", help="send no status callbacks")
    fake.add_argument(
        "--shuffle-callbacks",
        action="store_true",
        help="deliver each resource's callbacks in a seeded random order",
    )
