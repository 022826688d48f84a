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

import numpy as np

from citebot.retrieval.errors import UserError

log = logging.getLogger(__name__)

MODEL_FILE = "answer-model.json"
ANSWER_EXTRAS = ("top_score", "margin")  # the answer model's inputs beyond the best candidate's features


@dataclass(frozen=True)
class Linear:
    """``bias + weights · ((x - mean) / scale)``."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float = 0.0

    @classmethod
    def from_json(cls, obj: dict, names: tuple[str, ...]) -> "Linear":
        """Read one model; ``names`` are the features the code computes, in its order (a model
        fit on other features would score silently wrong)."""
        if tuple(obj["features"]) != names:
            raise ValueError("its features are not the ones this version computes (retrain it)")
        arrays = [np.asarray(obj[k], dtype=np.float64) for k in ("mean", "scale", "weights")]
        bias = float(obj.get("bias", 0.0))
        if any(a.shape != (len(names),) for a in arrays):
            raise ValueError("its arrays do not match its feature names")
        if not all(np.isfinite(a).all() for a in arrays) or not math.isfinite(bias) or (arrays[1] <= 0).any():
            raise ValueError("it holds a non-finite number or a scale that is not positive")
        return cls(names, *arrays, bias)

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
    def from_json(cls, obj: dict, features: tuple[str, ...]) -> "AnswerModel":
        """Read and check a model for candidates described by ``features``."""
        threshold, pair_margin = float(obj["threshold"]), float(obj["pair_margin"])
        if not 0.0 <= threshold <= 1.0 or not 0.0 <= pair_margin < math.inf:
            raise ValueError("its threshold or pair margin is out of range")
        return cls(Linear.from_json(obj["ranker"], features),
                   Linear.from_json(obj["answer"], features + ANSWER_EXTRAS),
                   threshold, pair_margin, dict(obj.get("info", {})))

    def to_json(self) -> dict:
        return {"info": self.info, "threshold": round(self.threshold, 6), "pair_margin": self.pair_margin,
                "ranker": self.ranker.to_json(), "answer": self.answer.to_json()}

    def answer_probability(self, best_features: np.ndarray, top: float, margin: float) -> float:
        z = float(self.answer(np.concatenate([best_features, [top, margin]])))
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))



class ModelError(UserError, RuntimeError):
    """The shipped answer model is missing or damaged: a broken install, said in one line."""


@lru_cache(maxsize=1)
def default_model() -> AnswerModel:
    """The shipped model, read and checked once (``Library`` asks for it when it opens, so a
    broken install shows at start, not at the first question)."""
    from citebot.retrieval.candidates import FEATURES

    try:
        text = resources.files("citebot.retrieval").joinpath("data", MODEL_FILE).read_text(encoding="utf-8")
        return AnswerModel.from_json(json.loads(text), FEATURES)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"the answer model retrieval/data/{MODEL_FILE} is missing or damaged ({exc}); "
                         "reinstall citebot or run: python -m benchmarks.train") from exc


__all__ = ["ANSWER_EXTRAS", "AnswerModel", "Linear", "ModelError", "default_model", "MODEL_FILE"]
