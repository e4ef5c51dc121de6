"""The fake Twilio's configuration: one frozen dataclass, built by the CLI or a test."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

# A fixed, documented pair for demos and tests only: no real account has it, and the CLI says so
# loudly when it falls back to it.
DEMO_ACCOUNT_SID = "AC" + "0" * 32
DEMO_AUTH_TOKEN = "0" * 31 + "1"  # a published test value, not a secret

API_VERSION = "2010-04-01"

# What a fault on a number does (faults.py reads these; the control API validates against them).
NUMBER_FAULTS = frozenset(
    {"stop", "invalid", "fail", "undeliverable", "busy", "no-answer", "voicemail"}
)
TRANSIENT_KINDS = ("429", "500", "timeout")
CALL_OUTCOMES = ("answered", "no-answer", "busy", "voicemail", "failed")


@dataclasses.dataclass(frozen=True, slots=True)
class FakeTwilioConfig:
    """How the fake starts. Everything under "faults" can also be changed at run time through
    ``POST /_fake/faults``; ``POST /_fake/reset`` returns to what is set here."""

    account_sid: str = DEMO_ACCOUNT_SID
    auth_token: str = dataclasses.field(default=DEMO_AUTH_TOKEN, repr=False)
    # Where the inbound-SMS webhook is posted (``POST /_fake/inbound``); None: nowhere.
    sms_url: str | None = None
    # Status progression: seconds between two steps of a message or a call.
    step_seconds: float = 0.05
    # Callbacks: tries per callback, the first back-off (doubled each try), each try's timeout.
    callbacks: bool = True
    callback_tries: int = 4
    callback_backoff_seconds: float = 0.05
    callback_timeout_seconds: float = 5.0
    # Deliver a resource's status callbacks in a seeded random order (tests out-of-order handling).
    shuffle_callbacks: bool = False
    # Faults.
    seed: int = 0
    stop: frozenset[str] = frozenset()
    invalid: frozenset[str] = frozenset()
    number_faults: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )
    transient_rate: float = 0.0
    transient_weights: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: MappingProxyType({"429": 1.0, "500": 1.0, "timeout": 1.0})
    )
    # A timeout fault creates the message and holds the answer this long.
    timeout_seconds: float = 5.0
    # Seeded outcomes of calls to numbers without a fault or a script.
    answer_weights: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: MappingProxyType({"answered": 1.0})
    )
    # An inbound STOP (or START) changes the sender's subscription, as Twilio's default opt-out
    # handling does: later sends to it answer 21610.
    opt_out_keywords: bool = True
    # Voice: at most this many TwiML documents per call (a Redirect loop ends there).
    max_documents: int = 50

    def __post_init__(self) -> None:
        if not 0.0 <= self.transient_rate <= 1.0:
            raise ValueError("transient_rate must be within [0, 1]")
        check_weights(self.transient_weights, TRANSIENT_KINDS, "transient_weights")
        check_weights(self.answer_weights, CALL_OUTCOMES, "answer_weights")
        for number, fault in self.number_faults.items():
            if fault not in NUMBER_FAULTS:
                raise ValueError(f"unknown fault {fault!r} for {number}")
        if self.callback_tries < 1:
            raise ValueError("callback_tries must be at least 1")

    def start_faults(self) -> dict[str, str]:
        """Every per-number fault set at start, ``stop`` and ``invalid`` included."""
        faults = dict(self.number_faults)
        faults.update(dict.fromkeys(self.stop, "stop"))
        faults.update(dict.fromkeys(self.invalid, "invalid"))
        return faults


def check_weights(weights: Mapping[str, float], kinds: tuple[str, ...], name: str) -> None:
    unknown = set(weights) - set(kinds)
    if unknown:
        raise ValueError(f"{name}: unknown {sorted(unknown)}; known: {', '.join(kinds)}")
    if any(w < 0 for w in weights.values()) or not any(w > 0 for w in weights.values()):
        raise ValueError(f"{name}: weights must be >= 0 with at least one > 0")
