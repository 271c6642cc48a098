"""Ethics stage: a data-driven policy (rules.json), validated detectors and three frameworks.

Categories follow the MLCommons hazard taxonomy used by Llama Guard 3 (codes
S1-S14) plus two detector categories, PII and PROFANITY. The regex rules are
heuristics that read a sentence's target (a person, oneself, a child, a group)
and whether it asks for means, and do not count in the contexts their mode
names (safety-seeking, fiction, history, definition); the personal-data
detectors validate checksums; profanity comes from a trained classifier (see
engine.ethics.profanity); the optional semantic layer (engine.ethics.semantic)
compares each sentence with written exemplars through an embedding model the
caller passes in.
"""

from __future__ import annotations

from engine.ethics.evaluate import assess_ethics, redact, redact_personal_data
from engine.ethics.rules import POLICY, Category, Policy, Rule
from engine.ethics.semantic import Embedder, Exemplar, SemanticGuard, build_guard
from engine.ethics.types import (
    SEVERITIES,
    Decision,
    EthicsResult,
    FrameworkScore,
    Severity,
    Violation,
)

__all__ = [
    "POLICY",
    "SEVERITIES",
    "Category",
    "Decision",
    "Embedder",
    "EthicsResult",
    "Exemplar",
    "FrameworkScore",
    "Policy",
    "Rule",
    "SemanticGuard",
    "Severity",
    "Violation",
    "assess_ethics",
    "build_guard",
    "redact",
    "redact_personal_data",
]
