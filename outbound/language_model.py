"""An OpenAI-compatible chat-completions client: one pooled HTTP client per process.

Failures of every kind (timeout, HTTP error, malformed or empty answer) become
`LanguageModelFailure` with a message that names no secret; the caller decides what to
answer instead (resolvers/responders.py falls back to the engine's own responder).
"""

from __future__ import annotations

import httpx

MAX_OUTPUT_CHARS = 8000


class LanguageModelFailure(Exception):
    """The service could not give a usable answer; the message says why (no secrets)."""


class ChatCompletions:
    """Chat-completions calls through one connection pool, opened lazily, closed at shutdown."""

    def __init__(self, api_key: str | None, timeout_seconds: float) -> None:
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout_seconds = timeout_seconds
        self._client: httpx.AsyncClient | None = None

    async def complete(
        self, base_url: str, model: str, temperature: float, system_prompt: str, prompt: str
    ) -> str:
        """One call; the first choice's message content, stripped and capped."""
        body = {
            "model": model,
            "temperature": temperature,
            "messages": [
                {"role": "system", "content": system_prompt},
                {"role": "user", "content": prompt},
            ],
        }
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_seconds)
        url = base_url.rstrip("/") + "/chat/completions"
        try:
            response = await self._client.post(url, json=body, headers=self._headers)
        except httpx.TimeoutException:
            raise LanguageModelFailure("timed out") from None
        except httpx.HTTPError as exc:
            raise LanguageModelFailure(f"request failed ({type(exc).__name__})") from None
        if response.status_code != httpx.codes.OK:
            raise LanguageModelFailure(f"HTTP {response.status_code}")
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise LanguageModelFailure("malformed chat-completions answer") from None
        if not isinstance(content, str) or not content.strip():
            raise LanguageModelFailure("empty answer")
        return content.strip()[:MAX_OUTPUT_CHARS]

    async def aclose(self) -> None:
        """Close the pool (the app's shutdown); a later call would open a new one."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
