"""Profanity classifier: the `alt-profanity-check` model, evaluated without scikit-learn overhead.

The model (package `alt-profanity-check`, MIT licence; originally Victor
Zhou's `profanity-check`) is a TF-IDF bag of words (unigrams, lowercase,
scikit-learn's English stop words removed, L2-normalised) fed to five linear
SVMs, each calibrated to a probability with Platt's sigmoid
(CalibratedClassifierCV, 5 folds); the probability is the mean of the five. It
was trained on about 200k human-labelled clean and offensive texts (Davidson
et al. 2017 tweets and the Wikipedia toxic-comment data).

Calling scikit-learn's `predict_proba` costs about 10 ms per call, mostly input
validation, which would be most of the engine's budget. So the model's weights are
read into plain dictionaries (from engine/data/profanity_model.json.gz, which
bench/profanity_model.py extracts from the package) and the same arithmetic is done
here; a test checks the result against `profanity_check.predict_prob`. Being linear,
the model also says which words pushed the score up: those are the evidence.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from engine.errors import DataError
from engine.lexicons import STOP_WORDS

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_MEMBERS = 5  # cross-validation folds of the packaged CalibratedClassifierCV


@dataclass(frozen=True, slots=True)
class _Model:
    """Per word: IDF and the five SVM coefficients; per SVM: intercept and sigmoid A, B."""

    words: dict[str, tuple[float, tuple[float, float, float, float, float]]]
    intercepts: tuple[float, float, float, float, float]
    slopes: tuple[float, ...]
    offsets: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class ProfanityScore:
    """Probability in [0, 1] that a text is offensive, and the words that raised it.

    `terms` holds (word, contribution) pairs, largest first, where contribution
    is the word's TF-IDF weight times the mean SVM coefficient: positive values
    pushed the decision towards "offensive".
    """

    probability: float
    terms: tuple[tuple[str, float], ...]


def _load_model() -> _Model:
    """The weights bench/profanity_model.py extracted from the package, checked for the
    shape this module evaluates. Read here and kept only in this form: the file's parsed
    JSON (28.5 MB of objects, by tracemalloc) is garbage once converted."""
    packed = resources.files("engine.data").joinpath("profanity_model.json.gz").read_bytes()
    data = json.loads(gzip.decompress(packed))
    if data["token_pattern"] != _TOKEN.pattern:
        raise DataError(f"profanity model tokenises with {data['token_pattern']!r}")
    for key in ("intercepts", "slopes", "offsets"):
        if len(data[key]) != _MEMBERS:
            raise DataError(f"profanity model {key}: expected {_MEMBERS} members")
    words: dict[str, tuple[float, tuple[float, float, float, float, float]]] = {}
    for word, (idf, *coefficients) in data["words"].items():
        words[word] = (float(idf), _five(float(c) for c in coefficients))
    if STOP_WORDS & words.keys():  # the vectoriser dropped them: scoring never looks again
        raise DataError("profanity model: its vocabulary holds stop words")
    return _Model(
        words=words,
        intercepts=_five(float(value) for value in data["intercepts"]),
        slopes=tuple(float(value) for value in data["slopes"]),
        offsets=tuple(float(value) for value in data["offsets"]),
    )


def _five(values: Iterable[float]) -> tuple[float, float, float, float, float]:
    a, b, c, d, e = values
    return a, b, c, d, e


_MODEL = _load_model()


def score_profanity(text: str, ignore: frozenset[str] = frozenset()) -> ProfanityScore:
    """Probability in [0, 1] that `text` is offensive, as the packaged model computes it.

    Words in `ignore` are left out of the input, as if unknown to the model (the
    ethics stage passes the policy's `profanity_ignores`, e.g. "kill", "hate").

    Steps: lowercase; tokens of 2+ word characters; drop stop words; term
    counts times IDF, L2-normalised; for each of the five calibrated SVMs
    d = w.x + b and p = 1 / (1 + exp(A*d + B)); the result is the mean p.
    Text without any known word gets the model's prior for an empty document.
    """
    model = _MODEL
    counts: dict[str, int] = {}
    for token in _TOKEN.findall(text.lower()):
        if token in counts:
            counts[token] += 1
        elif token in model.words and token not in ignore:
            counts[token] = 1
    weights = {word: count * model.words[word][0] for word, count in counts.items()}
    norm = math.sqrt(sum(value * value for value in weights.values())) or 1.0
    d0, d1, d2, d3, d4 = model.intercepts
    terms: list[tuple[str, float]] = []
    for word, weight in weights.items():
        value = weight / norm
        c0, c1, c2, c3, c4 = model.words[word][1]
        # Unrolled over the five calibrated SVMs: this loop is the hot path.
        d0 += c0 * value
        d1 += c1 * value
        d2 += c2 * value
        d3 += c3 * value
        d4 += c4 * value
        contribution = value * (c0 + c1 + c2 + c3 + c4) / _MEMBERS
        if contribution > 0:
            terms.append((word, round(contribution, 6)))
    probability = sum(
        _sigmoid(-(slope * decision + offset))
        for slope, decision, offset in zip(
            model.slopes, (d0, d1, d2, d3, d4), model.offsets, strict=True
        )
    )
    terms.sort(key=lambda item: (-item[1], item[0]))
    return ProfanityScore(probability / _MEMBERS, tuple(terms))


def _sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    exp = math.exp(value)
    return exp / (1.0 + exp)
