"""Loads and validates the ethics policy (rules.json): categories and rules as data."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, cast

from engine.errors import DataError
from engine.ethics.detectors import DETECTORS
from engine.ethics.types import SEVERITIES, Severity

PROFANITY_DETECTOR = "profanity"


@dataclass(frozen=True, slots=True)
class Category:
    """A hazard category: stable code (S1..S14, PII, PROFANITY), name, recommendation.

    `recommendation` is advice to the agent; `user_note`, when present, is a
    sentence the default responder says to the user (e.g. crisis resources).
    """

    code: str
    name: str
    recommendation: str
    user_note: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """One policy rule: a regex `pattern` or a named `detector`, never both.

    A pattern rule is tried only where the lowercase text contains one of its
    `triggers` (literal substrings every alternative of the pattern contains),
    which keeps 18 case-insensitive regexes off the text most of the time.
    `examples` are texts the rule must fire on (checked by the tests).
    """

    id: str
    category: str
    severity: Severity
    explanation: str
    pattern: re.Pattern[str] | None
    detector: str | None
    redact_as: str | None
    triggers: tuple[str, ...]
    examples: tuple[str, ...]

    def triggered_by(self, lowercase_text: str) -> bool:
        """True when one of the triggers occurs in `lowercase_text`."""
        return any(trigger in lowercase_text for trigger in self.triggers)


@dataclass(frozen=True, slots=True)
class Policy:
    """The loaded policy: categories by code and rules in file order."""

    version: int
    categories: dict[str, Category]
    rules: tuple[Rule, ...]


def load_policy(text: str) -> Policy:
    """Parse and validate a rules document (the JSON text of rules.json)."""
    document = json.loads(text)
    categories = {}
    for entry in document["categories"]:
        note = entry.get("user_note")
        category = Category(
            str(entry["code"]),
            str(entry["name"]),
            str(entry["recommendation"]),
            None if note is None else str(note),
        )
        categories[category.code] = category
    rules = tuple(_parse_rule(entry, categories) for entry in document["rules"])
    ids = [rule.id for rule in rules]
    if len(set(ids)) != len(ids):
        raise DataError("rules.json: rule ids must be unique")
    return Policy(int(document["version"]), categories, rules)


def _parse_rule(entry: dict[str, Any], categories: dict[str, Category]) -> Rule:
    rule_id = str(entry.get("id", ""))
    if not rule_id:
        raise DataError("rules.json: a rule has no id")
    if entry.get("category") not in categories:
        raise DataError(f"rules.json: {rule_id}: unknown category {entry.get('category')!r}")
    if entry.get("severity") not in SEVERITIES:
        raise DataError(f"rules.json: {rule_id}: severity must be one of {SEVERITIES}")
    pattern, detector = entry.get("pattern"), entry.get("detector")
    if (pattern is None) == (detector is None):
        raise DataError(f"rules.json: {rule_id}: give exactly one of pattern or detector")
    if detector is not None and detector not in DETECTORS and detector != PROFANITY_DETECTOR:
        raise DataError(f"rules.json: {rule_id}: unknown detector {detector!r}")
    compiled = None
    if pattern is not None:
        flags = 0 if entry.get("case_sensitive", False) else re.IGNORECASE
        try:
            compiled = re.compile(str(pattern), flags)
        except re.error as error:
            raise DataError(f"rules.json: {rule_id}: bad pattern: {error}") from error
    triggers = tuple(str(t).lower() for t in entry.get("triggers", ()))
    if compiled is not None and not triggers:
        raise DataError(f"rules.json: {rule_id}: a pattern rule needs triggers")
    redact_as = entry.get("redact_as")
    return Rule(
        id=rule_id,
        category=str(entry["category"]),
        severity=cast(Severity, entry["severity"]),
        explanation=str(entry.get("explanation", "")),
        pattern=compiled,
        detector=None if detector is None else str(detector),
        redact_as=None if redact_as is None else str(redact_as),
        triggers=triggers,
        examples=tuple(str(e) for e in entry.get("examples", ())),
    )


POLICY = load_policy(resources.files("engine.ethics").joinpath("rules.json").read_text("utf-8"))
