"""An agent owner's feedback on past ethics decisions, applied to later evaluations.

The owner marks a stored decision as a false positive (the stage flagged or refused what it
should have answered) or a false negative (it answered what it should have flagged, in a
hazard category the owner names). The server keeps the marks and passes an agent's active
ones in; the engine applies them here, with no I/O:

- a false negative's text is a harmful exemplar of its category: a segment (or the whole
  text) that equals it, or that reads like it (cosine similarity at least
  FEEDBACK_SIMILARITY through the semantic guard's embedder), gets a violation
  `FB-<code>` at the category's semantic severity, unless a finding of that category
  already covers it;
- a false positive's text is a benign exemplar: in a segment (or the whole text) that equals
  it or reads like it, the findings of the rules that fired on the marked decision are not
  counted. Personal-data findings always count: they decide what is redacted.

Bounded: at most MAX_FEEDBACK entries, each compared through its first MAX_FEEDBACK_CHARS
characters, at a similarity stricter than the shipped exemplars' threshold (one owner's
example stands for less than a curated set). Without a guard only equal texts (compared
case- and whitespace-insensitively) match. Deterministic: entries apply in the order given
(false negatives first), similarities are rounded to 4 decimals, ties go to the first unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from engine.ethics.rules import POLICY
from engine.ethics.semantic import SemanticGuard
from engine.ethics.types import Violation
from engine.text import TextView

FeedbackKind = Literal["false_positive", "false_negative"]
FALSE_POSITIVE: FeedbackKind = "false_positive"
FALSE_NEGATIVE: FeedbackKind = "false_negative"
MAX_FEEDBACK = 50
MAX_FEEDBACK_CHARS = 1000
FEEDBACK_SIMILARITY = 0.75
RULE_PREFIX = "FB-"
_DECIMALS = 4
# Categories a false negative may name: the hazard categories, not the detectors' own.
HAZARD_CATEGORIES = tuple(
    code
    for code in POLICY.categories
    if code not in {rule.category for rule in POLICY.rules if rule.detector is not None}
)


@dataclass(frozen=True, slots=True)
class Feedback:
    """One active mark: its id, kind, the marked input's text, and for a false negative the
    category it should have got, for a false positive the rule ids that fired on it."""

    id: str
    kind: FeedbackKind
    text: str
    category: str | None = None
    rule_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AppliedFeedback:
    """A mark that matched part of the evaluated text: where, how closely, what it changed.

    `similarity` is 1 for an equal text, else the cosine similarity in [FEEDBACK_SIMILARITY,
    1]; `rule_ids` are the findings it added (false negative) or did not count (false
    positive); empty when it matched but changed nothing.
    """

    feedback_id: str
    kind: FeedbackKind
    start: int
    end: int
    similarity: float
    rule_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Unit:
    text: str
    start: int
    end: int


def apply_feedback(
    view: TextView,
    violations: Sequence[Violation],
    feedback: Sequence[Feedback],
    guard: SemanticGuard | None,
) -> tuple[list[Violation], tuple[AppliedFeedback, ...]]:
    """`violations` with the feedback applied (see the module docstring), and what applied."""
    entries = sorted(feedback[:MAX_FEEDBACK], key=lambda f: f.kind != FALSE_NEGATIVE)
    units = _units(view)
    if not entries or not units:
        return list(violations), ()
    scores = _similarities(units, entries, guard)
    found = list(violations)
    applied: list[AppliedFeedback] = []
    for column, entry in enumerate(entries):
        matched = [row for row in range(len(units)) if scores[row][column] >= FEEDBACK_SIMILARITY]
        if not matched:
            continue
        if entry.kind == FALSE_NEGATIVE:
            row = max(matched, key=lambda r: (scores[r][column], -r))
            unit, similarity = units[row], scores[row][column]
            added = _missed(entry, unit, similarity, found)
            found.extend(added)
            applied.append(
                AppliedFeedback(
                    entry.id,
                    entry.kind,
                    unit.start,
                    unit.end,
                    similarity,
                    tuple(v.rule_id for v in added),
                )
            )
            continue
        for row in matched:
            unit = units[row]
            waived = [v for v in found if _waives(entry, unit, v)]
            found = [v for v in found if v not in waived]
            applied.append(
                AppliedFeedback(
                    entry.id,
                    entry.kind,
                    unit.start,
                    unit.end,
                    scores[row][column],
                    tuple(dict.fromkeys(v.rule_id for v in waived)),
                )
            )
    return found, tuple(applied)


def describe_feedback(feedback: Sequence[Feedback], applied: Sequence[AppliedFeedback]) -> str:
    """One reasoning line: how many of the agent's marks applied, and what each changed."""
    total = min(len(feedback), MAX_FEEDBACK)
    if not applied:
        return f"Feedback: none of the agent's {total} mark(s) matched this text."
    parts = []
    for item in applied:
        kind = item.kind.replace("_", " ")
        if not item.rule_ids:
            effect = "changed nothing"
        elif item.kind == FALSE_NEGATIVE:
            effect = "added " + ", ".join(item.rule_ids)
        else:
            effect = "did not count " + ", ".join(item.rule_ids)
        parts.append(
            f"{kind} {item.feedback_id} on [{item.start}, {item.end}) (similarity"
            f" {item.similarity:.2f}) {effect}"
        )
    return f"Feedback: {len(applied)} match(es) of the agent's {total} mark(s): " + "; ".join(parts)


