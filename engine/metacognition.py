"""Meta-cognition stage: cognitive load, cognitive-bias markers and reflective passes over them.

Bias markers are phrasings typical of the cognitive distortions of cognitive
behavioural therapy (Beck 1976; Burns 1980, "Feeling Good"), matched by the
patterns in engine/data/cognitive_distortions.json. They are heuristics: a
marker shows wording, not a diagnosis. Each reflective pass re-examines what
the previous pass left and records what it changed (possibly nothing, when
there was nothing to change).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from importlib import resources

from engine.config import EngineConfig
from engine.consistency import find_conflicts
from engine.emotion import EmotionResult
from engine.ethics.types import EthicsResult
from engine.lexicons import is_negated
from engine.readability import Readability, cognitive_load, measure_readability
from engine.text import TextView, inside_quotes
from engine.triggers import TriggeredItems

FIGURATIVE_PRONE = frozenset({"catastrophising", "overgeneralisation", "black_and_white"})
POSITIVE_COMPOUND = 0.5


@dataclass(frozen=True, slots=True)
class Distortion:
    """One distortion from the data file with its compiled patterns."""

    id: str
    name: str
    explanation: str
    patterns: tuple[re.Pattern[str], ...]
    triggers: tuple[str, ...]
    examples: tuple[str, ...]

    def triggered_by(self, lowercase_text: str) -> bool:
        """True when one of the triggers (literal substrings) occurs in the text."""
        return any(trigger in lowercase_text for trigger in self.triggers)


@dataclass(frozen=True, slots=True)
class BiasMarker:
    """A phrasing typical of a cognitive distortion, with its span.

    `confidence` in [0, 1] is 1.0 for a plain match and 0.5 once a reflective
    pass found a reason to doubt it (e.g. inside a strongly positive sentence).
    """

    distortion: str
    name: str
    start: int
    end: int
    matched_text: str
    explanation: str
    confidence: float


@dataclass(frozen=True, slots=True)
class ReflectivePass:
    """One reflective pass: what it examined and the changes it made."""

    index: int
    name: str
    examined: str
    changes: tuple[str, ...]
    markers_after: int


@dataclass(frozen=True, slots=True)
class StrategyEvaluation:
    """How well the lexicon-and-pattern strategy fitted this input.

    `lexicon_coverage` in [0, 1] is the share of words found in the sentiment
    or emotion lexicons; `passes_with_changes` counts passes that changed
    something.
    """

    strategy: str
    lexicon_coverage: float
    passes_run: int
    passes_with_changes: int
    assessment: str


@dataclass(frozen=True, slots=True)
class MetacognitionResult:
    """The meta-cognition stage's output; `cognitive_load` is in [0, 1]."""

    cognitive_load: float
    readability: Readability
    bias_markers: tuple[BiasMarker, ...]
    depth: int
    passes: tuple[ReflectivePass, ...]
    weak_conclusions: tuple[str, ...]
    strategy: StrategyEvaluation


def _load_distortions() -> tuple[Distortion, ...]:
    source = resources.files("engine.data").joinpath("cognitive_distortions.json")
    document = json.loads(source.read_text(encoding="utf-8"))
    return tuple(
        Distortion(
            str(entry["id"]),
            str(entry["name"]),
            str(entry["explanation"]),
            tuple(re.compile(str(p), re.IGNORECASE) for p in entry["patterns"]),
            tuple(str(t).lower() for t in entry["triggers"]),
            tuple(str(e) for e in entry.get("examples", ())),
        )
        for entry in document["distortions"]
    )


DISTORTIONS = _load_distortions()
TRIGGERED_DISTORTIONS = TriggeredItems(DISTORTIONS)


def assess_metacognition(
    view: TextView, emotion: EmotionResult, ethics: EthicsResult, config: EngineConfig
) -> MetacognitionResult:
    """Run detection and `config.metacognition_depth` reflective passes (1..5)."""
    markers = detect_markers(view)
    passes = [
        ReflectivePass(
            1,
            "detect",
            "bias patterns over every segment",
            (f"found {len(markers)} candidate marker(s)",),
            len(markers),
        )
    ]
    weak: tuple[str, ...] = ()
    steps = (_pass_context, _pass_consistency, _pass_merge)
    for index in range(2, config.metacognition_depth + 1):
        if index <= 4:
            markers, record = steps[index - 2](index, markers, view, emotion, ethics)
        else:
            weak, record = _pass_evidence(index, markers, emotion, ethics)
        passes.append(record)
    readability = measure_readability(view)
    changed = sum(1 for p in passes[1:] if p.changes)
    return MetacognitionResult(
        cognitive_load=cognitive_load(readability),
        readability=readability,
        bias_markers=markers,
        depth=len(passes),
        passes=tuple(passes),
        weak_conclusions=weak,
        strategy=_evaluate_strategy(view, emotion, len(passes), changed),
    )


def detect_markers(view: TextView) -> tuple[BiasMarker, ...]:
    """Pass 1: every pattern match in every segment, ordered by position."""
    found = []
    for segment, candidates in zip(
        view.segments, TRIGGERED_DISTORTIONS.by_segment(view), strict=True
    ):
        for distortion in candidates:
            for pattern in distortion.patterns:
                for match in pattern.finditer(segment.text):
                    found.append(
                        BiasMarker(
                            distortion.id,
                            distortion.name,
                            segment.start + match.start(),
                            segment.start + match.end(),
                            match.group(),
                            distortion.explanation,
                            1.0,
                        )
                    )
    return tuple(sorted(found, key=lambda m: (m.start, m.end, m.distortion)))


