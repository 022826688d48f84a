"""The answer features are the same numbers after the speed work on ask() as before it.

``tests/fixtures/features/golden.npz`` holds the feature matrices (and candidate spans) that the
code before the speed work produced for the questions below over the test fixtures; the ranker
was trained on those numbers, so a faster feature path must reproduce them to within 1e-12.
Rebuild it only for a deliberate change of a feature: ``python tests/test_features_golden.py``.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "tests"
GOLDEN = HERE / "fixtures" / "features" / "golden.npz"
SOURCES = (ROOT / "seeds", HERE / "fixtures" / "answer", HERE / "fixtures" / "discord" / "articles")

# Every expected type (number, date, place, entity, any), why-questions, names and numbers the
# chosen passage lacks but its article holds (the "anchored" path), ASCII and curly-quoted text.
QUESTIONS = (
    "When will Kim Jong-un meet Donald Trump for a second summit?",
    "Where did North Korea's leader order preparations?",
    "Who did Kim praise?",
    "Why does North Korea expect sanctions relief?",
    "What did the state media say about the talks?",
    "How many members would walk out at Greenfield?",
    "Why are the bakery workers striking?",
    "When is the lantern festival in Port Calder?",
    "How many lanterns are expected to be launched?",
    "Who is the festival director?",
    "What does the committee's report cover?",
    "Which fund gave the Harlow museum a grant?",
    "When will work on the glass wing begin?",
    "Where have fraudsters used premium rate lines?",
    "What did trading standards officers urge residents to do?",
    "Who won the single sculls final at Lake Ardmore?",
    "How fast did Brandt finish the 2,000m course?",
    "What was the previous record in 2009?",
    "How often will the Millbrook ferry run from November?",
    "Which town posted a notice about tap water?",
    "How many volunteers restored the Brannock lighthouse?",
    "What's the capital of Canada?",
    "Where is the venue for the summit in Singapore?",
    "What did the U.S. President say on Monday 14 April?",
    "In which city did Kim Jong-un say he'll wait “with patience”?",
)
SENTENCES = (
    "Seventeen-year-old Tomas Brandt won the single sculls final at the Lake Ardmore regatta on Saturday.",
    "Brandt finished the 2,000m course in 6 minutes 58 seconds, beating the previous record by four seconds.",
    "His coach said the young rower had trained through the winter because of the 2009 floods.",
    "The event would be held in Port Calder on 14 April.",
)


def corpus(into: Path) -> Path:
    """The fixtures' articles gathered in one folder."""
    for source in SOURCES:
        for path in sorted(source.iterdir()):
            if path.is_file():
                shutil.copy(path, into / f"{source.name}-{path.name}")
    return into


def feature_matrices(tmp: Path) -> dict[str, np.ndarray]:
    """Per question: its pool's feature matrix and candidate spans; and the free-standing rows."""
    from citebot.retrieval import Library
    from citebot.retrieval.answer import Question, Scorer
    from citebot.retrieval.candidates import FEATURES, sentence_features
    from citebot.retrieval.match import forget_texts

    forget_texts()  # nothing analysed by another test
    library = Library.open(corpus(tmp / "articles"), cache_dir=tmp / "cache")
    out: dict[str, np.ndarray] = {}
    for n, question in enumerate(QUESTIONS):
        for repeat in range(2):  # the second time through, from the caches
            pool = library.candidate_pool(question)
            out[f"q{n}"] = pool.features if pool else np.zeros((0, len(FEATURES)))
            spans = [(c.hit.passage.id, c.sentence, c.start, c.end) for c in pool.candidates] if pool else []
            out[f"q{n}_spans"] = np.array(spans, dtype=np.int64).reshape(-1, 4)
    q = Question.parse(QUESTIONS[16])
    out["sentences"] = sentence_features(q, Scorer(q, lambda t: 1.0 + len(t) / 10), SENTENCES)
    return out


def test_features_equal_those_of_the_code_before_the_speed_work(tmp_path: Path) -> None:
    (tmp_path / "articles").mkdir()
    golden = np.load(GOLDEN)
    now = feature_matrices(tmp_path)
    assert sorted(now) == sorted(golden.files)
    for key in golden.files:
        assert now[key].shape == golden[key].shape, key
        if key.endswith("_spans"):
            assert (now[key] == golden[key]).all(), key
        else:
            np.testing.assert_allclose(now[key], golden[key], rtol=0, atol=1e-12, err_msg=key)
    assert sum(len(golden[k]) for k in golden.files if not k.endswith("_spans")) > 200  # a real sample


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "articles").mkdir()
        np.savez(GOLDEN, **feature_matrices(Path(tmp)))
    print(f"wrote {GOLDEN}", file=sys.stderr)
