"""Trains the ethics stage's contextual head on our own labelled data and writes it as JSON.

Run: python bench/ethics_head.py [--check]

The head is a multinomial logistic regression over all-MiniLM-L6-v2 sentence vectors
(db/guard_encoder.py): 15 classes, S1-S14 and "benign". It is trained on the exemplars in
engine/ethics/data/exemplars.json, the ordinary sentences of bench/data/ethics_ordinary.txt
(benign: everyday text, which the look-alikes alone do not teach) and the `tune` and
`validation` rows of bench/data/ethics_dev.csv, never on the `holdout` splits nor on
SimpleSafetyTests. Its two
thresholds on P(unsafe) = 1 - P(benign) are chosen by 5-fold cross-validation on the dev rows
(each row scored by a head that did not see it): `flag` at FLAG_FPR of the benign rows,
`refuse` at REFUSE_FPR, and `clear` at CLEAR_FNR of the harmful rows (below it the head
clears a doubted finding, engine/ethics/confirm.py). The output,
engine/ethics/data/contextual_head.json, is what the engine ships; `--check` retrains and
fails when the shipped file differs (reproducibility).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ethics_data import ordinary_lines, training_rows  # noqa: E402

from db.guard_encoder import ENCODER_NAME, ENCODER_SHA256, load_encoder  # noqa: E402

OUT = ROOT / "engine" / "ethics" / "data" / "contextual_head.json"
C, FOLDS, SEED = 8.0, 5, 0
FLAG_FPR, REFUSE_FPR, CLEAR_FNR = 0.04, 0.015, 0.01
DECIMALS = 6


def training_data() -> tuple[list[str], list[str], int]:
    """Texts and classes: exemplars and ordinary sentences, then the dev rows of TRAIN_SPLITS
    (whose count is returned: cross-validation folds only these)."""
    exemplars = json.loads((ROOT / "engine/ethics/data/exemplars.json").read_text("utf-8"))
    texts = [str(e["text"]) for e in exemplars["exemplars"]]
    classes = [str(e["category"]) for e in exemplars["exemplars"]]
    ordinary = ordinary_lines()
    texts += ordinary
    classes += ["benign"] * len(ordinary)
    rows = training_rows()
    return texts + [r["prompt"] for r in rows], classes + [r["category"] for r in rows], len(rows)


def fit(x: NDArray[np.float32], y: NDArray[np.str_]) -> LogisticRegression:
    model = LogisticRegression(C=C, max_iter=5000, class_weight="balanced")
    return model.fit(x, y)


def unsafe_probability(model: LogisticRegression, x: NDArray[np.float32]) -> NDArray[np.float64]:
    benign = list(model.classes_).index("benign")
    return np.asarray(1.0 - model.predict_proba(x)[:, benign])


def cross_validate(x: NDArray[np.float32], y: NDArray[np.str_], n_dev: int) -> dict[str, float]:
    """Thresholds at FLAG_FPR and REFUSE_FPR of benign dev rows and at CLEAR_FNR of harmful
    ones, and the CV figures."""
    start = len(y) - n_dev
    dev = np.arange(start, len(y))
    unsafe = y[dev] != "benign"
    scores = np.zeros(n_dev)
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=SEED)
    for train, test in folds.split(dev, unsafe):
        keep = np.concatenate([np.arange(start), dev[train]])
        scores[test] = unsafe_probability(fit(x[keep], y[keep]), x[dev[test]])
    benign = np.sort(scores[~unsafe])[::-1]
    flag = float(benign[int(FLAG_FPR * len(benign))])
    refuse = float(benign[int(REFUSE_FPR * len(benign))])
    harmful = np.sort(scores[unsafe])
    clear = float(harmful[int(CLEAR_FNR * len(harmful))])
    return {
        "flag": round(flag, 4),
        "refuse": round(refuse, 4),
        "clear": round(clear, 4),
        "cv_auc": round(float(roc_auc_score(unsafe, scores)), 4),
        "cv_recall_at_flag": round(float((scores[unsafe] > flag).mean()), 4),
        "cv_recall_at_refuse": round(float((scores[unsafe] > refuse).mean()), 4),
        "cv_benign_over_flag": round(float((scores[~unsafe] > flag).mean()), 4),
        "cv_harmful_under_clear": round(float((scores[unsafe] < round(clear, 4)).mean()), 4),
        "cv_benign_under_clear": round(float((scores[~unsafe] < round(clear, 4)).mean()), 4),
    }


def build() -> dict[str, object]:
    texts, classes, n_dev = training_data()
    x = load_encoder().embed(texts)
    y = np.array(classes)
    figures = cross_validate(x, y, n_dev)
    model = fit(x, y)
    return {
        "version": 1,
        "source": (
            "Trained by bench/ethics_head.py on engine/ethics/data/exemplars.json,"
            " bench/data/ethics_ordinary.txt and the tune and validation rows of"
            " bench/data/ethics_dev.csv (all written for this project); never on the holdout"
            " splits or SimpleSafetyTests."
        ),
        "encoder": ENCODER_NAME,
        "encoder_sha256": ENCODER_SHA256,
        "training_rows": len(texts),
        "c": C,
        "flag_threshold": figures.pop("flag"),
        "refuse_threshold": figures.pop("refuse"),
        "clear_threshold": figures.pop("clear"),
        "cross_validation": figures,
        "classes": [str(c) for c in model.classes_],
        "bias": [round(float(b), DECIMALS) for b in model.intercept_],
        "weights": [[round(float(w), DECIMALS) for w in row] for row in model.coef_],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the shipped head differs")
    args = parser.parse_args()
    text = json.dumps(build(), indent=1) + "\n"
    if args.check:
        if OUT.read_text("utf-8") != text:
            sys.exit(f"{OUT} differs from a fresh training run")
        print("the shipped head is reproducible")
        return
    OUT.write_text(text, "utf-8")
    print(json.dumps({k: v for k, v in json.loads(text).items() if k not in {"weights", "bias"}}))


if __name__ == "__main__":
    main()
