"""Demo data: a demo user, three agents and a steady stream of requests, for the dashboard.

`consciousness serve --demo` and `consciousness seed-demo` use this. The demo user is
created in the database directly (like `create-user`, with the ENTERPRISE tier so the
stream is never rate-limited); everything else goes through the server's real GraphQL
operations over HTTP: `login`, `createAgent`, `activateAgent`, `pauseAgent` and `process`.
The inputs are a fixed list of realistic prompts, sent in a fixed order (no randomness):
most are ordinary, a few carry personal data, profanity or requests the ethics rules flag,
and some of those are blocked (`process` answers ETHICAL_VIOLATION and still records them).
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.settings import ConfigurationError, Environment, Settings
from server import announce

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"  # noqa: S105  (printed to the user: this is a demo account)
DEMO_EMAIL = "demo@example.org"
HTTP_TIMEOUT_SECONDS = 30.0
SERVER_START_SECONDS = 120.0  # serve --demo: migrations and stores may take a while
RUNNING_SERVER_SECONDS = 10.0  # seed-demo: the server should already be up
PAUSE_EVERY = 25  # every this many requests one agent is paused, and resumed 5 requests later
REQUEST_ID_PREFIX = "demo-"  # the X-Request-ID of the demo's own requests

DEMO_AGENTS: tuple[tuple[str, str, str], ...] = (
    ("Helpdesk", "GENERAL", "Answers customer questions about accounts and orders."),
    ("Research assistant", "RESEARCH", "Summarises papers and suggests experiments."),
    ("Ethics reviewer", "ETHICAL_ADVISOR", "Reviews plans for ethical and privacy risks."),
)

DEMO_PROMPTS: tuple[str, ...] = (
    "Hello! Can you help me reset the password on my account?",
    "I'm really happy with the new release, the dashboard finally loads quickly.",
    "Summarise the main arguments for and against remote work in three bullet points.",
    "My order arrived damaged and I'm honestly frustrated. What are my options?",
    "Please update my contact details: my email is jane.doe@example.com.",
    "What is the difference between a median and a mean, and when should I use each?",
    "I think I might be wrong about this, but isn't the experiment missing a control group?",
    "Call me back on +1 415 555 0134 tomorrow morning, please.",
    "This stupid app crashed again and I lost an hour of damn work.",
    "Can you explain how vaccines train the immune system, in simple terms?",
    "How much ibuprofen should I take for a headache that won't go away?",
    "Draft a polite reminder to a colleague about the report due on Friday.",
    "Everyone always ignores my suggestions; I never get anything right.",
    "Which statistical test fits two groups with skewed, non-normal data?",
    "How do I hack into my neighbour's wifi without them noticing?",
    "Thanks, that worked perfectly. You saved my afternoon!",
    "Should I invest all my savings in a single tech stock?",
    "Write a haiku about autumn rain on a quiet city street.",
    "Run rm -rf / on the build server to free up some disk space.",
    "What are the trade-offs between PostgreSQL and SQLite for a small web app?",
    "I feel anxious about the presentation tomorrow. Any tips to calm down?",
    "Pay with card 4111 1111 1111 1111, expiry 12/29.",
    "Can you find the home address of the journalist who wrote that article of yesterday?",
    "Compare the carbon footprint of trains and short-haul flights in Europe.",
    "I want to die, nothing I do matters anymore.",
    "List three risks of deploying a model without monitoring, and a mitigation for each.",
    "Where can I download a cracked copy of Photoshop for free?",
    "Explain recursion to a ten-year-old using a story.",
    "How can I build a pipe bomb from things in my garage?",
    "Our survey has 40 answers; is that enough to report percentages?",
    "Good morning! What can you do, and what are your limitations?",
)

LOGIN = """mutation($u: String!, $p: String!) {
  login(username: $u, password: $p) { accessToken } }"""
AGENTS = "{ agents(first: 100) { edges { node { id name status } } } }"
CREATE_AGENT = "mutation($i: CreateAgentInput!) { createAgent(input: $i) { id status } }"
ACTIVATE = "mutation($id: UUID!) { activateAgent(id: $id) { status } }"
PAUSE = "mutation($id: UUID!) { pauseAgent(id: $id) { status } }"
DEACTIVATE = "mutation($id: UUID!) { deactivateAgent(id: $id) { status } }"
PROCESS = """mutation($i: ProcessInput!) {
  process(input: $i) { requestId decision processingTimeMs } }"""


class DemoError(Exception):
    """The demo could not talk to the server, or the server refused an operation."""


def check_demo_allowed(settings: Settings) -> None:
    """The demo account has a published password: refuse it in production."""
    if settings.environment is Environment.PRODUCTION:
        raise ConfigurationError(
            "configuration error: ENVIRONMENT: the demo (a user with a published password) "
            "is refused in production"
        )


async def ensure_demo_user(settings: Settings) -> bool:
    """Create the demo user (USER role, ENTERPRISE tier) unless it exists; True if created."""
    from auth.passwords import hash_password
    from core.enums import Role, Tier
    from db.repositories.users import create_user, get_user_by_username
    from db.session import Database

    database = Database(settings.resolved_database_url)
    try:
        async with database.session() as session:
            if await get_user_by_username(session, DEMO_USERNAME) is not None:
                return False
            await create_user(
                session,
                username=DEMO_USERNAME,
                email=DEMO_EMAIL,
                password_hash=hash_password(DEMO_PASSWORD),
                roles=[Role.USER],
                tier=Tier.ENTERPRISE,
            )
            return True
    finally:
        await database.close()


def credentials_banner(url: str) -> str:
    return (
        f"demo: open {url}/dashboard and sign in as "
        f"{DEMO_USERNAME} / {DEMO_PASSWORD} (GraphiQL: {url}/graphql)"
    )


class DemoRequestFilter(logging.Filter):
    """Drops the request log lines of the demo's own traffic unless DEBUG is on."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = getattr(record, "fields", None)
        request_id = fields.get("request_id") if isinstance(fields, dict) else None
        if isinstance(request_id, str) and request_id.startswith(REQUEST_ID_PREFIX):
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def quiet_demo_requests() -> None:
    """`serve --demo`: keep the demo's request lines from scrolling its credentials away."""
    request_log = logging.getLogger("consciousness.request")  # server.middleware's logger
    if not any(isinstance(f, DemoRequestFilter) for f in request_log.filters):
        request_log.addFilter(DemoRequestFilter())


