"""Loads and validates the ethics policy (rules.json): categories, lexicon, contexts, rules."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal, cast

from engine.errors import DataError
from engine.ethics.detectors import DETECTORS
from engine.ethics.types import SEVERITIES, Severity

PROFANITY_DETECTOR = "profanity"
Mode = Literal["means", "intent", "mention", "detector"]
MODES: tuple[Mode, ...] = ("means", "intent", "mention", "detector")
_SLOT = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True, slots=True)
class Category:
    """A hazard category: stable code (S1..S14, PII, PROFANITY), name, recommendation.

    `recommendation` is advice to the agent; `user_note`, when present, is a
    sentence the default responder says to the user (e.g. crisis resources).
    `semantic_severity` is the severity a semantic-layer match in this category gets.
    """

    code: str
    name: str
    recommendation: str
    user_note: str | None = None
    semantic_severity: Severity = "medium"


@dataclass(frozen=True, slots=True)
class Context:
    """A framing of a segment (safety-seeking, fiction, history, definition) found by cue regex.

    Rules whose `void_in` names the context do not count in a segment that has it:
    "how do I help a friend who wants to kill herself" is safety-seeking, not a request.
    """

    name: str
    pattern: re.Pattern[str]
    triggers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    """One policy rule: a regex `pattern` or a named `detector`, never both.

    A pattern rule is tried only where the lowercase text contains one of its
    `triggers` (literal substrings every alternative of the pattern contains).
    `mode` says what the match is: a request for means, a statement of intent,
    a mention, or a detector finding. `void_in` lists the contexts in which it
    does not count. When the segment also asks for means (the lexicon's `means`
    cue) and `severity_with_means` is set, the finding gets that severity.
    `examples` must fire the rule and `counter_examples` must not (the tests check both).
    `confirm_in` lists contexts in which a critical finding of the rule needs the contextual
    model's second opinion to refuse (engine.ethics.confirm): "shoot my friend's wedding"
    reads the verb in another sense, a photographer's.
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
    mode: Mode = "mention"
    void_in: tuple[str, ...] = ()
    severity_with_means: Severity | None = None
    counter_examples: tuple[str, ...] = ()
    confirm_in: tuple[str, ...] = ()

    def triggered_by(self, lowercase_text: str) -> bool:
        """True when one of the triggers occurs in `lowercase_text`."""
        return any(trigger in lowercase_text for trigger in self.triggers)


@dataclass(frozen=True, slots=True)
class Policy:
    """The loaded policy: categories, rules in file order, the means cue and the contexts.

    `mode_contexts` maps a mode to the contexts where its rules do not count;
    `profanity_ignores` are words the profanity classifier is not shown, with their
    regular inflections (`inflections`).
    """

    version: int
    categories: dict[str, Category]
    rules: tuple[Rule, ...]
    means: re.Pattern[str]
    contexts: tuple[Context, ...]
    mode_contexts: dict[str, tuple[str, ...]]
    profanity_ignores: frozenset[str] = frozenset()


def load_policy(text: str) -> Policy:
    """Parse and validate a rules document (the JSON text of rules.json).

    Patterns may name lexicon entries as `{slot}`; each is replaced by the
    entry's regex (a non-capturing group) before compiling.
    """
    document = json.loads(text)
    categories = {}
    for entry in document["categories"]:
        note = entry.get("user_note")
        semantic = entry.get("semantic_severity", "medium")
        if semantic not in SEVERITIES:
            raise DataError(f"rules.json: {entry.get('code')}: bad semantic_severity")
        category = Category(
            str(entry["code"]),
            str(entry["name"]),
            str(entry["recommendation"]),
            None if note is None else str(note),
            cast(Severity, semantic),
        )
        categories[category.code] = category
    lexicon = {str(k): str(v) for k, v in document.get("lexicon", {}).items()}
    contexts = tuple(
        Context(
            str(entry["name"]),
            _compile(str(entry["pattern"]), lexicon, f"context {entry['name']}", re.IGNORECASE),
            tuple(str(t).lower() for t in entry["triggers"]),
        )
        for entry in document.get("contexts", ())
    )
    defaults = {str(k): tuple(str(c) for c in v) for k, v in document.get("modes", {}).items()}
    names = {context.name for context in contexts}
    for mode, voided in defaults.items():
        if mode not in (*MODES, "semantic") or not set(voided) <= names:
            raise DataError(f"rules.json: modes.{mode}: unknown mode or contexts {voided}")
    rules = tuple(
        _parse_rule(entry, categories, lexicon, defaults, names) for entry in document["rules"]
    )
    ids = [rule.id for rule in rules]
    if len(set(ids)) != len(ids):
        raise DataError("rules.json: rule ids must be unique")
    means = _compile(lexicon.get("means", r"(?!x)x"), lexicon, "lexicon means", re.IGNORECASE)
    ignores = frozenset(
        form
        for word in document.get("profanity_ignores", ())
        for form in inflections(str(word).lower())
    )
    return Policy(int(document["version"]), categories, rules, means, contexts, defaults, ignores)


