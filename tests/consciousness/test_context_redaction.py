"""A request's context is stored with personal data redacted in its keys as in its values."""

from __future__ import annotations

from resolvers.engine_inputs import redact_json


def test_keys_are_redacted_like_values_and_none_is_lost() -> None:
    context = {
        "jane.doe@example.com": "write to jane.doe@example.com",
        "bob@example.org": {"call +44 20 7946 0958": 1},
        "note": ["hi", 2],
    }
    assert redact_json(context, 1000) == {
        "[EMAIL]": "write to [EMAIL]",
        "[EMAIL] (2)": {"call [PHONE]": 1},
        "note": ["hi", 2],
    }
