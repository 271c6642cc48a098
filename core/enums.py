"""The small enums every layer speaks: roles, tiers, agent kinds and lifecycle states.

Their values are what the database stores; GraphQL exposes the names.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    USER = "user"
    DEVELOPER = "developer"
    RESEARCHER = "researcher"
    ADMIN = "admin"
    SUPER_ADMIN = "super_admin"


class Tier(StrEnum):
    BASIC = "basic"
    ADVANCED = "advanced"
    ENTERPRISE = "enterprise"
    RESEARCH = "research"


class AgentType(StrEnum):
    GENERAL = "general"
    ANALYTICAL = "analytical"
    CREATIVE = "creative"
    ETHICAL_ADVISOR = "ethical_advisor"
    RESEARCH = "research"


class AgentStatus(StrEnum):
    INACTIVE = "inactive"
    ACTIVE = "active"
    PAUSED = "paused"
    ERROR = "error"
