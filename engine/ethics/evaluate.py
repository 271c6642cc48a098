"""Runs rules in context, detectors and the semantic layer over each segment; scores; decides."""

from __future__ import annotations

import re
from collections.abc import Sequence

from engine.config import EngineConfig
from engine.emotion import SentenceSentiment
from engine.ethics.confirm import confirm_lone_refusals
from engine.ethics.context import Framing, read_framing
from engine.ethics.contextual import contextual_findings
from engine.ethics.detectors import DETECTORS
from engine.ethics.feedback import Feedback, apply_feedback, describe_feedback
from engine.ethics.frameworks import SegmentTone, assess_tone, deontological, utilitarian, virtue
from engine.ethics.prefilter import checker, needed
from engine.ethics.profanity import ProfanityScore, score_profanity
from engine.ethics.rules import POLICY, PROFANITY_DETECTOR, Rule
from engine.ethics.semantic import SemanticGuard, SemanticMatch
from engine.ethics.static_findings import semantic_finding
from engine.ethics.types import SEVERITIES, EthicsResult, Severity, Violation
from engine.text import Segment, TextView, inside_quotes, split_segments
from engine.triggers import TriggeredItems

_DIGIT = re.compile(r"\d")
# Detectors run most specific first; a later detector's span that overlaps an
# earlier one is dropped (a card number is not also a phone number).
_DETECTOR_RULES = sorted(
    (rule for rule in POLICY.rules if rule.detector in DETECTORS),
    key=lambda rule: -SEVERITIES.index(rule.severity),
)
_PATTERN_RULES = tuple(rule for rule in POLICY.rules if rule.pattern is not None)
PATTERN_RULES = TriggeredItems(_PATTERN_RULES)
_NEEDED = {r.id: checker(needed(r.pattern)) for r in _PATTERN_RULES if r.pattern is not None}
_PROFANITY_RULES = tuple(rule for rule in POLICY.rules if rule.detector == PROFANITY_DETECTOR)
_NEEDS_DIGITS = frozenset({"phone", "payment_card", "iban", "ip_address", "us_ssn", "es_dni"})
_MAX_NOTES = 5


def assess_ethics(
    view: TextView,
    sentences: tuple[SentenceSentiment, ...],
    config: EngineConfig,
    guard: SemanticGuard | None = None,
    feedback: Sequence[Feedback] = (),
) -> EthicsResult:
    """Evaluate the analysed text against the policy; see `EthicsResult`.

    `guard` is the semantic layer (None: rules and detectors only, and the
    reasoning says so). `feedback` is the agent owner's active marks on past
    decisions (engine.ethics.feedback). The same function evaluates a
    responder's output: pass the output's view.
    """
    by_segment: list[list[Violation]] = []
    notes: list[str] = []
    tones: list[SegmentTone] = []
    candidates = PATTERN_RULES.by_segment(view)
    matches, nearest = _semantic(view.segments, guard)
    for segment, sentiment, match, rules in zip(
        view.segments, sentences, matches, candidates, strict=True
    ):
        profanity = score_profanity(segment.text, POLICY.profanity_ignores)
        in_segment = _scan_segment(segment, rules, profanity, config, notes)
        if match is not None:
            assert guard is not None
            in_segment.extend(semantic_finding(segment, match, in_segment, guard, notes))
        by_segment.append(in_segment)
        tones.append(
            assess_tone(
                segment.text,
                (t.lower for t in view.tokens_by_segment[segment.number]),
                segment.start,
                profanity.probability,
                sentiment.compound,
                config.profanity_threshold,
            )
        )
    contextual = _contextual(view, by_segment, nearest, guard, notes)
    violations = [v for in_segment in by_segment for v in in_segment]
    violations, applied = apply_feedback(view, violations, feedback, guard)
    found = tuple(sorted(violations, key=_violation_order))
    w_u, w_d, w_v = config.framework_weights.normalised()
    frameworks = (
        utilitarian(found, w_u),
        deontological(found, w_d),
        virtue(tuple(tones), w_v),
    )
    overall = max(0.0, min(1.0, sum(f.score * f.weight for f in frameworks)))
    reasons = _block_reasons(found, overall, config)
    reasoning = (
        f"Scanned {len(view.segments)} segment(s) with {len(_PATTERN_RULES)} pattern rules"
        f" (each read for its target, a request for means and its context),"
        f" {len(_DETECTOR_RULES)} validated detectors and the profanity classifier.",
        _describe_semantic(guard, matches),
        *contextual,
        _describe_findings(found),
        *((describe_feedback(feedback, applied),) if feedback else ()),
        *notes[:_MAX_NOTES],
        *(f.rationale for f in frameworks),
        f"Overall = {w_u:.2f}*U + {w_d:.2f}*D + {w_v:.2f}*V = {overall:.3f}.",
        ("Blocked: " + "; ".join(reasons) + ".")
        if reasons
        else f"Not blocked: score at or above the threshold {config.blocking_threshold:.2f}.",
    )
    return EthicsResult(
        overall_score=overall,
        frameworks=frameworks,
        violations=found,
        blocked=bool(reasons),
        block_reasons=reasons,
        recommendations=_recommendations(found, bool(reasons)),
        reasoning=reasoning,
        feedback_applied=applied,
    )


