"""Faults the fake injects: per number (a STOP, an invalid number, a failed delivery, a busy
line…), transient failures of message creation by a seeded rate, and seeded call outcomes.

Every random draw comes from ``random.Random(seed)`` instances, so a run with the same seed and
the same order of requests injects the same faults."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from typing import Any

from service.devtools.fake_twilio.config import (
    CALL_OUTCOMES,
    NUMBER_FAULTS,
    TRANSIENT_KINDS,
    FakeTwilioConfig,
    check_weights,
)

# How long a dialled callee talks when their script does not say (simulated, not slept).
DEFAULT_TALK_SECONDS = 30
# A number fault that decides how a call to it ends.
_CALL_FAULTS = {
    "busy": "busy",
    "no-answer": "no-answer",
    "voicemail": "voicemail",
    "fail": "failed",
}


class Faults:
    def __init__(self, config: FakeTwilioConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        config = self.config
        self.numbers: dict[str, str] = config.start_faults()
        self.transient_rate = config.transient_rate
        self.transient_weights = dict(config.transient_weights)
        self.answer_weights = dict(config.answer_weights)
        self.shuffle_callbacks = config.shuffle_callbacks
        self.timeout_seconds = config.timeout_seconds
        # Separate streams: adding calls to a run does not move which messages fail.
        self.transient_random = random.Random(config.seed)
        self.call_random = random.Random(config.seed + 1)
        self.shuffle_random = random.Random(config.seed + 2)
        # The legs a <Dial> places draw from their own stream: a script that dials does not
        # move the outcomes of the calls after it.
        self.dial_random = random.Random(config.seed + 3)
        self.scripts: dict[str, dict[str, Any]] = {}
        self.injected: Counter[str] = Counter()
        self._kinds, self._weights = _table(self.transient_weights)

    def on_number(self, number: str) -> str | None:
        return self.numbers.get(number)

    def transient(self) -> str | None:
        """``429``, ``500``, ``timeout`` or None for this create, by the seeded rate."""
        if not self.transient_rate or self.transient_random.random() >= self.transient_rate:
            return None
        kind = self.transient_random.choices(self._kinds, self._weights)[0]
        self.injected[kind] += 1
        return kind

    def call_outcome(self, number: str, *, dialled: bool = False) -> str:
        """How a call to ``number`` ends: a number fault, then a script, then the seeded draw
        (``dialled``: a leg a ``<Dial>`` placed, drawn from its own stream; an invalid number
        fails it)."""
        fault = _CALL_FAULTS.get(self.numbers.get(number, ""))
        if dialled and self.numbers.get(number) == "invalid":
            fault = "failed"
        if fault is not None:
            self.injected[fault] += 1
            return fault
        script = self.scripts.get(number)
        if script is not None and "outcome" in script:
            return str(script["outcome"])
        kinds, weights = _table(self.answer_weights)
        stream = self.dial_random if dialled else self.call_random
        return stream.choices(kinds, weights)[0]

    def talk_seconds(self, number: str) -> int:
        """How long the callee at ``number`` talks once a dialled leg is answered."""
        script = self.scripts.get(number) or {}
        seconds = script.get("talk_seconds", DEFAULT_TALK_SECONDS)
        return int(seconds) if isinstance(seconds, int | float) and seconds >= 0 else 0

    def digits(self, number: str) -> list[str]:
        """A fresh copy of what the callee at ``number`` keys in, one entry per Gather."""
        script = self.scripts.get(number) or {}
        return [str(entry) for entry in script.get("digits", [])]

    def update(self, change: Mapping[str, Any]) -> None:
        """Apply ``POST /_fake/faults``; a ValueError says what is wrong and changes nothing."""
        known = {"numbers", "clear", "transient_rate", "transient_weights", "answer_weights",
                 "shuffle_callbacks", "timeout_seconds"}  # fmt: skip
        unknown = set(change) - known
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}; known: {sorted(known)}")
        numbers = change.get("numbers", {})
        if not isinstance(numbers, dict):
            raise ValueError("numbers must be an object of number: fault (null removes)")
        for number, fault in numbers.items():
            if fault is not None and fault not in NUMBER_FAULTS:
                raise ValueError(f"unknown fault {fault!r} for {number}: {sorted(NUMBER_FAULTS)}")
        rate = change.get("transient_rate", self.transient_rate)
        if not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise ValueError("transient_rate must be a number within [0, 1]")
        transient_weights = _weights(change, "transient_weights", self.transient_weights)
        check_weights(transient_weights, TRANSIENT_KINDS, "transient_weights")
        answer_weights = _weights(change, "answer_weights", self.answer_weights)
        check_weights(answer_weights, CALL_OUTCOMES, "answer_weights")
        timeout = change.get("timeout_seconds", self.timeout_seconds)
        if not isinstance(timeout, int | float) or timeout < 0:
            raise ValueError("timeout_seconds must be a number >= 0")
        if change.get("clear"):
            self.numbers.clear()
        for number, fault in numbers.items():
            if fault is None:
                self.numbers.pop(number, None)
            else:
                self.numbers[number] = fault
        self.transient_rate = float(rate)
        self.transient_weights = transient_weights
        self._kinds, self._weights = _table(transient_weights)
        self.answer_weights = answer_weights
        self.timeout_seconds = float(timeout)
        self.shuffle_callbacks = bool(change.get("shuffle_callbacks", self.shuffle_callbacks))

    def add_scripts(self, scripts: Mapping[str, Any]) -> None:
        for number, script in scripts.items():
            if not isinstance(script, dict):
                raise ValueError(f"the script for {number} must be an object")
            outcome = script.get("outcome", "answered")
            if outcome not in CALL_OUTCOMES:
                raise ValueError(f"unknown outcome {outcome!r}: {list(CALL_OUTCOMES)}")
            digits = script.get("digits", [])
            if not isinstance(digits, list) or not all(isinstance(d, str) for d in digits):
                raise ValueError(f"digits for {number} must be a list of strings")
            talk = script.get("talk_seconds", DEFAULT_TALK_SECONDS)
            if isinstance(talk, bool) or not isinstance(talk, int) or talk < 0:
                raise ValueError(f"talk_seconds for {number} must be a whole number >= 0")
        for number, script in scripts.items():
            self.scripts[number] = {"outcome": script.get("outcome", "answered"), **script}

    def snapshot(self) -> dict[str, Any]:
        return {
            "numbers": dict(sorted(self.numbers.items())),
            "transient_rate": self.transient_rate,
            "transient_weights": self.transient_weights,
            "answer_weights": self.answer_weights,
            "shuffle_callbacks": self.shuffle_callbacks,
            "timeout_seconds": self.timeout_seconds,
            "scripts": self.scripts,
        }


def _weights(change: Mapping[str, Any], name: str, current: dict[str, float]) -> dict[str, float]:
    value = change.get(name, current)
    if not isinstance(value, dict) or not all(isinstance(w, int | float) for w in value.values()):
        raise ValueError(f"{name} must be an object of kind: weight")
    return {str(k): float(w) for k, w in value.items()}


def _table(weights: Mapping[str, float]) -> tuple[list[str], list[float]]:
    return list(weights), list(weights.values())
