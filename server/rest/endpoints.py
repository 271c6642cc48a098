"""The REST routes under /api/v1 and the named operation each one runs.

How a request becomes the operation's variables (adapter.py does it, openapi.py describes
it): path parameters by name; then either the JSON body as one variable (`body="input"`),
or each field of the JSON body as a variable (`body=FIELDS`), or, without a body, the query
string; with `etag`, `If-Match` becomes `expectedVersion`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

API_PREFIX: Final = "/api/v1"
FIELDS: Final = "*"  # the body's fields are the variables


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # under API_PREFIX, Starlette's syntax: /agents/{id}
    operation: str  # a named operation of operations/*.graphql
    summary: str
    tag: str
    body: str | None = None  # FIELDS, the name of the variable the body is, or None
    status: int = 200  # on success: 201 creates (with Location), 204 answers no body
    public: bool = False  # no bearer token needed
    etag: bool = False  # the answer is an agent: ETag from its version; If-Match on update
    paginated: bool = False  # a connection: Link rel="next" from its pageInfo
    download: bool = False  # the answer is an export, streamed instead of its ticket
    example: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def operation_id(self) -> str:
        """The OpenAPI operationId: the operation's name without its Rest prefix."""
        name = self.operation.removeprefix("Rest")
        return name[0].lower() + name[1:]


RANGE_EXAMPLE = {"start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00Z"}

ENDPOINTS: Final[tuple[Endpoint, ...]] = (
    Endpoint(
        "POST",
        "/auth/register",
        "RestRegister",
        "Create an account and sign in",
        "auth",
        body=FIELDS,
        public=True,
        example={
            "username": "ada",
            "email": "ada@example.org",
            "password": "correct horse battery",
        },
    ),
    Endpoint(
        "POST",
        "/auth/login",
        "RestLogin",
        "Sign in",
        "auth",
        body=FIELDS,
        public=True,
        example={"username": "ada", "password": "correct horse battery"},
    ),
    Endpoint(
        "POST",
        "/auth/refresh",
        "RestRefresh",
        "Spend a refresh token for a new pair",
        "auth",
        body=FIELDS,
        public=True,
    ),
    Endpoint(
        "POST",
        "/auth/logout",
        "RestLogout",
        "Revoke this sign-in's tokens",
        "auth",
        body=FIELDS,
        public=True,
        status=204,
    ),
    Endpoint("GET", "/auth/profile", "RestProfile", "The signed-in user", "auth"),
    Endpoint(
        "POST",
        "/consciousness/process",
        "RestProcess",
        "Run one input through an agent",
        "consciousness",
        body="input",
        example={
            "agentId": "8d5f6c1e-1111-4a6b-9c1d-2e3f4a5b6c7d",
            "input": "Can you help me plan?",
        },
    ),
    Endpoint(
        "GET",
        "/consciousness/state",
        "RestConsciousnessState",
        "An agent's current state",
        "consciousness",
    ),
    Endpoint(
        "POST",
        "/consciousness/self-awareness",
        "RestSelfAwareness",
        "Confidence and limitations for a text",
        "consciousness",
        body=FIELDS,
        example={"text": "I think this might work."},
    ),
    Endpoint(
        "POST",
        "/consciousness/ethical-eval",
        "RestEthicalEvaluation",
        "Ethical evaluation of a text",
        "consciousness",
        body=FIELDS,
        example={"text": "My card is 4111 1111 1111 1111"},
    ),
    Endpoint(
        "POST",
        "/consciousness/meta-cognition",
        "RestMetaCognition",
        "Cognitive load and bias markers of a text",
        "consciousness",
        body=FIELDS,
        example={"text": "Everyone always fails at this."},
    ),
    Endpoint("GET", "/agents", "RestListAgents", "Your agents, a page", "agents", paginated=True),
    Endpoint(
        "POST",
        "/agents",
        "RestCreateAgent",
        "Create an agent",
        "agents",
        body="input",
        status=201,
        etag=True,
        example={"name": "scout", "agentType": "ANALYTICAL"},
    ),
    Endpoint("GET", "/agents/{id}", "RestGetAgent", "One agent", "agents", etag=True),
    Endpoint(
        "PATCH",
        "/agents/{id}",
        "RestUpdateAgent",
        "Change an agent (If-Match: its ETag)",
        "agents",
        body="input",
        etag=True,
        example={"description": "reads reports"},
    ),
    Endpoint(
        "DELETE",
        "/agents/{id}",
        "RestDeleteAgent",
        "Delete an agent with its history",
        "agents",
        status=204,
    ),
    Endpoint(
        "POST",
        "/agents/{id}/activate",
        "RestActivateAgent",
        "INACTIVE or PAUSED to ACTIVE",
        "agents",
        etag=True,
    ),
    Endpoint(
        "POST", "/agents/{id}/pause", "RestPauseAgent", "ACTIVE to PAUSED", "agents", etag=True
    ),
    Endpoint(
        "POST",
        "/agents/{id}/deactivate",
        "RestDeactivateAgent",
        "Any state to INACTIVE",
        "agents",
        etag=True,
    ),
    Endpoint(
        "GET",
        "/agents/{id}/versions",
        "RestAgentVersions",
        "An agent's versions, newest first",
        "agents",
    ),
    Endpoint(
        "POST",
        "/analytics/metrics",
        "RestAnalyticsMetrics",
        "Aggregates of your metrics",
        "analytics",
        body="query",
        example={"range": RANGE_EXAMPLE, "aggregations": [{"function": "COUNT"}]},
    ),
    Endpoint(
        "POST",
        "/analytics/performance",
        "RestAnalyticsPerformance",
        "A metric's time series with trend and anomalies",
        "analytics",
        body=FIELDS,
        example={"metric": "PROCESSING_TIME_MS", "interval": "HOUR", "range": RANGE_EXAMPLE},
    ),
    Endpoint(
        "GET",
        "/analytics/consciousness",
        "RestAnalyticsConsciousness",
        "An agent's processed requests, a page",
        "analytics",
        paginated=True,
    ),
    Endpoint(
        "POST",
        "/analytics/export",
        "RestAnalyticsExport",
        "Download your metrics as a file",
        "analytics",
        body=FIELDS,
        download=True,
        example={"query": {"range": RANGE_EXAMPLE}, "format": "CSV"},
    ),
    Endpoint(
        "GET",
        "/system/health",
        "RestSystemHealth",
        "Whether every store answers",
        "system",
        public=True,
    ),
    Endpoint(
        "GET",
        "/system/status",
        "RestSystemStatus",
        "Version, environment, uptime and store backends (system:read: administrators)",
        "system",
    ),
)
