"""The contextual stage: which sentences it reads, what its head's probabilities decide."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from engine import EngineConfig, Exemplar, SemanticGuard, evaluate_ethics
from engine.errors import DataError
from engine.ethics.contextual import (
    FIRST_READ,
    GATE_SIMILARITY,
    LAST_READ,
    ContextualHead,
    ContextualStage,
    load_head,
    select,
)

from .test_guard import HashingEmbedder

CONFIG = EngineConfig()
EMBEDDER = HashingEmbedder()
_VANISH = np.zeros(64)
_VANISH[int(np.argmax(EMBEDDER.embed(["vanish"])[0]))] = 10.0
# P(S11) = sigmoid(10 * the weight of "vanish" in the unit vector): "want to vanish vanish"
# (0.82) is above the refuse threshold, "I want to vanish" (0.5) between the two.
HEAD = ContextualHead(
    EMBEDDER.name,
    ("S11", "benign"),
    np.stack([_VANISH, np.zeros(64)]),
    np.zeros(2),
    flag_threshold=0.9,
    refuse_threshold=0.999,
    clear_threshold=0.3,
)


def _guard(head: ContextualHead = HEAD) -> SemanticGuard:
    """Static exemplars the texts resemble enough to be read (cosine >= 0.3), never matched."""
    exemplars = (Exemplar("i want to disappear", "S11"), Exemplar("how do i stop a job", "benign"))
    stage = ContextualStage(EMBEDDER, head)
    return SemanticGuard(EMBEDDER, exemplars, threshold=0.95, margin=0.05, contextual=stage)


def test_a_sentence_read_as_unsafe_below_the_refuse_threshold_is_flagged() -> None:
    text = "Hello. I want to vanish"
    result = evaluate_ethics(text, CONFIG, _guard())
    [violation] = result.violations
    assert (result.decision, violation.rule_id) == ("FLAGGED", "CTX-S11")
    assert violation.mode == "semantic"
    assert violation.severity == "high"  # S11's semantic severity is critical, but only flagged
    assert text[violation.start : violation.end] == "I want to vanish"
    assert 0.9 <= violation.confidence < 0.999
    assert any(line.startswith("Contextual stage (hashing") for line in result.reasoning)
    assert any("read 1 of 2 segment(s), 1 finding(s)" in line for line in result.reasoning)


def test_at_the_refuse_threshold_the_category_severity_applies() -> None:
    result = evaluate_ethics("want to vanish vanish", CONFIG, _guard())
    assert [(v.rule_id, v.severity) for v in result.violations] == [("CTX-S11", "critical")]
    assert result.decision == "REFUSED"


def test_a_sentence_the_head_reads_as_benign_is_answered() -> None:
    result = evaluate_ethics("I want to disappear into a good book", CONFIG, _guard())
    assert result.decision == "ANSWERED"
    assert any("read 1 of 1 segment(s), 0 finding(s)" in line for line in result.reasoning)


def test_a_safety_seeking_sentence_voids_a_contextual_finding_and_says_so() -> None:
    result = evaluate_ethics("How can I help a friend who says I want to vanish?", CONFIG, _guard())
    assert result.decision == "ANSWERED"
    assert any(line.startswith("Not counted: CTX-S11") for line in result.reasoning)


def test_a_sentence_a_rule_already_judged_is_not_read_again() -> None:
    result = evaluate_ethics("I want to vanish, what's the most painless way to end my life?",
                             CONFIG, _guard())  # fmt: skip
    assert "CTX-S11" not in {v.rule_id for v in result.violations}
    assert any("read 0 of 1 segment(s)" in line for line in result.reasoning)


def test_only_gated_open_segments_are_read_the_first_and_the_last_in_text_order() -> None:
    near, far = GATE_SIMILARITY, GATE_SIMILARITY - 0.01
    assert select([False, False, True], [near, far, 0.9]) == [0]
    few = [False] * (FIRST_READ + LAST_READ)
    assert select(few, [0.5] * len(few)) == list(range(len(few)))
    many = [False] * (FIRST_READ + LAST_READ + 3)
    similarities = [0.9 - 0.01 * i for i in range(len(many))][::-1]
    last = range(len(many) - LAST_READ, len(many))
    assert select(many, similarities) == [*range(FIRST_READ), *last]


SIMILARITIES = [0.5, 0.1, 0.4, 0.6, 0.7, 0.35, 0.2, 0.45, 0.31, 0.8, 0.33]


def test_appending_a_sentence_never_takes_one_of_the_first_readings_away() -> None:
    judged = [False] * len(SIMILARITIES)
    for cut in range(1, len(SIMILARITIES)):
        before = select(judged[:cut], SIMILARITIES[:cut])[:FIRST_READ]
        assert select(judged, SIMILARITIES)[: len(before)] == before


def test_prepending_a_sentence_never_takes_one_of_the_last_readings_away() -> None:
    judged = [False] * len(SIMILARITIES)
    for cut in range(1, len(SIMILARITIES)):
        after = [cut + i for i in select(judged[cut:], SIMILARITIES[cut:])[-LAST_READ:]]
        assert after == [] or select(judged, SIMILARITIES)[-len(after) :] == after


def test_an_appended_sentence_that_is_read_moves_the_last_readings_along() -> None:
    """The trade the last readings make (docs/engine-guard.md): with more than
    FIRST_READ + LAST_READ open gated sentences, one appended and read moves them on."""
    count = FIRST_READ + LAST_READ + 1
    before = select([False] * count, [0.5] * count)
    after = select([False] * (count + 1), [0.5] * (count + 1))
    assert count - LAST_READ in before
    assert count - LAST_READ not in after
    assert after[:FIRST_READ] == before[:FIRST_READ]


def test_same_input_and_guard_give_the_same_contextual_result() -> None:
    text = "Fine. I want to vanish. want to vanish vanish"
    assert evaluate_ethics(text, CONFIG, _guard()) == evaluate_ethics(text, CONFIG, _guard())


def test_a_head_trained_on_another_encoder_is_refused() -> None:
    other = replace(HEAD, encoder="another model")
    with pytest.raises(DataError, match="trained on 'another model'"):
        ContextualStage(EMBEDDER, other)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"classes": ["S99", "benign"]}, "classes must be hazard categories"),
        ({"classes": ["S1", "S2"]}, "classes must be hazard categories"),
        ({"bias": [0.0]}, "one weight row and one bias per class"),
        ({"weights": [[0.0]]}, "one weight row and one bias per class"),
        ({"flag_threshold": 0.99, "refuse_threshold": 0.9}, "flag_threshold <= refuse"),
        ({"flag_threshold": 0.0, "clear_threshold": 0.0}, "0 < clear_threshold"),
        ({"clear_threshold": 0.6}, "clear_threshold <= flag_threshold"),
    ],
)
def test_a_malformed_head_names_what_is_wrong(document: dict[str, object], message: str) -> None:
    valid = {"encoder": "m", "classes": ["S1", "benign"], "weights": [[0.0, 1.0], [1.0, 0.0]],
             "bias": [0.0, 0.0], "flag_threshold": 0.5, "refuse_threshold": 0.9,
             "clear_threshold": 0.2}  # fmt: skip
    load_head(json.dumps(valid), ("S1",))
    with pytest.raises(DataError, match=message):
        load_head(json.dumps(valid | document), ("S1", "S2"))
