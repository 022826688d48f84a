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

from citebot.bot.compose import EXIT_OK, UsageError, exit_status, folder_watcher, open_library
from citebot.bot.format import answer_json, answer_text, error_json, hits_json, hits_text
from citebot.bot.terminal import LineEditing, ProgressBar, for_terminal, is_terminal, output_width, plural, use_colour
from citebot.retrieval.errors import UserError

log = logging.getLogger("citebot")


def _folder(text: str) -> Path:
    """A folder flag: ``Path("")`` would be the working directory, so an empty one is refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return Path(text)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("citebot")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="citebot", description="Answer questions about a folder of articles, with exact quotes."
    )
    parser.add_argument("--version", action="version", version=f"citebot {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="{ask,search,index,run,report}")
    sub.required = True

    from citebot.config.settings import user_config_file

    def config(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", type=_folder, metavar="FILE",
                       help="settings file (default: %s, if it exists)" % _shown(user_config_file()))

    def common(p: argparse.ArgumentParser, top_k: bool = True) -> None:
        config(p)
        p.add_argument("--articles", type=_folder, metavar="DIR", help="articles folder (default: the bundled seed articles)")
        p.add_argument("--cache-dir", type=_folder, metavar="DIR", help="index cache folder")
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
    config(run)
    run.add_argument("--articles", type=_folder, metavar="DIR", help="articles folder")
    run.add_argument("--cache-dir", type=_folder, metavar="DIR", help="index cache folder")
    run.add_argument("--no-cache", action="store_true", help="do not read or write the index cache")
    run.add_argument("--sync-global", action="store_true", help="sync slash commands globally")
    report = sub.add_parser("report", help="questions the articles could not answer and answers voted down")
    config(report)
    report.add_argument("--cache-dir", type=_folder, metavar="DIR", help="cache folder holding record.sqlite3")
    report.add_argument("--record", type=_folder, metavar="FILE", help="the record file (default: from settings)")
    report.add_argument("--since", type=_since, metavar="WHEN",
                        help="only questions since a date (2026-11-30) or for the last N days (7d)")
    report.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _shown(path: Path) -> str:
    """``path`` with the home folder as ``~`` (help text; argparse needs ``%`` doubled)."""
    try:
        text = "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        text = str(path)
    return text.replace("%", "%%")


def _since(text: str) -> float:
    """``7d`` (the last 7 days) or an ISO date/time, as a Unix time."""
    from datetime import datetime, timezone

    text = text.strip()
    if text.endswith("d") and text[:-1].isdigit():
        return time.time() - int(text[:-1]) * 86_400
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("use a date like 2026-11-30 or a number of days like 7d") from None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def _settings(args: argparse.Namespace):
    """Settings for this run; any bad setting is a usage error (one line, exit 2: systemd's unit
    does not restart on 2, since restarting cannot fix a setting)."""
    from pydantic import ValidationError

    from citebot.config import SettingsLoadError, load_settings

    overrides: dict[str, Any] = {
        "articles_dir": getattr(args, "articles", None),
        "cache_dir": getattr(args, "cache_dir", None),
        "top_k": getattr(args, "top_k", None),
        "record_path": getattr(args, "record", None),
    }
    if getattr(args, "no_cache", False):
        overrides["use_cache"] = False
    try:
        settings = load_settings(getattr(args, "config", None), **overrides)
    except SettingsLoadError as exc:
        raise UsageError(str(exc)) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        raise UsageError(f"invalid setting {where}: {first.get('msg')}") from None
    # log_level from any layer (TOML, .env, CITEBOT_LOG_LEVEL); main() restores the level after.
    logging.getLogger().setLevel(settings.log_level or _default_log_level(args.command))
    return settings


def _default_log_level(command: str) -> str:
    """Unset ``log_level``: the bot logs what it serves, the one-shot commands warnings only."""
    return "INFO" if command == "run" else "WARNING"


def _progress_printer(stream: TextIO) -> ProgressBar | None:
    """A progress bar on a terminal only: piped output and logs stay clean."""
    if not is_terminal(stream):
        return None
    return ProgressBar(stream, colour=use_colour(stream))


def _print_text(text: str) -> None:
    """Human output: on a terminal wrapped to its width (and coloured unless NO_COLOR);
    piped, exactly the text."""
    print(for_terminal(text, width=output_width(sys.stdout), colour=use_colour(sys.stdout)), flush=True)


@contextlib.contextmanager
def watching(library, settings) -> Iterator[None]:
    """Keep the index in sync with the folder while a long-lived mode runs."""
    watcher = folder_watcher(library, settings)
    if watcher is None:
        yield
        return
    with watcher:
        yield


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


# An error reply echoes at most this much of the question: a 50 MB line is not sent back whole.
ECHO_CHARS = 200
_CHUNK = 65_536


def _echo(question: str) -> str:
    """The question as an error reply repeats it: clipped with "…" when long."""
    return question if len(question) <= ECHO_CHARS else question[:ECHO_CHARS] + "…"


def _skip_rest_of_line(lines: TextIO) -> int:
    """Read and drop the rest of an over-long line in bounded chunks; return its length."""
    skipped = 0
    while True:
        chunk = lines.readline(_CHUNK)
        skipped += len(chunk.rstrip("\r\n"))
        if not chunk or chunk.endswith("\n"):
            return skipped


def _stream(lines: TextIO, handle: Callable[[str], None], *, max_line: int | None = None,
            too_long: Callable[[str, int], None] | None = None) -> None:
    """One question per line, in order. A line that is not valid UTF-8 must not end the
    stream: undecodable bytes become U+FFFD and the line is answered (or refused) like any other.

    With ``max_line``, no more than that many characters of a line are ever held: a longer
    line goes to ``too_long(first_part, length)`` and the rest of it is read and dropped."""
    reconfigure = getattr(lines, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="replace")
    while True:
        line = lines.readline(max_line) if max_line else lines.readline()
        if not line:
            return
        if max_line and too_long and len(line) >= max_line and not line.endswith("\n"):
            too_long(line, len(line) + _skip_rest_of_line(lines))
            continue
        handle(line.rstrip("\r\n"))


def _no_articles_note(library, folder: Path) -> str | None:
    """A friendly line when the folder holds no articles yet (empty, or every file skipped):
    "the articles don't answer that" would wrongly suggest they were searched."""
    stats = library.stats()
    if stats.articles:
        return None
    skipped = f" ({len(stats.skipped)} skipped; `citebot index` says why)" if stats.skipped else ""
    return f"No articles yet in {folder}{skipped}: add text, Markdown, HTML, PDF, DOCX, EPUB or RSS/Atom files there."


def cmd_ask(args: argparse.Namespace) -> int:
    from citebot.retrieval import QuestionError

    settings = _settings(args)
    question = " ".join(args.question)
    if args.question and not question.strip():
        raise UsageError("the question is empty; ask something like: citebot ask \"Where might the second summit be held?\"")
    if not question and not sys.stdin.isatty():
        question = "-"
    library = open_library(settings, _progress_printer(sys.stderr))
    top_k = settings.top_k

    def refuse(q: str, message: str) -> None:
        if args.json:
            _emit(error_json(_echo(q), message))
        else:
            print(message, flush=True)

    def show(answer, end: str = "") -> None:
        note = _no_articles_note(library, settings.articles_dir)
        if args.json:
            _emit({**answer_json(answer), "note": note} if note else answer_json(answer))
        else:
            _print_text((note or answer_text(answer)) + end)

    def answer_one(q: str) -> None:
        try:
            answer = library.ask(q, top_k)
        except QuestionError as exc:
            refuse(q, str(exc))
            return
        show(answer, "\n")

    def too_long(start: str, length: int) -> None:
        limit = library.max_question_chars
        refuse(start, f"That question is too long ({length:,} characters; the limit is {limit:,}).")

    if question == "-":
        # A line this long is refused as too long (however much of it is whitespace) without
        # ever being held in memory whole.
        max_line = max(_CHUNK, 4 * library.max_question_chars)
        with watching(library, settings):
            _stream(sys.stdin, answer_one, max_line=max_line, too_long=too_long)
        return EXIT_OK
    if not question:
        return _interactive(library, settings, args.json)
    show(library.ask(question, top_k))  # a QuestionError is a UserError: one line, exit 2
    return EXIT_OK


NEW_CONVERSATION = "/new"


def _interactive(library, settings, as_json: bool) -> int:
    """The prompt reads each question with the one before it (follow-ups: "and when?", "who
    is he?"); ``/new`` starts a new conversation."""
    import dataclasses

    from citebot.retrieval import QuestionError
    from citebot.retrieval.followup import Turn, resolve

    stats = library.stats()
    print(f"citebot: {plural(stats.articles, 'article')}, {plural(stats.passages, 'passage')} "
          f"from {settings.articles_dir}.")
    print(f"Ask a question (empty line or Ctrl-D to quit; follow-ups are read with the question "
          f"before, {NEW_CONVERSATION} starts over).")
    history: list[Turn] = []
    # Arrow keys and history (readline) only where input() really reads a terminal.
    editing = LineEditing() if is_terminal(sys.stdin) and is_terminal(sys.stdout) else contextlib.nullcontext()
    with watching(library, settings), editing:
        while True:
            try:
                line = input("? ")
            except (EOFError, KeyboardInterrupt):
                print()
                break
            if not line.strip():
                break
            if line.strip().lower() == NEW_CONVERSATION:
                history.clear()
                print("(new conversation)")
                continue
            resolution = resolve(line, history, max_chars=library.max_question_chars)
            try:
                answer = library.ask(resolution.question, settings.top_k, meaning=resolution.meaning)
            except QuestionError as exc:
                print(_echo_error(as_json, line, str(exc)), flush=True)
                continue
            answer = dataclasses.replace(answer, question=resolution.asked)  # dates: filled by ask
            read_with = history[-1].shown if resolution.followup and history else None
            note = _no_articles_note(library, settings.articles_dir)
            if as_json:
                _emit(answer_json(answer) | {"followup_of": read_with} | ({"note": note} if note else {}))
            else:
                if read_with is not None:
                    print(f"(read with “{read_with}”; {NEW_CONVERSATION} starts over)")
                _print_text((note or answer_text(answer)) + "\n")
            history = [dataclasses.replace(resolution.turn(answer.text if answer.found else ""),
                                           asked=resolution.asked)]
    return EXIT_OK


def _echo_error(as_json: bool, question: str, message: str) -> str:
    return json.dumps(error_json(_echo(question), message), ensure_ascii=False) if as_json else message


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
            _print_text(hits_text(q, hits) + "\n")

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
        print(f"{plural(stats.articles, 'article')}, {plural(stats.passages, 'passage')} indexed from "
              f"{settings.articles_dir} in {took / 1000:.2f} s"
              f"{' (cache)' if stats.from_cache else ''}.")
        for s in stats.skipped:
            print(f"skipped {s.path}: {s.reason}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from citebot.bot.runner import run_bot

    return run_bot(settings, sync_global=args.sync_global)


def cmd_report(args: argparse.Namespace) -> int:
    """The record's gaps, most frequent first; never creates a record file."""
    from citebot.bot.record import Record, RecordUnavailable, gaps_json, gaps_text

    settings = _settings(args)
    path = settings.record_file
    if path is None or not path.is_file():
        where = path if path is not None else "(none: set record_path, or use_cache = true)"
        if args.json:
            _emit({"record": str(path) if path else None, "gaps": []})
        else:
            print(f"No record of questions yet at {where}.")
        return EXIT_OK
    record = Record(path, retention_days=settings.record_retention_days)
    try:
        record.open(read_only=True)
        gaps = record.gaps(since=args.since)
    except RecordUnavailable as exc:
        raise UsageError(str(exc)) from None
    finally:
        record.close()
    if args.json:
        _emit({"record": str(path), "gaps": gaps_json(gaps)})
    else:
        print(gaps_text(gaps))
    return EXIT_OK


COMMANDS = {"ask": cmd_ask, "search": cmd_search, "index": cmd_index, "run": cmd_run, "report": cmd_report}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    root = logging.getLogger()
    previous = root.level  # in-process callers (tests) get their level back
    logging.basicConfig(level=_default_log_level(args.command), format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        return _dispatch(args)
    finally:
        root.setLevel(previous)


def _dispatch(args: argparse.Namespace) -> int:
    """Run the command; every exception becomes one line and its status from ``exit_status``."""
    try:
        return COMMANDS[args.command](args)
    except UserError as exc:  # a bad flag or setting, no articles folder, a broken install
        print(f"citebot: {exc}", file=sys.stderr)
        return exit_status(exc)
    except KeyboardInterrupt as exc:
        return exit_status(exc)
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
        return exit_status(exc)


if __name__ == "__main__":
    raise SystemExit(main())