def redact(text: str, violations: Sequence[Violation]) -> str:
    """Replace every personal-data span with its placeholder, e.g. ``[EMAIL]``.

    Only violations with a `redact_as` label are replaced; overlapping spans
    keep the first (leftmost) one. Spans index into `text`.
    """
    spans = sorted((v.start, v.end, v.redact_as) for v in violations if v.redact_as is not None)
    pieces: list[str] = []
    position = 0
    for start, end, label in spans:
        if start < position or label is None:
            continue
        pieces.append(text[position:start])
        pieces.append(label)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def redact_personal_data(text: str, max_chars: int) -> str:
    """`text` cut to `max_chars`, its personal data replaced as `redact` does.

    The ethics stage's own detectors on the same segments, without its rules, classifier and
    scores: equal to redacting with `assess_ethics`'s violations, for a fraction of the work,
    for text that is stored but not judged (a request's context).
    """
    kept = text[:max_chars]
    return redact(kept, [v for segment in split_segments(kept) for v in _personal_data(segment)])


def _semantic(
    segments: tuple[Segment, ...], guard: SemanticGuard | None
) -> tuple[list[SemanticMatch | None], list[float]]:
    if guard is None:
        return [None] * len(segments), [-1.0] * len(segments)
    return guard.screen([segment.text for segment in segments])


def _contextual(
    view: TextView,
    by_segment: list[list[Violation]],
    nearest: list[float],
    guard: SemanticGuard | None,
    notes: list[str],
) -> tuple[str, ...]:
    """Run the guard's contextual stage, if it has one (it also confirms or lowers the lone
    refusals of the static layer and of doubted rules, engine.ethics.confirm); its line for
    the reasoning."""
    if guard is None or guard.contextual is None:
        return ()
    stage = guard.contextual
    checked, lowered, dropped = confirm_lone_refusals(stage, view.segments, by_segment, notes)
    read, added = contextual_findings(stage, view.segments, by_segment, nearest, notes, checked)
    return (
        f"Contextual stage ({stage.encoder.name}, flag at P(unsafe) >="
        f" {stage.head.flag_threshold:.2f}, refuse at >= {stage.head.refuse_threshold:.2f}):"
        f" read {read} of {len(view.segments)} segment(s), {added} finding(s); read {len(checked)}"
        f" more for a second opinion on a lone refusal, {lowered} not confirmed (flagged),"
        f" {dropped} read as safe (not counted).",
    )


def _scan_segment(
    segment: Segment,
    candidates: list[Rule],
    profanity: ProfanityScore,
    config: EngineConfig,
    notes: list[str],
) -> list[Violation]:
    found: list[Violation] = []
    text = segment.text
    framing: Framing | None = None
    # The regexes cannot match where their needed literals are missing (prefilter.py).
    lowercase = text.lower() if candidates and text.isascii() else None
    for rule in candidates:
        assert rule.pattern is not None
        if lowercase is not None and not _NEEDED[rule.id](lowercase):
            continue
        for match in rule.pattern.finditer(text):
            framing = framing or read_framing(text, POLICY)
            context = framing.voids(rule.void_in)
            if context is not None:
                cue = framing.contexts[context]
                notes.append(
                    f"Not counted: {rule.id} on {match.group()!r}, the sentence reads as"
                    f" {context} ({text[cue[0] : cue[1]]!r})."
                )
                continue
            severity = rule.severity
            if framing.means is not None and rule.severity_with_means is not None:
                severity = rule.severity_with_means
            found.append(_violation(rule, segment, match.start(), match.end(), 1.0, severity))
    found.extend(_personal_data(segment))
    if profanity.probability >= config.profanity_threshold:
        start, end = _strongest_term_span(text, profanity)
        for rule in _PROFANITY_RULES:
            found.append(
                _violation(rule, segment, start, end, profanity.probability, rule.severity)
            )
    return found


