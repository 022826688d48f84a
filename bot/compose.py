"""The composition helpers both front ends share: the library and the folder watcher built from
settings, and the one mapping from an exception to the process exit status.

``citebot ask|search|index`` (``bot.cli``) and ``citebot run`` (``bot.runner``, ``bot.client``)
call these instead of each wiring ``Library.open`` and ``FolderWatcher`` from settings.
"""
from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Callable

from citebot.retrieval.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from citebot.config import Settings
    from citebot.retrieval import Library
    from citebot.retrieval.watch import FolderWatcher

log = logging.getLogger("citebot")

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(UserError):
    """A bad invocation or setting: one line, exit status 2 (systemd's unit does not restart
    on 2, since restarting cannot fix a setting)."""


def exit_status(error: BaseException) -> int:
    """The exit status for ``error``: 2 for anything a person must fix (a ``UserError``: a bad
    flag, setting, token or folder, a broken install), 130 for Ctrl-C, 1 for the rest."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, UserError):
        return EXIT_USAGE
    return EXIT_ERROR


def open_library(settings: "Settings", progress: Callable[[str, int, int], None] | None = None) -> "Library":
    """The engine on ``settings.articles_dir`` with every engine setting applied.

    A missing folder or a broken install raises a ``UserError`` (``FolderError``, ``ModelError``,
    ``SemanticUnavailable`` when ``semantic_check`` is "on" and cannot run).
    """
    from citebot.retrieval import Library
    from citebot.retrieval.semantic import from_setting

    # A progress bar that is a context manager (the CLI's) routes log lines above itself while
    # the folder is read.
    scope = progress if hasattr(progress, "__enter__") else contextlib.nullcontext()
    with scope:
        return Library.open(
            settings.articles_dir,
            cache_dir=settings.cache_dir if settings.use_cache else None,
            max_file_bytes=settings.max_file_bytes,
            follow_outside_links=settings.follow_outside_links,
            max_question_chars=settings.max_question_chars,
            tokenize_workers=settings.tokenize_workers,
            similarity=from_setting(settings.semantic_check),
            progress=progress,
        )


def folder_watcher(library: "Library", settings: "Settings") -> "FolderWatcher | None":
    """A (not yet started) watcher keeping ``library`` in sync with its folder, or None when
    ``settings.watch`` is off. Raises ImportError when watchfiles is missing."""
    if not settings.watch:
        return None
    from citebot.retrieval.watch import FolderWatcher

    return FolderWatcher(library, debounce_ms=settings.watch_debounce_ms, stable_ms=settings.watch_stable_ms)
