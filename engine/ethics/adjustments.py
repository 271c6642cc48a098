"""Per-agent adjustments of the policy (from an owner's feedback on decisions): bounded factors."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.errors import ConfigError


@dataclass(frozen=True, slots=True)
class PolicyAdjustments:
    """Rule id -> factor in [0, 1] that multiplies the confidence of that rule's findings.

    A factor below 1 is how an owner's "false positive" feedback weighs a rule
    less for one agent; 0 drops its findings (the reasoning says so). Semantic
    findings are addressed as "SEM-<category>", e.g. "SEM-S6". Factors never
    exceed 1, so an adjustment can only lower a finding's weight, never invent
    one: a false negative is fixed by adding an exemplar to the agent's guard
    (`SemanticGuard.extended`). `label` names the feedback version, for the reasoning.
    """

    rule_factors: Mapping[str, float] = field(default_factory=dict)
    label: str = ""

    def __post_init__(self) -> None:
        for rule_id, factor in self.rule_factors.items():
            if not math.isfinite(factor) or not 0.0 <= factor <= 1.0:
                raise ConfigError(f"rule_factors.{rule_id}", "must be between 0 and 1")

    def factor(self, rule_id: str) -> float:
        """The factor for `rule_id` (1 when not adjusted)."""
        return self.rule_factors.get(rule_id, 1.0)


NO_ADJUSTMENTS = PolicyAdjustments()
