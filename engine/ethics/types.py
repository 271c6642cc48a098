"""Result types of the ethics stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from engine.ethics.feedback import AppliedFeedback

Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")
Decision = Literal["ANSWERED", "FLAGGED", "REFUSED"]


@dataclass(frozen=True, slots=True)
class Violation:
    """One rule or detector that fired, with where and why.

    `confidence` in [0, 1] is how sure the detection is: 1 for a pattern match
    or a checksum-validated number, the classifier probability for profanity.
    `reported` is True when the match sits inside quotation marks (reported
    speech), which halves its expected harm in the utilitarian framework.
    `mode` is what the finding is: "means" (asks how to do harm), "intent"
    (states the wish to), "mention", "detector" (personal data, profanity),
    "semantic" (the embedding layer, `SEM-`, or the contextual model, `CTX-`)
    or "feedback" (an owner's false-negative mark). A `SEM-` or feedback finding
    also carries the cosine `similarity` to the written `exemplar` it matched; a
    `CTX-` finding's `confidence` is the model's P(unsafe).
    """

    rule_id: str
    category: str
    category_name: str
    severity: Severity
    start: int
    end: int
    matched_text: str
    explanation: str
    confidence: float
    reported: bool
    redact_as: str | None
    mode: str = "mention"
    similarity: float | None = None
    exemplar: str | None = None


@dataclass(frozen=True, slots=True)
class FrameworkScore:
    """One framework's score in [0, 1] (1 = no concern), its weight and its reasoning."""

    framework: str
    score: float
    weight: float
    rationale: str


@dataclass(frozen=True, slots=True)
class EthicsResult:
    """The ethics stage's output.

    `overall_score` in [0, 1] is the weighted mean of the framework scores
    (1 = no concern). `blocked` is the decision and `block_reasons` says why.
    `feedback_applied` lists the owner's marks that changed or matched this evaluation
    (engine.ethics.feedback).
    """

    overall_score: float
    frameworks: tuple[FrameworkScore, ...]
    violations: tuple[Violation, ...]
    blocked: bool
    block_reasons: tuple[str, ...]
    recommendations: tuple[str, ...]
    reasoning: tuple[str, ...]
    feedback_applied: tuple[AppliedFeedback, ...] = ()

    @property
    def max_severity(self) -> Severity | None:
        """The most severe violation's severity, or None without violations."""
        ranks = [SEVERITIES.index(v.severity) for v in self.violations]
        return SEVERITIES[max(ranks)] if ranks else None

    @property
    def decision(self) -> Decision:
        """REFUSED when blocked, FLAGGED with violations, else ANSWERED."""
        if self.blocked:
            return "REFUSED"
        return "FLAGGED" if self.violations else "ANSWERED"
