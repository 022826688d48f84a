"""citebot's retrieval engine: articles in, cited extractive answers out. Never imports discord."""
import sys

if sys.version_info < (3, 11):  # an importable library raises, it does not exit
    raise ImportError(f"citebot needs Python 3.11 or newer; this is Python {sys.version.split()[0]}")

from citebot.retrieval.library import FolderError, Library, QuestionError, RefreshResult, clean_question
from citebot.retrieval.models import Answer, Article, Citation, Hit, IndexStats, Passage, Skipped

__all__ = [
    "Answer", "Article", "Citation", "FolderError", "Hit", "IndexStats", "Library", "Passage",
    "QuestionError", "RefreshResult", "Skipped", "clean_question",
]
