"""What a `process` call tells others besides its answer: the state-changed event its
session publishes, and the error a blocked input gets (resolvers/consciousness.py)."""

from __future__ import annotations

import uuid

import engine
from core.errors import EthicalViolation
from core.events import StateChanged
from db.models import ConsciousnessSession as SessionRow


def state_changed(row: SessionRow) -> StateChanged:
    """The event live subscribers of the agent's state receive for a stored session."""
    return StateChanged(
        agent_id=row.agent_id,
        request_id=row.request_id,
        blocked=row.blocked,
        state=row.consciousness_state,  # the state this session stored
        timestamp=row.created_at,
    )


def violation_error(request_id: uuid.UUID, ethics: engine.EthicsResult) -> EthicalViolation:
    """The ETHICAL_VIOLATION error of a blocked input, naming each finding's span."""
    reasons = "; ".join(ethics.block_reasons) or "the ethics stage blocked it"
    return EthicalViolation(
        f"the input was refused: {reasons}",
        processRequestId=str(request_id),
        violations=[
            {
                "ruleId": v.rule_id,
                "category": v.category,
                "severity": v.severity.upper(),
                "start": v.start,
                "end": v.end,
            }
            for v in ethics.violations
        ],
    )