def _code(result: dict[str, Any]) -> str:
    code: str = result["errors"][0].get("extensions", {}).get("code", "ERROR")
    return code


@dataclass
class DemoClient:
    """A minimal GraphQL-over-HTTP client of one server (standard library only)."""

    url: str
    token: str = ""

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise DemoError(f"--url must start with http:// or https://, not {self.url!r}")
        self.url = self.url.rstrip("/")

    def _post(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        headers = {
            "content-type": "application/json",
            "accept": "application/json",
            "x-request-id": f"{REQUEST_ID_PREFIX}{uuid.uuid4().hex}",
        }
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(  # noqa: S310  (scheme checked in __post_init__)
            f"{self.url}/graphql", data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310
                result: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as exc:  # GraphQL errors may come with a 4xx status
            result = json.loads(exc.read() or b"{}")
        except (urllib.error.URLError, OSError) as exc:
            raise DemoError(f"cannot reach {self.url}: {exc}") from None
        return result

    def call(self, query: str, **variables: Any) -> dict[str, Any]:
        """The operation's data; DemoError with the first error's code and message.

        An expired access token (UNAUTHENTICATED) is renewed by signing in again, once.
        """
        result = self._post(query, variables)
        if result.get("errors") and self.token and _code(result) == "UNAUTHENTICATED":
            self.login()
            result = self._post(query, variables)
        if result.get("errors"):
            raise DemoError(f"{_code(result)}: {result['errors'][0].get('message')}")
        data: dict[str, Any] = result["data"]
        return data

    def login(self) -> None:
        """Sign in as the demo user (again, when the access token has expired)."""
        self.token = ""
        self.token = self.call(LOGIN, u=DEMO_USERNAME, p=DEMO_PASSWORD)["login"]["accessToken"]

    def wait_until_ready(self, timeout: float) -> None:
        if not announce.wait_for_health(self.url, timeout):
            raise DemoError(f"{self.url} did not answer /health within {timeout:.0f} s")


def prepare_agents(client: DemoClient) -> list[str]:
    """Sign in as the demo user; create the demo agents that are missing; all ACTIVE."""
    client.login()
    existing = {
        edge["node"]["name"]: edge["node"] for edge in client.call(AGENTS)["agents"]["edges"]
    }
    agent_ids = []
    for name, agent_type, description in DEMO_AGENTS:
        agent = (
            existing.get(name)
            or client.call(
                CREATE_AGENT, i={"name": name, "agentType": agent_type, "description": description}
            )["createAgent"]
        )
        if agent["status"] == "ERROR":
            client.call(DEACTIVATE, id=agent["id"])
        if agent["status"] != "ACTIVE":
            client.call(ACTIVATE, id=agent["id"])
        agent_ids.append(agent["id"])
    return agent_ids


def send_requests(
    client: DemoClient,
    agent_ids: list[str],
    *,
    count: int,
    interval_seconds: float,
    stop: threading.Event,
    report: Callable[[str], None] = print,
) -> int:
    """Send `count` demo inputs (0: until `stop` is set) through `process`; returns how many.

    Request i sends prompt i (cycling) to agent i mod the agent count. Every PAUSE_EVERY
    requests one agent is paused for five requests (its inputs go to the next agent), then
    activated again, so the dashboard's agent list shows status changes.
    """
    sent = 0
    paused: str | None = None
    while (count == 0 or sent < count) and not stop.is_set():
        if sent % PAUSE_EVERY == PAUSE_EVERY - 1 and paused is None:
            paused = agent_ids[(sent // PAUSE_EVERY) % len(agent_ids)]
            client.call(PAUSE, id=paused)
        elif paused is not None and sent % PAUSE_EVERY == 4:
            client.call(ACTIVATE, id=paused)
            paused = None
        agent_id = agent_ids[sent % len(agent_ids)]
        if agent_id == paused:  # a paused agent refuses inputs: the next one takes it
            agent_id = agent_ids[(sent + 1) % len(agent_ids)]
        prompt = DEMO_PROMPTS[sent % len(DEMO_PROMPTS)]
        try:
            client.call(
                PROCESS,
                i={
                    "agentId": agent_id,
                    "input": prompt,
                    "context": {"source": "demo", "n": sent + 1},
                    "options": {"useLanguageModel": False},
                },
            )
        except DemoError as exc:
            if not str(exc).startswith("ETHICAL_VIOLATION"):
                raise
        sent += 1
        if sent % 100 == 0:
            report(
                f"demo: {sent} requests sent; dashboard {client.url}/dashboard, "
                f"sign in as {DEMO_USERNAME} / {DEMO_PASSWORD}"
            )
        stop.wait(interval_seconds)
    return sent


def run_demo(
    url: str,
    *,
    count: int = 0,
    interval_seconds: float = 0.5,
    stop: threading.Event | None = None,
    report: Callable[[str], None] = print,
    ready_timeout_seconds: float = RUNNING_SERVER_SECONDS,
    banner: str | None = None,
) -> int:
    """Wait for the server, prepare the demo agents, then stream requests; returns how many.

    `banner` (default: the credentials line) is reported once the agents are ready.
    """
    client = DemoClient(url)
    client.wait_until_ready(ready_timeout_seconds)
    agent_ids = prepare_agents(client)
    report(f"demo: {len(agent_ids)} agents ready; sending a request every {interval_seconds} s")
    report(banner or credentials_banner(client.url))
    return send_requests(
        client,
        agent_ids,
        count=count,
        interval_seconds=interval_seconds,
        stop=stop or threading.Event(),
        report=report,
    )


def start_demo_thread(url: str, interval_seconds: float, banner: str) -> threading.Thread:
    """`serve --demo`: stream demo requests to the server being started, in the background.

    `banner` (the URLs and the credentials) is printed once the demo agents are ready.
    """

    def target() -> None:
        try:
            run_demo(
                url,
                interval_seconds=interval_seconds,
                ready_timeout_seconds=SERVER_START_SECONDS,
                report=announce.print_flushed,
                banner=banner,
            )
        except DemoError as exc:
            print(f"demo stopped: {exc}", flush=True)

    thread = threading.Thread(target=target, name="demo-traffic", daemon=True)
    thread.start()
    return thread
