"""Reads how a segment is framed: asks for means; safety, fiction, history or definition."""

from __future__ import annotations

from dataclasses import dataclass

from engine.ethics.rules import Policy


@dataclass(frozen=True, slots=True)
class Framing:
    """What the cue patterns of rules.json found in one segment, with evidence spans.

    `means` is the span (segment-relative) of the first request-for-means cue
    ("how do I", "best way to", "give me"), or None. `contexts` maps each
    context found (safety, fiction, history, definition) to the span of its cue.
    """

    means: tuple[int, int] | None
    contexts: dict[str, tuple[int, int]]

    def voids(self, void_in: tuple[str, ...]) -> str | None:
        """The first context in `void_in` that this segment has, else None."""
        return next((name for name in void_in if name in self.contexts), None)


def read_framing(text: str, policy: Policy) -> Framing:
    """Find the means cue and the contexts of one segment (cheap: triggers gate each regex)."""
    lowercase = text.lower()
    found = policy.means.search(text)
    contexts: dict[str, tuple[int, int]] = {}
    for context in policy.contexts:
        if not any(trigger in lowercase for trigger in context.triggers):
            continue
        match = context.pattern.search(text)
        if match:
            contexts[context.name] = match.span()
    return Framing(None if found is None else found.span(), contexts)
