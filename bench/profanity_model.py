"""Extract alt-profanity-check's model into engine/data/profanity_model.json.gz (and the
English stop words it was trained with into engine/data/english_stop_words.json).

The engine evaluates the model itself (engine/ethics/profanity.py: the same arithmetic,
without scikit-learn's per-call input validation). Reading the package's joblib pickles at
run time imported scikit-learn, scipy and pandas into every process that imports the engine:
the engine's import took 1.52 s and 228 MB maxrss with them, 0.35 s and 48 MB without. So this
script reads the pickles once, checks the model is still the shape the engine re-implements,
and writes its weights; the package is a development dependency only.

Run from the repo root: `.venv/bin/python bench/profanity_model.py [--check]` (`--check`
fails when the shipped file differs from what the installed package gives).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from profanity_check import profanity_check as packaged

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "engine" / "data" / "profanity_model.json.gz"
STOP_WORDS = ROOT / "engine" / "data" / "english_stop_words.json"
TOKEN_PATTERN = r"(?u)\b\w\w+\b"
MEMBERS = 5  # cross-validation folds of the packaged CalibratedClassifierCV


def check_shape(vectorizer: Any, model: Any) -> None:
    """Fail loudly if a new package version changed what the engine re-implements."""
    params = vectorizer.get_params()
    expected = {
        "analyzer": "word",
        "lowercase": True,
        "ngram_range": (1, 1),
        "norm": "l2",
        "sublinear_tf": False,
        "use_idf": True,
        "token_pattern": TOKEN_PATTERN,
        "preprocessor": None,
        "tokenizer": None,
        "strip_accents": None,
    }
    for key, value in expected.items():
        if params.get(key) != value:
            raise SystemExit(f"profanity vectorizer changed: {key}={params.get(key)!r}")
    if model.method != "sigmoid" or len(model.classes_) != 2:
        raise SystemExit("profanity model is no longer a binary sigmoid-calibrated classifier")
    members = model.calibrated_classifiers_
    if len(members) != MEMBERS or any(len(m.calibrators) != 1 for m in members):
        raise SystemExit(f"profanity model is no longer {MEMBERS} single-calibrator members")


def extract() -> tuple[bytes, bytes]:
    """The model's weights as gzipped JSON and its stop words as JSON, byte for byte the
    same on every run (the engine reads each where it is used: engine/lexicons.py the stop
    words, engine/ethics/profanity.py the weights)."""
    vectorizer, model = packaged.vectorizer, packaged.model
    check_shape(vectorizer, model)
    members = model.calibrated_classifiers_
    coefs = [member.estimator.coef_[0] for member in members]
    words = {
        str(word): [float(vectorizer.idf_[index]), *(float(c[index]) for c in coefs)]
        for word, index in sorted(vectorizer.vocabulary_.items(), key=lambda item: item[1])
    }
    data = {
        "source": f"alt-profanity-check {version('alt-profanity-check')}",
        "token_pattern": TOKEN_PATTERN,
        "intercepts": [float(m.estimator.intercept_[0]) for m in members],
        "slopes": [float(m.calibrators[0].a_) for m in members],
        "offsets": [float(m.calibrators[0].b_) for m in members],
        "words": words,  # word -> [idf, coefficient of each of the five SVMs]
    }
    text = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    stop_words = sorted(str(word) for word in vectorizer.get_stop_words())
    return gzip.compress(text, compresslevel=9, mtime=0), json.dumps(stop_words).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the shipped file differs")
    args = parser.parse_args()
    files = dict(zip((TARGET, STOP_WORDS), extract(), strict=True))
    for path, content in files.items():
        name = path.relative_to(ROOT)
        if not args.check:
            path.write_bytes(content)
            print(f"wrote {name} ({len(content):,} bytes)")
        elif path.read_bytes() != content:
            sys.exit(f"{name} differs from the installed package's model: run without --check")
        else:
            print(f"{name} matches the installed package")


if __name__ == "__main__":
    main()