_Markers = tuple[BiasMarker, ...]


def _pass_context(
    index: int, markers: _Markers, view: TextView, emotion: EmotionResult, ethics: EthicsResult
) -> tuple[_Markers, ReflectivePass]:
    """Pass 2: drop markers that are negated ("not always") or quoted (reported speech)."""
    kept, changes = [], []
    for marker in markers:
        segment = view.segment_at(marker.start)
        before = tuple(
            t.lower for t in view.tokens_by_segment[segment.number] if t.end <= marker.start
        )
        if is_negated(before):
            changes.append(f"dropped {marker.distortion} '{marker.matched_text}': negated")
        elif inside_quotes(segment.text, marker.start - segment.start):
            changes.append(f"dropped {marker.distortion} '{marker.matched_text}': quoted")
        else:
            kept.append(marker)
    record = ReflectivePass(
        index,
        "context re-check",
        "negation and quotation around each marker",
        tuple(changes),
        len(kept),
    )
    return tuple(kept), record


def _pass_consistency(
    index: int, markers: _Markers, view: TextView, emotion: EmotionResult, ethics: EthicsResult
) -> tuple[_Markers, ReflectivePass]:
    """Pass 3: check markers and stages against each other.

    Catastrophising, overgeneralisation and all-or-nothing wording inside a
    strongly positive sentence (compound >= 0.5) is often figurative ("always
    happy to help"), so its confidence is halved; stage conflicts are noted.
    """
    updated, changes = [], []
    for marker in markers:
        sentence = emotion.sentences[view.segment_at(marker.start).number]
        doubtful = marker.distortion in FIGURATIVE_PRONE and sentence.compound >= POSITIVE_COMPOUND
        if doubtful and marker.confidence > 0.5:
            marker = replace(marker, confidence=0.5)
            changes.append(
                f"downgraded {marker.distortion} '{marker.matched_text}': sentence is positive"
                f" ({sentence.compound:+.2f})"
            )
        updated.append(marker)
    changes.extend(f"noted conflict {c.code}" for c in find_conflicts(emotion, ethics))
    record = ReflectivePass(
        index,
        "cross-stage consistency",
        "markers against sentence valence; emotion vs ethics",
        tuple(changes),
        len(updated),
    )
    return tuple(updated), record


def _pass_merge(
    index: int, markers: _Markers, view: TextView, emotion: EmotionResult, ethics: EthicsResult
) -> tuple[_Markers, ReflectivePass]:
    """Pass 4: merge overlapping markers of the same distortion into one."""
    merged: list[BiasMarker] = []
    changes = []
    for marker in markers:
        previous = next(
            (m for m in merged if m.distortion == marker.distortion and marker.start < m.end), None
        )
        if previous is None:
            merged.append(marker)
            continue
        changes.append(f"merged overlapping {marker.distortion} '{marker.matched_text}'")
    record = ReflectivePass(
        index,
        "merge duplicates",
        "overlapping markers of the same distortion",
        tuple(changes),
        len(merged),
    )
    return tuple(merged), record


def _pass_evidence(
    index: int, markers: _Markers, emotion: EmotionResult, ethics: EthicsResult
) -> tuple[tuple[str, ...], ReflectivePass]:
    """Pass 5: mark conclusions that rest on a single piece of weak evidence."""
    weak = []
    counted = [t for t in emotion.evidence if t.emotions and not t.negated]
    if emotion.dominant_emotion is not None and len(counted) < 2:
        weak.append(f"dominant emotion {emotion.dominant_emotion} rests on one word")
    for distortion in dict.fromkeys(m.distortion for m in markers):
        mine = [m for m in markers if m.distortion == distortion]
        if all(m.confidence < 1.0 for m in mine):
            weak.append(f"{distortion} rests only on doubted markers")
    for violation in ethics.violations:
        if violation.confidence < 0.75:
            weak.append(
                f"{violation.rule_id} at {violation.start}-{violation.end} has confidence"
                f" {violation.confidence:.2f}"
            )
    record = ReflectivePass(
        index,
        "evidence sufficiency",
        "the evidence behind each conclusion",
        tuple(f"marked weak: {w}" for w in weak),
        len(markers),
    )
    return tuple(weak), record


def _evaluate_strategy(
    view: TextView, emotion: EmotionResult, passes_run: int, changed: int
) -> StrategyEvaluation:
    coverage = emotion.lexicon_coverage
    if not view.tokens:
        verdict = "There was no text to analyse, so no strategy applied."
    elif coverage < 0.05:
        verdict = "Few words were in the lexicons, so the emotion and tone readings rest on little."
    else:
        verdict = "The lexicons covered enough words for the readings to rest on evidence."
    assessment = (
        f"Lexicon and pattern matching covered {coverage:.0%} of {len(view.tokens)} words;"
        f" {changed} of {passes_run - 1} reflective pass(es) after detection changed the findings."
        f" {verdict} The strategy is blind to sarcasm, paraphrase and languages other than English."
    )
    return StrategyEvaluation(
        "lexicon and pattern matching with reflective re-checks",
        coverage,
        passes_run,
        changed,
        assessment,
    )
