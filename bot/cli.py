"""`citebot ask|search|index|run`: the composition root for the command line.

Exit status: 0 success (also when nothing is found), 2 usage errors, 1 anything else. Errors are
one line on stderr; a traceback only with CITEBOT_DEBUG=1.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO

from bot.format import answer_json, answer_text, error_json, hits_json, hits_text

log = logging.getLogger("citebot")

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad invocation: one-line message, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="citebot", description="Answer questions about a folder of articles, with exact quotes."
    )
    sub = parser.add_subparsers(dest="command", metavar="{ask,search,index,run}")
    sub.required = True

    def common(p: argparse.ArgumentParser, top_k: bool = True) -> None:
        p.add_argument("--articles", type=Path, metavar="DIR", help="articles folder (default: seeds/)")
        p.add_argument("--cache-dir", type=Path, metavar="DIR", help="index cache folder")
        p.add_argument("--no-cache", action="store_true", help="do not read or write the index cache")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        if top_k:
            p.add_argument("--top-k", type=int, metavar="N", help="passages/citations to consider")

    ask = sub.add_parser("ask", help="answer a question with cited quotes ('-' reads stdin lines)")
    common(ask)
    ask.add_argument("question", nargs="*", help="the question; '-' for one per stdin line")
    search = sub.add_parser("search", help="BM25-ranked passages for a query ('-' reads stdin lines)")
    common(search)
    search.add_argument("query", nargs="*", help="the query; '-' for one per stdin line")
    index = sub.add_parser("index", help="build or refresh the index cache")
    common(index, top_k=False)
    run = sub.add_parser("run", help="start the Discord bot")
    run.add_argument("--articles", type=Path, metavar="DIR", help="articles folder")
    run.add_argument("--cache-dir", type=Path, metavar="DIR", help="index cache folder")
    run.add_argument("--no-cache", action="store_true", help="do not read or write the index cache")
    run.add_argument("--sync-global", action="store_true", help="sync slash commands globally")
    return parser


def _settings(args: argparse.Namespace):
    from pydantic import ValidationError

    from config import load_settings

    overrides: dict[str, Any] = {
        "articles_dir": getattr(args, "articles", None),
        "cache_dir": getattr(args, "cache_dir", None),
        "top_k": getattr(args, "top_k", None),
    }
    if getattr(args, "no_cache", False):
        overrides["use_cache"] = False
    try:
        return load_settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        raise UsageError(f"invalid setting {where}: {first.get('msg')}") from None


def _progress_printer(stream: TextIO) -> Callable[[str, int, int], None] | None:
    """Progress on a terminal only: piped output stays clean."""
    if not stream.isatty():
        return None

    def show(stage: str, done: int, total: int) -> None:
        label = "files read" if stage == "read" else "articles indexed"
        stream.write(f"\r{label}: {done:,}/{total:,}   ")
        if stage == "index":
            stream.write("\n")
        stream.flush()

    return show


def _cache_dir(settings) -> Path | None:
    """The cache folder to use, or None (the Library refuses one inside the articles folder)."""
    return settings.cache_dir if settings.use_cache else None


def open_library(settings, progress=None):
    from retrieval import FolderError, Library

    try:
        return Library.open(
            settings.articles_dir,
            cache_dir=_cache_dir(settings),
            max_file_bytes=settings.max_file_bytes,
            follow_outside_links=settings.follow_outside_links,
            max_question_chars=settings.max_question_chars,
            progress=progress,
        )
    except FolderError as exc:
        raise UsageError(str(exc)) from None


@contextlib.contextmanager
def watching(library, settings) -> Iterator[None]:
    """Keep the index in sync with the folder while a long-lived mode runs."""
    if not settings.watch:
        yield
        return
    from retrieval.watch import FolderWatcher

    with FolderWatcher(
        library, debounce_ms=settings.watch_debounce_ms, stable_ms=settings.watch_stable_ms
    ):
        yield


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _stream(lines: TextIO, handle: Callable[[str], None]) -> None:
    """One question per line, in order. A line that is not valid UTF-8 must not end the
    stream: undecodable bytes become U+FFFD and the line is answered (or refused) like any other."""
    reconfigure = getattr(lines, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="replace")
    for line in lines:
        handle(line.rstrip("\r\n"))


def cmd_ask(args: argparse.Namespace) -> int:
    from retrieval import QuestionError

    settings = _settings(args)
    question = " ".join(args.question)
    if args.question and not question.strip():
        raise UsageError("the question is empty; ask something like: citebot ask \"Where might the second summit be held?\"")
    if not question and not sys.stdin.isatty():
        question = "-"
    library = open_library(settings, _progress_printer(sys.stderr))
    top_k = settings.top_k

    def answer_one(q: str) -> None:
        try:
            answer = library.ask(q, top_k)
        except QuestionError as exc:
            if args.json:
                _emit(error_json(q, str(exc)))
            else:
                print(str(exc), flush=True)
            return
        if args.json:
            _emit(answer_json(answer))
        else:
            print(answer_text(answer) + "\n", flush=True)

    if question == "-":
        with watching(library, settings):
            _stream(sys.stdin, answer_one)
        return EXIT_OK
    if not question:
        return _interactive(library, settings, answer_one)
    try:
        answer = library.ask(question, top_k)
    except QuestionError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        _emit(answer_json(answer))
    else:
        print(answer_text(answer))
    return EXIT_OK


def _interactive(library, settings, answer_one: Callable[[str], None]) -> int:
    stats = library.stats()
    print(f"citebot: {stats.articles} articles, {stats.passages} passages from {settings.articles_dir}.")
    print("Ask a question (empty line or Ctrl-D to quit).")
    with watching(library, settings):
        while True:
            try:
                line = input("? ")
            except (EOFError, KeyboardInterrupt):
                print()
                break
            if not line.strip():
                break
            answer_one(line)
    return EXIT_OK


def cmd_search(args: argparse.Namespace) -> int:
    settings = _settings(args)
    query = " ".join(args.query)
    if not args.query and not sys.stdin.isatty():
        query = "-"
    if not query.strip():
        raise UsageError("the query is empty")
    library = open_library(settings, _progress_printer(sys.stderr))

    def search_one(q: str) -> None:
        hits = library.search(q, settings.top_k) if q.strip() else []
        if args.json:
            _emit(hits_json(q, hits))
        else:
            print(hits_text(q, hits) + "\n", flush=True)

    if query == "-":
        with watching(library, settings):
            _stream(sys.stdin, search_one)
    else:
        search_one(query)
    return EXIT_OK


def cmd_index(args: argparse.Namespace) -> int:
    settings = _settings(args)
    started = time.perf_counter()
    library = open_library(settings, _progress_printer(sys.stderr))
    stats = library.stats()
    took = (time.perf_counter() - started) * 1000
    if args.json:
        _emit({
            "articles_dir": str(settings.articles_dir), "articles": stats.articles,
            "passages": stats.passages, "took_ms": round(took, 1), "from_cache": stats.from_cache,
            "skipped": [{"path": s.path, "reason": s.reason} for s in stats.skipped],
        })
    else:
        print(f"{stats.articles:,} articles, {stats.passages:,} passages indexed from "
              f"{settings.articles_dir} in {took / 1000:.2f} s"
              f"{' (cache)' if stats.from_cache else ''}.")
        for s in stats.skipped:
            print(f"skipped {s.path}: {s.reason}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from bot.runner import run_bot

    return run_bot(settings, sync_global=args.sync_global)


COMMANDS = {"ask": cmd_ask, "search": cmd_search, "index": cmd_index, "run": cmd_run}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    level = os.environ.get("CITEBOT_LOG_LEVEL", "WARNING" if args.command != "run" else "INFO").upper()
    if not isinstance(logging.getLevelName(level), int):
        print(f"citebot: CITEBOT_LOG_LEVEL={level!r} is not a log level (DEBUG, INFO, WARNING, ERROR)",
              file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"citebot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`citebot search - | head -1`): stop quietly. Point stdout at
        # devnull so the interpreter's final flush does not complain on stderr.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # one line for people; the traceback only when asked for
        if os.environ.get("CITEBOT_DEBUG"):
            raise
        print(f"citebot: error: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