def inflections(word: str) -> tuple[str, ...]:
    """`word`, its regular inflections and agent nouns: kill -> kills, killed, killing,
    killer, killers; smoke -> smokes, smoked, smoking; crush -> crushes. A form that is
    not English ("deaded") costs nothing in an ignore list; irregular ones (shot, dying)
    are listed apart."""
    stem = word[:-1] if word.endswith("e") else word
    plural = word + "es" if word.endswith(("s", "sh", "ch", "x")) else word + "s"
    return (word, plural, stem + "ed", stem + "ing", stem + "er", stem + "ers")


def _compile(pattern: str, lexicon: dict[str, str], where: str, flags: int) -> re.Pattern[str]:
    def expand(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in lexicon:
            raise DataError(f"rules.json: {where}: unknown lexicon entry {{{name}}}")
        return "(?:" + _SLOT.sub(expand, lexicon[name]) + ")"

    try:
        return re.compile(_SLOT.sub(expand, pattern), flags)
    except re.error as error:
        raise DataError(f"rules.json: {where}: bad pattern: {error}") from error


def _parse_rule(
    entry: dict[str, Any],
    categories: dict[str, Category],
    lexicon: dict[str, str],
    defaults: dict[str, tuple[str, ...]],
    contexts: set[str],
) -> Rule:
    rule_id = str(entry.get("id", ""))
    if not rule_id:
        raise DataError("rules.json: a rule has no id")
    if entry.get("category") not in categories:
        raise DataError(f"rules.json: {rule_id}: unknown category {entry.get('category')!r}")
    for key in ("severity", "severity_with_means"):
        if key in entry and entry[key] not in SEVERITIES:
            raise DataError(f"rules.json: {rule_id}: {key} must be one of {SEVERITIES}")
    if "severity" not in entry:
        raise DataError(f"rules.json: {rule_id}: severity is required")
    pattern, detector = entry.get("pattern"), entry.get("detector")
    if (pattern is None) == (detector is None):
        raise DataError(f"rules.json: {rule_id}: give exactly one of pattern or detector")
    if detector is not None and detector not in DETECTORS and detector != PROFANITY_DETECTOR:
        raise DataError(f"rules.json: {rule_id}: unknown detector {detector!r}")
    mode = entry.get("mode", "detector" if detector is not None else "mention")
    if mode not in MODES:
        raise DataError(f"rules.json: {rule_id}: mode must be one of {MODES}")
    void_in = tuple(str(c) for c in entry.get("void_in", defaults.get(mode, ())))
    confirm_in = tuple(str(c) for c in entry.get("confirm_in", ()))
    if unknown := (set(void_in) | set(confirm_in)) - contexts:
        raise DataError(f"rules.json: {rule_id}: unknown contexts {sorted(unknown)}")
    compiled = None
    if pattern is not None:
        flags = 0 if entry.get("case_sensitive", False) else re.IGNORECASE
        compiled = _compile(str(pattern), lexicon, rule_id, flags)
    triggers = tuple(str(t).lower() for t in entry.get("triggers", ()))
    if compiled is not None and not triggers:
        raise DataError(f"rules.json: {rule_id}: a pattern rule needs triggers")
    redact_as = entry.get("redact_as")
    with_means = entry.get("severity_with_means")
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
        mode=cast(Mode, mode),
        void_in=void_in,
        severity_with_means=None if with_means is None else cast(Severity, with_means),
        counter_examples=tuple(str(e) for e in entry.get("counter_examples", ())),
        confirm_in=confirm_in,
    )


POLICY = load_policy(resources.files("engine.ethics").joinpath("rules.json").read_text("utf-8"))