def _units(view: TextView) -> list[_Unit]:
    """The segments, plus the whole text when it has several (a mark may span them)."""
    units = [_Unit(s.text, s.start, s.end) for s in view.segments]
    if len(units) > 1:
        units.append(
            _Unit(view.text[units[0].start : units[-1].end], units[0].start, units[-1].end)
        )
    return units


def _normalised(text: str) -> str:
    return " ".join(text[:MAX_FEEDBACK_CHARS].casefold().split())


def _similarities(
    units: list[_Unit], entries: list[Feedback], guard: SemanticGuard | None
) -> list[list[float]]:
    """Unit-by-entry similarities: 1 for equal texts, else the guard's cosine (or 0)."""
    marked = [_normalised(e.text) for e in entries]
    texts = [_normalised(u.text) for u in units]
    exact = [[1.0 if text == m else 0.0 for m in marked] for text in texts]
    if guard is None:
        return exact
    vectors = guard.embedder.embed(
        [u.text for u in units] + [e.text[:MAX_FEEDBACK_CHARS] for e in entries]
    )
    cosine = np.round(vectors[: len(units)] @ vectors[len(units) :].T, _DECIMALS)
    return [
        [max(exact[r][c], round(float(cosine[r, c]), _DECIMALS)) for c in range(len(entries))]
        for r in range(len(units))
    ]


def _missed(
    entry: Feedback, unit: _Unit, similarity: float, found: list[Violation]
) -> list[Violation]:
    """The violation a false negative adds over `unit`, unless its category is already there."""
    code = entry.category
    if code is None or code not in POLICY.categories:
        return []
    if any(v.category == code and v.start < unit.end and unit.start < v.end for v in found):
        return []
    category = POLICY.categories[code]
    return [
        Violation(
            rule_id=f"{RULE_PREFIX}{code}",
            category=code,
            category_name=category.name,
            severity=category.semantic_severity,
            start=unit.start,
            end=unit.end,
            matched_text=unit.text,
            explanation=(
                f"The agent's owner marked a decision on a text like this one as a missed"
                f" {category.name.lower()} case (feedback {entry.id}, similarity"
                f" {similarity:.2f})."
            ),
            confidence=similarity,
            reported=False,
            redact_as=None,
            mode="feedback",
            similarity=similarity,
            exemplar=entry.text[:MAX_FEEDBACK_CHARS],
        )
    ]


def _waives(entry: Feedback, unit: _Unit, violation: Violation) -> bool:
    """True when a false positive does not count `violation`: one of its rules, inside the
    matched unit, and not personal data."""
    return (
        violation.rule_id in entry.rule_ids
        and violation.redact_as is None
        and unit.start <= violation.start
        and violation.end <= unit.end
    )