def _personal_data(segment: Segment) -> list[Violation]:
    """The validated personal-data detectors' findings in one segment."""
    text = segment.text
    has_digit = _DIGIT.search(text) is not None
    found: list[Violation] = []
    taken: list[tuple[int, int]] = []
    for rule in _DETECTOR_RULES:
        assert rule.detector is not None
        if rule.detector in _NEEDS_DIGITS and not has_digit:
            continue
        for start, end in DETECTORS[rule.detector](text):
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            taken.append((start, end))
            found.append(_violation(rule, segment, start, end, 1.0, rule.severity))
    return found


def _strongest_term_span(text: str, profanity: ProfanityScore) -> tuple[int, int]:
    """Span of the word that raised the classifier's score most, else the whole segment."""
    for word, _ in profanity.terms:
        match = re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE)
        if match:
            return match.span()
    return 0, len(text)


def _violation(
    rule: Rule, segment: Segment, start: int, end: int, confidence: float, severity: Severity
) -> Violation:
    category = POLICY.categories[rule.category]
    explanation = rule.explanation
    if rule.detector == PROFANITY_DETECTOR:
        explanation = f"{explanation} (probability {confidence:.2f})"
    return Violation(
        rule_id=rule.id,
        category=rule.category,
        category_name=category.name,
        severity=severity,
        start=segment.start + start,
        end=segment.start + end,
        matched_text=segment.text[start:end],
        explanation=explanation,
        confidence=confidence,
        reported=inside_quotes(segment.text, start),
        redact_as=rule.redact_as,
        mode=rule.mode,
    )


def _violation_order(violation: Violation) -> tuple[int, int, str]:
    return violation.start, violation.end, violation.rule_id


def _block_reasons(
    violations: tuple[Violation, ...], overall: float, config: EngineConfig
) -> tuple[str, ...]:
    reasons: list[str] = []
    if overall < config.blocking_threshold:
        reasons.append(
            f"overall ethical score {overall:.2f} is below the blocking threshold"
            f" {config.blocking_threshold:.2f}"
        )
    if config.block_on_critical:
        critical = dict.fromkeys(v.rule_id for v in violations if v.severity == "critical")
        reasons.extend(f"critical rule {rule_id} fired" for rule_id in critical)
    return tuple(reasons)


def _describe_semantic(guard: SemanticGuard | None, matches: list[SemanticMatch | None]) -> str:
    if guard is None:
        return "Semantic layer not run: no embedding model was passed, so rules only."
    hits = sum(1 for match in matches if match is not None)
    return (
        f"Semantic layer ({guard.embedder.name}, {len(guard.exemplars)} exemplars, threshold"
        f" {guard.threshold:.2f}, margin {guard.margin:.2f}): {hits} segment(s) matched."
    )


def _describe_findings(violations: tuple[Violation, ...]) -> str:
    if not violations:
        return "Found no violations."
    listed = ", ".join(f"{v.rule_id} ({v.severity})" for v in violations)
    return f"Found {len(violations)} violation(s): {listed}."


def _recommendations(violations: tuple[Violation, ...], blocked: bool) -> tuple[str, ...]:
    if not violations:
        return ("No rule or detector fired; answer normally.",)
    worst: dict[str, int] = {}
    for violation in violations:
        rank = SEVERITIES.index(violation.severity)
        worst[violation.category] = max(rank, worst.get(violation.category, -1))
    ordered = sorted(worst, key=lambda code: -worst[code])
    advice = [POLICY.categories[code].recommendation for code in ordered]
    if blocked:
        advice.insert(0, "Do not answer the request; say briefly why it was refused.")
    return tuple(advice)
