"""Meta-cognition: bias markers with spans, reflective passes that change things, cognitive load."""

from __future__ import annotations

import pytest

from engine import EngineConfig, evaluate_metacognition
from engine.metacognition import DISTORTIONS


@pytest.mark.parametrize(
    ("distortion", "example"),
    [(d.id, example) for d in DISTORTIONS for example in d.examples],
)
def test_every_distortion_is_found_in_its_example(distortion: str, example: str) -> None:
    markers = evaluate_metacognition(example, EngineConfig(metacognition_depth=1)).bias_markers
    assert distortion in {m.distortion for m in markers}


def test_marker_spans_point_into_the_text() -> None:
    text = "Everyone always ignores me and it is a disaster."
    result = evaluate_metacognition(text, EngineConfig())
    assert result.bias_markers
    for marker in result.bias_markers:
        assert text[marker.start : marker.end] == marker.matched_text


def test_depth_sets_the_number_of_passes() -> None:
    for depth in range(1, 6):
        result = evaluate_metacognition(
            "I should try harder.", EngineConfig(metacognition_depth=depth)
        )
        assert result.depth == depth
        assert [p.index for p in result.passes] == list(range(1, depth + 1))


def test_pass_two_drops_negated_and_quoted_markers() -> None:
    text = 'It is not always bad. He said "you should leave". Everyone ignores me.'
    shallow = evaluate_metacognition(text, EngineConfig(metacognition_depth=1))
    deep = evaluate_metacognition(text, EngineConfig(metacognition_depth=2))
    assert {m.matched_text for m in shallow.bias_markers} >= {"always", "you should", "Everyone"}
    assert [m.matched_text for m in deep.bias_markers] == ["Everyone"]
    assert len(deep.passes[1].changes) == 2


def test_pass_three_downgrades_figurative_markers_in_positive_sentences() -> None:
    text = "I am always happy to help, it is wonderful!"
    two = evaluate_metacognition(text, EngineConfig(metacognition_depth=2))
    three = evaluate_metacognition(text, EngineConfig(metacognition_depth=3))
    assert two.bias_markers[0].confidence == 1.0
    assert three.bias_markers[0].confidence == 0.5
    assert three.passes[2].changes


def test_pass_five_marks_weak_conclusions() -> None:
    text = "I am always happy to help, it is wonderful!"
    result = evaluate_metacognition(text, EngineConfig(metacognition_depth=5))
    assert "overgeneralisation rests only on doubted markers" in result.weak_conclusions


def test_harder_text_has_higher_cognitive_load() -> None:
    easy = evaluate_metacognition("The cat sat. The dog ran. We had fun.", EngineConfig())
    hard = evaluate_metacognition(
        "Notwithstanding considerable institutional heterogeneity, comparative"
        " constitutional jurisprudence demonstrates systematically differentiated"
        " interpretative methodologies across multijurisdictional adjudicative frameworks.",
        EngineConfig(),
    )
    assert 0.0 <= easy.cognitive_load < hard.cognitive_load <= 1.0
    assert hard.readability.grade_level > easy.readability.grade_level


def test_strategy_evaluation_reports_coverage_and_changes() -> None:
    result = evaluate_metacognition("It is not always bad, I love it.", EngineConfig())
    assert 0.0 < result.strategy.lexicon_coverage <= 1.0
    assert result.strategy.passes_with_changes >= 1
    assert "covered" in result.strategy.assessment
