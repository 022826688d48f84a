"""The learned answer model: which candidate sentence answers, and whether any does.

Two small linear models, trained by ``python -m benchmarks.train`` on public QA data and shipped
as JSON in ``retrieval/data/answer-model.json`` (no pickle, nothing downloaded, numpy only):

* the *ranker* scores each candidate sentence (a conditional logit: trained so that, within one
  question, the sentence holding the answer gets the highest score);
* the *answer* model turns the best candidate's features and the ranker's margin into the
  probability that the best candidate answers the question; below ``threshold`` citebot says
  the articles don't answer. The threshold is chosen on the training questions for the
  operating point recorded in the file;
* its *semantic* twin (optional) is the answer model refit with one more input, the semantic
  check's similarity of question and sentence (:mod:`retrieval.semantic`), with its own
  threshold chosen the same way; used when that check is installed and on.

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
SEMANTIC_EXTRAS = ANSWER_EXTRAS + ("similarity",)  # the semantic twin's


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
class SemanticAnswer:
    """The answer model refit with the similarity as one more input, and its own threshold."""

    answer: Linear  # over the answer model's inputs plus the similarity
    threshold: float

    @classmethod
    def from_json(cls, obj: dict, features: tuple[str, ...]) -> "SemanticAnswer":
        return cls(Linear.from_json(obj["answer"], features + SEMANTIC_EXTRAS), _threshold(obj["threshold"]))

    def to_json(self) -> dict:
        return {"threshold": round(self.threshold, 6), "answer": self.answer.to_json()}


@dataclass(frozen=True)
class AnswerModel:
    ranker: Linear  # over the candidate features
    answer: Linear  # over the best candidate's features plus the ranker's top score and margin
    threshold: float  # answer when P(best candidate answers) >= threshold
    pair_margin: float  # quote the adjacent sentence too when its ranker score is this close
    info: dict  # provenance: training data, command, operating point, figures
    semantic: SemanticAnswer | None = None  # used instead of answer/threshold given a similarity

    @classmethod
    def from_json(cls, obj: dict, features: tuple[str, ...]) -> "AnswerModel":
        """Read and check a model for candidates described by ``features``."""
        pair_margin = float(obj["pair_margin"])
        if not 0.0 <= pair_margin < math.inf:
            raise ValueError("its pair margin is out of range")
        semantic = SemanticAnswer.from_json(obj["semantic"], features) if "semantic" in obj else None
        return cls(Linear.from_json(obj["ranker"], features),
                   Linear.from_json(obj["answer"], features + ANSWER_EXTRAS),
                   _threshold(obj["threshold"]), pair_margin, dict(obj.get("info", {})), semantic)

    def to_json(self) -> dict:
        out = {"info": self.info, "threshold": round(self.threshold, 6), "pair_margin": self.pair_margin,
               "ranker": self.ranker.to_json(), "answer": self.answer.to_json()}
        if self.semantic is not None:
            out["semantic"] = self.semantic.to_json()
        return out

    def judge(self, best_features: np.ndarray, top: float, margin: float,
              similarity: float | None = None) -> tuple[float, float]:
        """P(the best candidate answers) and the threshold it must reach: the semantic twin's
        when there is a similarity and a twin, else the lexical answer model's."""
        if similarity is not None and self.semantic is not None:
            z = float(self.semantic.answer(np.concatenate([best_features, [top, margin, similarity]])))
            threshold = self.semantic.threshold
        else:
            z, threshold = float(self.answer(np.concatenate([best_features, [top, margin]]))), self.threshold
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0))), threshold


def _threshold(value: float | str) -> float:
    threshold = float(value)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError("its threshold is out of range")
    return threshold



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


__all__ = ["ANSWER_EXTRAS", "SEMANTIC_EXTRAS", "AnswerModel", "SemanticAnswer", "Linear", "ModelError",
           "default_model", "MODEL_FILE"]
