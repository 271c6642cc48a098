"""LinearVader: VADER's scores exactly, with work that grows linearly in a sentence."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from engine import lexicons
from engine.config import EngineConfig
from engine.lexicons import VADER
from engine.pipeline import process
from engine.types import EngineRequest

ORIGINAL = SentimentIntensityAnalyzer()
DEV_SET = Path(__file__).resolve().parents[2] / "bench" / "data" / "ethics_dev.csv"
CRAFTED = [
    "no",
    "not good",
    "no good at all",
    "never so happy",
    "never this sad, never",
    "without doubt the best",
    "I am kind of happy",
    "it was sort of terrible but the ending was great",
    "the shit hit the fan, yet I'm not happy",
    "bad ass and cut the mustard, no or nor good",
    "Happy GREAT day 😀😀 :) ♥ but NOT good!!!",
    "good",
    "kiss of death, hand to mouth, upper hand",
]
WORDS = [
    "good",
    "bad",
    "not",
    "never",
    "so",
    "this",
    "no",
    "nor",
    "or",
    "without",
    "doubt",
    "kind",
    "of",
    "sort",
    "but",
    "happy",
    "sad",
    "very",
    "GREAT",
    "😀",
    "♥",
    ":)",
    "isn't",
    "the",
    "shit",
    "hit",
    "fan",
    "least",
    "at",
    "kinda",
    "!",
    "?",
]


def _texts() -> list[str]:
    with DEV_SET.open(encoding="utf-8") as handle:
        return CRAFTED + [row["prompt"] for row in csv.DictReader(handle)]


@pytest.mark.parametrize("text", _texts())
def test_scores_equal_vaders_own(text: str) -> None:
    assert VADER.polarity_scores(text) == ORIGINAL.polarity_scores(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=40))
def test_scores_equal_vaders_own_for_any_word_sequence(words: list[str]) -> None:
    text = " ".join(words)
    assert VADER.polarity_scores(text) == ORIGINAL.polarity_scores(text)


@pytest.mark.parametrize(
    "unit",
    # Each unit holds a sentiment word after a word that is not one: VADER's context checks
    # run for it (after another sentiment word they do not run at all).
    [
        "a happy day ",
        "très bon et happy ",
        "中文 happy ",
        "😀",
        "♥",
        "😀 ",
        "I love 😀 café 中文 ♥! ",
    ],
    ids=["ascii", "accented", "cjk", "emoji", "heart", "emoji-spaced", "mixed"],
)
def test_work_grows_linearly_with_length(unit: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Words the context checks read, for the whole engine run: linear, not quadratic."""
    read = [0]
    near = lexicons._near  # what LinearVader hands its negation and idiom checks

    def counting_near(words: list[str], i: int) -> tuple[list[str], int]:
        kept, at = near(words, i)
        read[0] += len(kept)
        return kept, at

    monkeypatch.setattr(lexicons, "_near", counting_near)
    config = EngineConfig()
    work = []
    for repeats in (500, 2000):
        read[0] = 0
        process(EngineRequest(text=unit * repeats), None, config)
        work.append(read[0])
    assert work[0] > 0, "the checks did not run: the unit measures nothing"
    assert work[1] <= 4 * work[0] + 1000, work  # quadratic would be 16x
