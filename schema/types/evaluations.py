"""The engine's evaluation of a text (emotion, ethics, self-awareness, metacognition), as
GraphQL types.

Field names match the engine's result dataclasses, so the schema returns those directly.
Every number's meaning and range is documented in engine/ and repeated in the descriptions.
"""

from __future__ import annotations

import uuid
from enum import Enum

import strawberry


@strawberry.enum(description="How grave a violation is.")
class Severity(Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@strawberry.enum(description="What the engine did with the input.")
class Decision(Enum):
    ANSWERED = "ANSWERED"
    FLAGGED = "FLAGGED"
    REFUSED = "REFUSED"


@strawberry.input
class AnalysisInput:
    text: str = strawberry.field(description="The text to analyse.")
    agent_id: uuid.UUID | None = strawberry.field(
        default=None, description="Evaluate with this agent's configuration (yours only)."
    )


@strawberry.type(description="A lexicon term found in the input, with its character span.")
class EvidenceTerm:
    term: str
    start: int
    end: int
    valence: float | None = strawberry.field(description="VADER lexicon valence of the term.")
    emotions: list[str]
    negated: bool


@strawberry.type(description="Scores in [0, 1] for the eight basic emotions (NRC lexicon).")
class EmotionScores:
    joy: float
    trust: float
    fear: float
    surprise: float
    sadness: float
    disgust: float
    anger: float
    anticipation: float


@strawberry.type(description="VADER compound score of one sentence, in [-1, 1].")
class SentenceSentiment:
    start: int
    end: int
    compound: float


@strawberry.type
class EmotionalState:
    valence: float = strawberry.field(description="[-1, 1]: VADER compound over sentences.")
    arousal: float = strawberry.field(description="[0, 1]: intensity of the text.")
    emotions: EmotionScores
    dominant_emotion: str | None
    sentences: list[SentenceSentiment]
    evidence: list[EvidenceTerm]
    lexicon_coverage: float = strawberry.field(description="[0, 1]: share of words known.")


@strawberry.type(description="A rule or detector that matched, with its span in the input.")
class Violation:
    rule_id: str
    category: str = strawberry.field(
        description="MLCommons hazard code (S1…S14), PII or PROFANITY."
    )
    category_name: str
    severity: Severity
    start: int
    end: int
    matched_text: str
    explanation: str
    confidence: float


@strawberry.type(description="One ethical framework's score in [0, 1] (1 = no concern).")
class FrameworkScore:
    framework: str
    score: float
    weight: float
    rationale: str


@strawberry.enum(description="What an owner's mark says the ethics decision got wrong.")
class FeedbackKind(Enum):
    FALSE_POSITIVE = "false_positive"
    FALSE_NEGATIVE = "false_negative"


@strawberry.type(description="An owner's feedback mark that matched part of the evaluated text.")
class AppliedFeedback:
    feedback_id: uuid.UUID
    kind: FeedbackKind
    start: int
    end: int
    similarity: float = strawberry.field(
        description="1 for an equal text, else the cosine similarity to the marked text."
    )
    rule_ids: list[str] = strawberry.field(
        description="Findings it added (false negative) or did not count (false positive)."
    )


@strawberry.type
class EthicalEvaluation:
    overall_score: float = strawberry.field(description="[0, 1]: weighted framework scores.")
    frameworks: list[FrameworkScore]
    violations: list[Violation]
    blocked: bool
    block_reasons: list[str]
    recommendations: list[str]
    reasoning: list[str]
    feedback_applied: list[AppliedFeedback] = strawberry.field(
        description="The agent owner's feedback marks that matched this text (with agentId)."
    )


@strawberry.type(description="A matched span and the ethical verdict without it.")
class SpanAttribution:
    start: int
    end: int
    matched_text: str
    rule_ids: list[str]
    score_without: float = strawberry.field(
        description="[0, 1]: the overall score with this span blanked."
    )
    score_change: float = strawberry.field(
        description="scoreWithout minus the overall score: this span's share of the harm."
    )
    blocked_without: bool = strawberry.field(
        description="Whether the input would still be blocked without this span."
    )


@strawberry.type(
    description="Experimental: leave-one-out attribution of the ethical verdict to the spans "
    "that rules and detectors matched (one extra ethics pass per span)."
)
class EthicalAttribution:
    ethics: EthicalEvaluation
    spans: list[SpanAttribution] = strawberry.field(
        description="The 16 most severe spans at most, largest scoreChange first."
    )
    omitted_spans: int = strawberry.field(description="Spans beyond the 16, not attributed.")


@strawberry.type(description="A limitation that applied to this input.")
class Limitation:
    code: str
    message: str
    penalty: float = strawberry.field(description="How much it lowered confidence.")


@strawberry.type
class SelfAwareness:
    confidence: float = strawberry.field(description="[0, 1]: 1 minus the limitation penalties.")
    limitations: list[Limitation]
    decision: Decision
    reflection: str


@strawberry.type(description="A cognitive-distortion pattern found in the input (heuristic).")
class BiasMarker:
    distortion: str
    name: str
    start: int
    end: int
    matched_text: str
    explanation: str
    confidence: float


@strawberry.type(description="One reflective pass over the previous pass's findings.")
class ReflectivePass:
    index: int
    name: str
    examined: str
    changes: list[str]
    markers_after: int


@strawberry.type
class Readability:
    words: int
    sentences: int
    syllables: int
    grade_level: float = strawberry.field(description="Flesch-Kincaid grade.")
    avg_sentence_words: float
    lexical_density: float


@strawberry.type
class StrategyEvaluation:
    strategy: str
    lexicon_coverage: float
    passes_run: int
    passes_with_changes: int
    assessment: str


@strawberry.type
class MetaCognition:
    cognitive_load: float = strawberry.field(description="[0, 1]: from readability and length.")
    readability: Readability
    bias_markers: list[BiasMarker]
    depth: int = strawberry.field(description="Reflective passes run (1-5).")
    passes: list[ReflectivePass]
    weak_conclusions: list[str]
    strategy: StrategyEvaluation
