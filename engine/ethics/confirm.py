"""The contextual stage's second opinion on refusals that a weak signal alone would make.

Two signals cannot tell a homonym from a harmful request. The static layer averages word
vectors (WordLlama), so "choke a shotgun" sits near "choke someone"; and a rule reads "shoot"
+ a person as a request to shoot them, even in "how can I shoot my friend's wedding". On
text nothing was tuned on, such findings made most of the look-alikes the engine refused
(issue 17's fourth round, docs/engine-guard.md). So when the guard has a contextual stage,
a segment whose critical findings all come from such a signal is read by it too: a `SEM-`
finding, or a rule finding in a context its rule lists in `confirm_in` (rules.json: the
`other_sense` cues of photography, games and idioms). Each such finding stays critical when
the contextual model would itself flag the segment (P(unsafe) at or above the head's flag
threshold, chosen by cross-validation), and is lowered to high (flagged, not refused)
otherwise. Both must agree to refuse; either one alone still flags, unless the model reads
the segment as clearly safe: below the head's clear threshold (under which 1% of our harmful
rows score, by cross-validation) a doubted finding is not counted at all. Such findings made
most of the look-alikes our design rows flagged: "kill my Heroku dynos" near a self-harm
exemplar, "shoot people for street photography".

A segment's verdict depends on that segment alone, and the first MAX_CONFIRM such segments
are read in text order, so appending text never changes an earlier segment's findings (the
monotonicity property). Beyond the cap a finding stands unconfirmed. Without a contextual
stage nothing is lowered: the engine refuses as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from engine.ethics.context import read_framing
from engine.ethics.contextual import ContextualStage
from engine.ethics.rules import POLICY
from engine.ethics.static_findings import STATIC_PREFIX
from engine.ethics.types import Severity, Violation
from engine.text import Segment

MAX_CONFIRM = 4
UNCONFIRMED_SEVERITY: Severity = "high"
_CONFIRM_IN = {rule.id: rule.confirm_in for rule in POLICY.rules if rule.confirm_in}


def doubted(violation: Violation, contexts: Sequence[str]) -> str | None:
    """Why a critical finding needs a second opinion ("the static layer alone", or the
    context its rule names), or None when it stands on its own."""
    if violation.severity != "critical":
        return None
    if violation.rule_id.startswith(STATIC_PREFIX):
        return "the static layer alone"
    context = next((c for c in _CONFIRM_IN.get(violation.rule_id, ()) if c in contexts), None)
    return None if context is None else f"the sentence may read in another sense ({context})"


def needs_confirmation(in_segment: Sequence[Violation], contexts: Sequence[str]) -> bool:
    """True when the segment has a critical finding and every one of them is doubted."""
    critical = [v for v in in_segment if v.severity == "critical"]
    return bool(critical) and all(doubted(v, contexts) is not None for v in critical)


def _static_count(violations: Sequence[Violation]) -> int:
    return sum(v.rule_id.startswith(STATIC_PREFIX) for v in violations)


def confirm_lone_refusals(
    stage: ContextualStage,
    segments: Sequence[Segment],
    found: list[list[Violation]],
    notes: list[str],
) -> tuple[list[int], int, int]:
    """Read the segments that only doubted findings would refuse; in place, lower each
    unconfirmed one to UNCONFIRMED_SEVERITY, or drop it (with a note) where the model reads
    the segment as clearly safe. Returns (indexes of the segments read, findings lowered,
    findings dropped)."""
    contexts: dict[int, tuple[str, ...]] = {}
    for index, in_segment in enumerate(found):
        if len(contexts) == MAX_CONFIRM:
            break
        critical = [v for v in in_segment if v.severity == "critical"]
        ruled = [v for v in critical if v.rule_id in _CONFIRM_IN]
        if not critical or len(ruled) + _static_count(critical) < len(critical):
            continue  # nothing critical, or a finding no second opinion can lower
        # Only rules with `confirm_in` read contexts: read the framing for those alone.
        names = tuple(read_framing(segments[index].text, POLICY).contexts) if ruled else ()
        if needs_confirmation(in_segment, names):
            contexts[index] = names
    chosen = list(contexts)
    probabilities = stage.unsafe_probability([segments[i].text for i in chosen])
    threshold, clear = stage.head.flag_threshold, stage.head.clear_threshold
    lowered = dropped = 0
    for index, unsafe in zip(chosen, probabilities, strict=True):
        confirmed = unsafe >= threshold
        updated: list[Violation] = []
        for violation in found[index]:
            why = doubted(violation, contexts[index])
            if why is not None and unsafe < clear:
                notes.append(
                    f"Not counted: {violation.rule_id} on {violation.matched_text!r}, doubted"
                    f" ({why}) and read as safe by the contextual model: P(unsafe)"
                    f" {unsafe:.4f}, below its clear threshold {clear:.4f}."
                )
                dropped += 1
                continue
            if why is not None:
                violation = _judged(violation, why, confirmed, unsafe, threshold, stage)
                lowered += 0 if confirmed else 1
            updated.append(violation)
        found[index] = updated
    return chosen, lowered, dropped


def _judged(
    violation: Violation,
    why: str,
    confirmed: bool,
    unsafe: float,
    threshold: float,
    stage: ContextualStage,
) -> Violation:
    model = f"the contextual model ({stage.encoder.name})"
    if confirmed:
        verdict = (
            f" Refused on {why}, confirmed by {model}: P(unsafe) {unsafe:.4f}, at or above"
            f" its flag threshold {threshold:.4f}."
        )
        return replace(violation, explanation=violation.explanation + verdict)
    verdict = (
        f" Not confirmed by {model}: P(unsafe) {unsafe:.4f}, below its flag threshold"
        f" {threshold:.4f}; on {why}, flagged, not refused."
    )
    return replace(
        violation, severity=UNCONFIRMED_SEVERITY, explanation=violation.explanation + verdict
    )
