"""Ethics stage: a data-driven policy (rules.json), validated detectors and three frameworks.

Categories follow the MLCommons hazard taxonomy used by Llama Guard 3 (codes
S1-S14) plus two detector categories, PII and PROFANITY. The regex rules are
heuristics (common phrasings; they miss paraphrase and can fire on fiction or
quotes); the personal-data detectors validate checksums; profanity comes from
a trained classifier (see engine.ethics.profanity).
"""

from __future__ import annotations

from engine.ethics.evaluate import assess_ethics, redact
from engine.ethics.rules import POLICY, Category, Policy, Rule
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
    "EthicsResult",
    "FrameworkScore",
    "Policy",
    "Rule",
    "Severity",
    "Violation",
    "assess_ethics",
    "redact",
]
