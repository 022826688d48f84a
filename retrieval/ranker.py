"""The learned answer model: which candidate sentence answers, and whether any does.

Two small linear models, trained by ``python -m benchmarks.train`` on public QA data and shipped
as JSON in ``retrieval/data/answer-model.json`` (no pickle, nothing downloaded, numpy only):

* the *ranker* scores each candidate sentence (a conditional logit: trained so that, within one
  question, the sentence holding the answer gets the highest score);
* the *answer* model turns the best candidate's features and the ranker's margin into the
  probability that the best candidate answers the question; below ``threshold`` citebot says
  the articles don't answer. The threshold is chosen on the training questions for the
  operating point recorded in the file.

Both standardise their inputs with the training set's means and scales, so each weight reads as
"effect of one standard deviation of this feature".
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MODEL_FILE = "answer-model.json"


@dataclass(frozen=True)
class Linear:
    """``bias + weights · ((x - mean) / scale)``."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float = 0.0

    @classmethod
    def from_json(cls, obj: dict) -> "Linear":
        names = tuple(obj["features"])
        arrays = [np.asarray(obj[k], dtype=np.float64) for k in ("mean", "scale", "weights")]
        if any(a.shape != (len(names),) for a in arrays):
            raise ValueError("model arrays do not match its feature names")
        return cls(names, *arrays, float(obj.get("bias", 0.0)))

    def to_json(self) -> dict:
        return {"features": list(self.names), "mean": _rounded(self.mean), "scale": _rounded(self.scale),
                "weights": _rounded(self.weights), "bias": round(self.bias, 8)}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.bias + ((x - self.mean) / self.scale) @ self.weights


def _rounded(a: np.ndarray) -> list[float]:
    return [round(float(v), 8) for v in a]


@dataclass(frozen=True)
class AnswerModel:
    ranker: Linear  # over the candidate features
    answer: Linear  # over the best candidate's features plus the ranker's top score and margin
    threshold: float  # answer when P(best candidate answers) >= threshold
    pair_margin: float  # quote the adjacent sentence too when its ranker score is this close
    info: dict  # provenance: training data, command, operating point, figures

    @classmethod
    def from_json(cls, obj: dict) -> "AnswerModel":
        return cls(Linear.from_json(obj["ranker"]), Linear.from_json(obj["answer"]),
                   float(obj["threshold"]), float(obj["pair_margin"]), dict(obj.get("info", {})))

    def to_json(self) -> dict:
        return {"info": self.info, "threshold": round(self.threshold, 6), "pair_margin": self.pair_margin,
                "ranker": self.ranker.to_json(), "answer": self.answer.to_json()}

    def answer_probability(self, best_features: np.ndarray, top: float, margin: float) -> float:
        z = float(self.answer(np.concatenate([best_features, [top, margin]])))
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    @classmethod
    def load(cls, path: Path) -> "AnswerModel":
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def default_model() -> AnswerModel:
    """The shipped model (read once). A missing or damaged file is a broken install: say so."""
    text = resources.files("retrieval").joinpath("data", MODEL_FILE).read_text(encoding="utf-8")
    return AnswerModel.from_json(json.loads(text))


__all__ = ["AnswerModel", "Linear", "default_model", "MODEL_FILE"]
