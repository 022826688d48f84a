"""citebot's retrieval engine: articles in, cited extractive answers out. Never imports discord."""
from retrieval.library import FolderError, Library, QuestionError, RefreshResult, clean_question
from retrieval.models import Answer, Article, Citation, Hit, IndexStats, Passage, Skipped

__all__ = [
    "Answer", "Article", "Citation", "FolderError", "Hit", "IndexStats", "Library", "Passage",
    "QuestionError", "RefreshResult", "Skipped", "clean_question",
]
