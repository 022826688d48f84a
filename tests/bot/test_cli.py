"""The CLI contract from the issue, exactly: `ask`, `ask --json [-]`, `search --json`, `index`,
human output, exit codes 0/2/1, and no traceback on stderr.

Subprocess runs use ``python -m citebot.bot`` from a scratch working directory (no stray ``.env``), with
``CITEBOT_*`` variables cleared and either ``--no-cache`` or a temporary ``--cache-dir``. Folder
watching (its own issue and tests) is switched off except in the one test of the default settings.
"""
from __future__ import annotations

import io
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import helpers
from citebot.bot import cli
from citebot.retrieval.loader import decode

ROOT = helpers.ROOT
SEEDS = ROOT / "seeds"
FIXTURES = helpers.FIXTURES / "library"
CARD_QUESTION = "Where might the second summit be held?"
CARD_FILE = "north-korea-kim-orders-second-trump-summit-preparations.txt"
CARD_SENTENCE = ("North Korea observers say Vietnam is likely to be chosen as a venue for a second summit "
                 "but there has been no official confirmation.")
ANSWER_KEYS = {"question", "found", "answer", "citations", "took_ms"}
CITATION_KEYS = {"n", "title", "path", "paragraph", "quote", "score", "url", "page", "published", "source", "author"}
HIT_KEYS = {"path", "title", "paragraph", "score", "text", "page"}
UNANSWERABLE = "Who won the 1998 chess olympiad in Reykjavik?"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CITEBOT_") and k not in {"DISCORD_TOKEN", "PYTHONWARNINGS"}}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["CITEBOT_WATCH"] = "false"
    env.update(extra)
    return env


def run(cwd: Path, *args: str, input: str | bytes | None = None, env: dict[str, str] | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "citebot.bot", *args], input=input, capture_output=True,
        text=not isinstance(input, bytes), cwd=cwd, env=env or clean_env(), timeout=timeout,
    )
    stderr = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr
    return proc


def json_lines(stdout: str | bytes) -> list[dict]:
    if isinstance(stdout, bytes):
        stdout = stdout.decode("utf-8")
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    target = tmp_path / "articles"
    shutil.copytree(FIXTURES, target)
    return target


@pytest.fixture
def odd_articles(articles: Path) -> Path:
    (articles / "empty.txt").write_bytes(b"")
    (articles / "binary.md").write_bytes(b"\x00\x01\x02" * 50)
    return articles


def assert_citations_verbatim(obj: dict, folder: Path) -> None:
    for n, c in enumerate(obj["citations"], start=1):
        assert set(c) == CITATION_KEYS
        assert c["n"] == n
        assert not Path(c["path"]).is_absolute() and "\\" not in c["path"]
        raw = decode((folder / c["path"]).read_bytes(), c["path"])
        assert c["quote"] and c["quote"] in raw
        assert isinstance(c["paragraph"], int) and c["paragraph"] >= 1
        assert isinstance(c["score"], (int, float))


# --- the card question ---------------------------------------------------------------------------


def test_card_question_over_seeds_quotes_the_vietnam_sentence(tmp_path: Path) -> None:
    proc = run(tmp_path, "ask", "--json", "--no-cache", CARD_QUESTION)
    assert proc.returncode == 0, proc.stderr
    (obj,) = json_lines(proc.stdout)
    assert obj["found"] is True
    assert CARD_SENTENCE in obj["answer"]
    first = obj["citations"][0]
    assert first["path"] == CARD_FILE
    assert first["paragraph"] == 13
    assert CARD_SENTENCE in first["quote"]
    assert_citations_verbatim(obj, SEEDS)


def test_card_question_for_a_person(tmp_path: Path) -> None:
    proc = run(tmp_path, "ask", "--no-cache", CARD_QUESTION)
    assert proc.returncode == 0, proc.stderr
    assert CARD_SENTENCE in proc.stdout
    assert f"[1] North Korea’s leader orders preparations for second Trump meet — {CARD_FILE}, paragraph 13" in proc.stdout


# --- ask --json ------------------------------------------------------------------------------------------


def test_ask_json_prints_one_object_with_the_contract_keys(tmp_path: Path, articles: Path) -> None:
    proc = run(tmp_path, "ask", "--json", "--articles", str(articles), "--no-cache",
               "How many tonnes of apples did growers pick?")
    assert proc.returncode == 0, proc.stderr
    (obj,) = json_lines(proc.stdout)
    assert ANSWER_KEYS <= set(obj)
    assert obj["question"] == "How many tonnes of apples did growers pick?"
    assert obj["found"] is True and "28,500 tonnes" in obj["answer"]
    assert isinstance(obj["took_ms"], (int, float)) and obj["took_ms"] >= 0
    first = obj["citations"][0]
    assert first["path"] == "apple-harvest.md" and first["paragraph"] == 1
    assert first["title"] == "Orchard growers report a record apple harvest"
    assert first["url"] == "https://example.test/news/apple-harvest"
    assert_citations_verbatim(obj, articles)


def test_ask_json_nested_file_path_is_relative_and_posix(in_process: Path, articles: Path, capsys) -> None:
    code = cli.main(["ask", "--json", "--articles", str(articles), "--no-cache",
                     "How often will the ferry to Marrow Island sail?"])
    obj = json.loads(capsys.readouterr().out)
    assert code == 0
    assert obj["citations"][0]["path"] == "nested/region/island-ferry.txt"
    assert obj["citations"][0]["url"] is None
    assert_citations_verbatim(obj, articles)


def test_ask_json_not_found_is_success_with_empty_answer(in_process: Path, articles: Path, capsys) -> None:
    code = cli.main(["ask", "--json", "--articles", str(articles), "--no-cache", UNANSWERABLE])
    obj = json.loads(capsys.readouterr().out)
    assert code == 0
    assert ANSWER_KEYS <= set(obj)
    assert obj["found"] is False and obj["answer"] == ""


def test_ask_json_stdin_one_object_per_line_in_order(tmp_path: Path, articles: Path) -> None:
    lines = [
        "When did the Wexley harbour bridge reopen?",
        "",
        "x" * 501,
        "How many steel cables did engineers replace?",
        "   \t ",
        UNANSWERABLE,
        "How often will the ferry to Marrow Island sail?\r",
    ]
    proc = run(tmp_path, "ask", "--json", "--articles", str(articles), "--no-cache", "-",
               input="\n".join(lines) + "\n")
    assert proc.returncode == 0, proc.stderr
    objs = json_lines(proc.stdout)
    assert len(objs) == len(lines)
    assert [o["found"] for o in objs] == [True, False, False, True, False, False, True]
    for i in (1, 2, 4):  # empty, too long, blank: an error object, and the stream goes on
        assert objs[i]["error"] and objs[i]["found"] is False and objs[i]["citations"] == []
        assert objs[i]["answer"] == ""
    assert "too long" in objs[2]["error"]
    assert "error" not in objs[5]  # not found is an answer, not an error
    assert objs[0]["question"] == lines[0]
    assert objs[6]["question"] == "How often will the ferry to Marrow Island sail?"  # CRLF input
    assert "Monday" in objs[0]["answer"] and "1,240" in objs[3]["answer"] and "40 minutes" in objs[6]["answer"]
    for obj in objs:
        assert_citations_verbatim(obj, articles)


def test_ask_stdin_echoes_a_too_long_line_clipped_not_whole(tmp_path: Path, articles: Path) -> None:
    # A 5 MB line used to come back whole in the JSON error object (50 MB in, 50 MB out).
    huge, long = "why " * 1_250_000, "x" * 600
    data = f"{huge}\n{long}\nWhen did the Wexley harbour bridge reopen?\n"
    proc = run(tmp_path, "ask", "--json", "--articles", str(articles), "--no-cache", "-", input=data)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 3 and all(len(line) < 1_000 for line in lines[:2])
    first, second, third = (json.loads(line) for line in lines)
    assert first["question"] == huge[:200] + "…" and "too long" in first["error"] and first["found"] is False
    assert "5,000,000 characters" in first["error"]
    assert second["question"] == long[:200] + "…" and "too long" in second["error"]
    assert third["found"] is True and "Monday" in third["answer"]  # the stream goes on
    text = run(tmp_path, "ask", "--articles", str(articles), "--no-cache", "-", input=data)
    assert text.returncode == 0 and len(text.stdout) < 5_000, text.stdout[:300]
    assert text.stdout.count("too long") == 2 and "Monday" in text.stdout


class _RecordingStdin(io.StringIO):
    """stdin that notes how much each read asked for (None or -1: the whole line, however long)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.sizes: list[int | None] = []

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        self.sizes.append(size)
        return super().readline(size)

    def __next__(self) -> str:
        self.sizes.append(None)
        return super().__next__()


def test_ask_stdin_never_reads_an_unbounded_line(in_process: Path, articles: Path, capsys, monkeypatch) -> None:
    stdin = _RecordingStdin("q" * 1_000_000 + "\nWhen did the Wexley harbour bridge reopen?\n")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert cli.main(["ask", "--json", "--articles", str(articles), "--no-cache", "-"]) == 0
    objs = json_lines(capsys.readouterr().out)
    assert [o["found"] for o in objs] == [False, True] and objs[0]["question"] == "q" * 200 + "…"
    assert stdin.sizes and all(size is not None and 0 < size <= 1_000_000 // 4 for size in stdin.sizes), \
        stdin.sizes


def test_ask_json_stdin_survives_a_line_that_is_not_utf8(tmp_path: Path, articles: Path) -> None:
    data = b"caf\xe9 \xff bridge?\nWhen did the Wexley harbour bridge reopen?\n"
    proc = run(tmp_path, "ask", "--json", "--articles", str(articles), "--no-cache", "-", input=data,
               env=clean_env(PYTHONIOENCODING="utf-8:strict"))
    assert proc.returncode == 0, proc.stderr
    objs = json_lines(proc.stdout)
    assert len(objs) == 2 and objs[1]["found"] is True


def test_ask_json_stdin_is_flushed_after_each_line(tmp_path: Path, articles: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "citebot.bot", "ask", "--json", "--articles", str(articles), "--no-cache", "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=tmp_path, env=clean_env(),
    )
    out: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [out.put(line) for line in proc.stdout], daemon=True).start()
    try:
        for question, expected in [("When did the Wexley harbour bridge reopen?", "Monday"),
                                   ("How many steel cables did engineers replace?", "1,240")]:
            proc.stdin.write(question + "\n")
            proc.stdin.flush()
            # The answer must arrive while stdin is still open.
            obj = json.loads(out.get(timeout=30))
            assert obj["question"] == question and expected in obj["answer"]
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_ask_stdin_with_default_settings_watching_on(tmp_path: Path, articles: Path) -> None:
    env = clean_env()
    del env["CITEBOT_WATCH"]
    proc = run(tmp_path, "ask", "--json", "--articles", str(articles), "--no-cache", "-",
               input="When did the Wexley harbour bridge reopen?\n", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json_lines(proc.stdout)[0]["found"] is True


def test_ask_without_a_question_reads_piped_stdin(in_process: Path, articles: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("How many steel cables did engineers replace?\n\n"))
    code = cli.main(["ask", "--json", "--articles", str(articles), "--no-cache"])
    objs = json_lines(capsys.readouterr().out)
    assert code == 0 and len(objs) == 2
    assert objs[0]["found"] and "error" in objs[1]


def test_ask_on_a_terminal_without_a_question_opens_a_prompt(in_process: Path, articles: Path, capsys,
                                                             monkeypatch) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    answers = iter(["When did the Wexley harbour bridge reopen?", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    code = cli.main(["ask", "--articles", str(articles), "--no-cache"])
    out = capsys.readouterr().out
    assert code == 0
    assert "5 articles" in out
    assert "Wexley harbour bridge reopened to traffic on Monday" in out
    assert "[1] Wexley harbour bridge reopens after repairs — bridge-reopens.txt, paragraph 1" in out


def test_top_k_limits_the_closest_passages_of_a_no_answer(in_process: Path, articles: Path, capsys) -> None:
    question = "Who designed the harbour ferry coffee library in 1887?"  # the year appears nowhere
    counts = {}
    for k in ("1", "3"):
        assert cli.main(["ask", "--json", "--articles", str(articles), "--no-cache", "--top-k", k, question]) == 0
        obj = json.loads(capsys.readouterr().out)
        assert obj["found"] is False and obj["answer"] == "" and obj["citations"] == []
        counts[k] = len(obj["see_also"])
        for c in obj["see_also"]:
            assert set(c) == CITATION_KEYS
    assert counts == {"1": 1, "3": 3}


# --- human output -------------------------------------------------------------------------------


def test_ask_for_a_person_prints_the_answer_then_numbered_sources(in_process: Path, articles: Path, capsys) -> None:
    code = cli.main(["ask", "--articles", str(articles), "--no-cache", "When did the Wexley harbour bridge reopen?"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0].startswith("“The Wexley harbour bridge reopened to traffic on Monday") and out[0].endswith("[1]")
    assert "Sources:" in out
    i = out.index("Sources:")
    assert out[i + 1] == "[1] Wexley harbour bridge reopens after repairs — bridge-reopens.txt, paragraph 1"
    assert out[i + 2:] == []  # the quote is not printed again under its source


def test_ask_for_a_person_shows_links_and_says_when_not_found(in_process: Path, articles: Path, capsys) -> None:
    cli.main(["ask", "--articles", str(articles), "--no-cache", "How many tonnes of apples did growers pick?"])
    assert ("apple-harvest.md, paragraph 1 (Valley Gazette, 2024-09-14) <https://example.test/news/apple-harvest>"
            in capsys.readouterr().out)
    code = cli.main(["ask", "--articles", str(articles), "--no-cache", UNANSWERABLE])
    assert code == 0
    assert "don't answer" in capsys.readouterr().out


def test_human_output_neutralises_terminal_control_sequences(in_process: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "hostile"
    folder.mkdir()
    (folder / "esc.txt").write_bytes(b"Ferry news\n\nThe ferry \x1b[2J\x1b]0;pwned\x07 sails to Marrow Island at noon.\n")
    cli.main(["search", "--articles", str(folder), "--no-cache", "ferry Marrow Island"])
    out = capsys.readouterr().out
    assert "Marrow Island" in out and "\x1b" not in out and "\x07" not in out
    cli.main(["search", "--json", "--articles", str(folder), "--no-cache", "ferry Marrow Island"])
    assert "\x1b[2J" in json.loads(capsys.readouterr().out)["hits"][0]["text"]  # JSON stays exact


def test_search_for_a_person_numbers_the_passages(in_process: Path, articles: Path, capsys) -> None:
    code = cli.main(["search", "--articles", str(articles), "--no-cache", "harbour bridge cables"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("[1] Wexley harbour bridge reopens after repairs — bridge-reopens.txt, paragraph ")
    assert "[2] " in out


# --- search --json -----------------------------------------------------------------------------------------


def test_search_json_shape_and_ranking(tmp_path: Path, articles: Path) -> None:
    proc = run(tmp_path, "search", "--json", "--articles", str(articles), "--no-cache", "--top-k", "4",
               "steel cables repainted span")
    assert proc.returncode == 0, proc.stderr
    (obj,) = json_lines(proc.stdout)
    assert set(obj) == {"query", "hits"} and obj["query"] == "steel cables repainted span"
    hits = obj["hits"]
    assert 1 <= len(hits) <= 4
    assert all(set(h) == HIT_KEYS for h in hits)
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    assert (hits[0]["path"], hits[0]["paragraph"]) == ("bridge-reopens.txt", 2)
    for h in hits:
        assert h["text"] in decode((articles / h["path"]).read_bytes(), h["path"])


def test_search_json_stdin_one_object_per_line(in_process: Path, articles: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("coffee Brazil\nzzzunknownword\nferry\n"))
    code = cli.main(["search", "--json", "--articles", str(articles), "--no-cache", "-"])
    objs = json_lines(capsys.readouterr().out)
    assert code == 0
    assert [o["query"] for o in objs] == ["coffee Brazil", "zzzunknownword", "ferry"]
    assert objs[0]["hits"][0]["path"] == "markets/coffee-prices.md"
    assert objs[1]["hits"] == []
    assert objs[2]["hits"][0]["path"] == "nested/region/island-ferry.txt"


def test_search_ties_are_ordered_deterministically(in_process: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "twins"
    folder.mkdir()
    for name in ("b.txt", "a.txt", "c.txt"):
        (folder / name).write_text("Twin\n\nThe lighthouse keeper rang the bell.\n")
    cli.main(["search", "--json", "--articles", str(folder), "--no-cache", "lighthouse"])
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert [h["path"] for h in hits] == ["a.txt", "b.txt", "c.txt"]
    assert len({h["score"] for h in hits}) == 1


# --- index ------------------------------------------------------------------------------------------------


def test_index_json_counts_and_skipped_files_with_reasons(tmp_path: Path, odd_articles: Path) -> None:
    proc = run(tmp_path, "index", "--json", "--articles", str(odd_articles), "--cache-dir", str(tmp_path / "cache"))
    assert proc.returncode == 0, proc.stderr
    (obj,) = json_lines(proc.stdout)
    assert obj["articles"] == 5 and obj["passages"] == 11
    assert isinstance(obj["took_ms"], (int, float))
    reasons = {s["path"]: s["reason"] for s in obj["skipped"]}
    assert set(reasons) == {"empty.txt", "binary.md"}
    assert "empty" in reasons["empty.txt"] and "binary" in reasons["binary.md"]
    assert obj["from_cache"] is False
    # A second run loads the cache, and still reports the skipped files.
    again = json_lines(run(tmp_path, "index", "--json", "--articles", str(odd_articles),
                           "--cache-dir", str(tmp_path / "cache")).stdout)[0]
    assert again["from_cache"] is True and again["skipped"] == obj["skipped"]
    assert (again["articles"], again["passages"]) == (5, 11)


def test_index_for_a_person_lists_counts_and_skips(in_process: Path, odd_articles: Path, tmp_path: Path, capsys) -> None:
    code = cli.main(["index", "--articles", str(odd_articles), "--cache-dir", str(tmp_path / "cache")])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("5 articles, 11 passages indexed from ")
    assert "skipped empty.txt: empty file" in out
    assert "skipped binary.md: binary" in out
    assert (tmp_path / "cache").is_dir()


def test_piped_index_output_has_no_progress_but_a_terminal_gets_it() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert cli._progress_printer(io.StringIO()) is None
    terminal = Tty()
    show = cli._progress_printer(terminal)
    show("read", 200, 500)
    show("index", 500, 500)
    assert "files read: 200/500" in terminal.getvalue() and "500/500" in terminal.getvalue()


def test_cache_dir_inside_the_articles_folder_is_refused(tmp_path: Path, articles: Path) -> None:
    before = sorted(articles.rglob("*"))
    proc = run(tmp_path, "index", "--json", "--articles", str(articles), "--cache-dir", str(articles / "cache"))
    assert proc.returncode == 0
    assert "inside the articles folder" in proc.stderr
    assert sorted(articles.rglob("*")) == before


# --- exit codes and errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["ask", "--no-cache", ""],
        ["ask", "--no-cache", "   "],
        ["ask", "--no-cache", "x" * 600],
        ["ask", "--no-cache", "--articles", "/nonexistent/citebot-folder", "Where?"],
        ["search", "--no-cache", "--articles", "/nonexistent/citebot-folder", "summit"],
        ["index", "--no-cache", "--articles", "/nonexistent/citebot-folder"],
        ["ask", "--no-cache", "--top-k", "0", "Where?"],
        ["search", "--no-cache", ""],
    ],
)
def test_usage_errors_exit_2_with_one_line(in_process: Path, capsys, args: list[str]) -> None:
    code = cli.main(args)
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("citebot: ")
    assert "Traceback" not in captured.err


def test_usage_errors_in_a_real_process(tmp_path: Path) -> None:
    missing = run(tmp_path, "ask", "--json", "--articles", str(tmp_path / "missing"), "Where?")
    assert missing.returncode == 2 and missing.stdout == ""
    assert len(missing.stderr.strip().splitlines()) == 1 and "does not exist" in missing.stderr
    empty = run(tmp_path, "ask", "--no-cache", "")
    assert empty.returncode == 2 and "empty" in empty.stderr and empty.stdout == ""


@pytest.mark.parametrize("args", [[], ["ask", "--top-k", "many", "Where?"], ["frobnicate"]])
def test_argument_errors_exit_2(in_process: Path, capsys, args: list[str]) -> None:
    assert cli.main(args) == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "variable, value, mentioned",
    [("CITEBOT_TOP_K", "zero", "top_k"), ("CITEBOT_TOP_K", "0", "top_k"),
     ("CITEBOT_LOG_LEVEL", "chatty", "CITEBOT_LOG_LEVEL")],
)
def test_bad_environment_is_a_usage_error(in_process: Path, capsys, monkeypatch, variable: str, value: str,
                                          mentioned: str) -> None:
    monkeypatch.setenv(variable, value)
    assert cli.main(["search", "--no-cache", "summit"]) == 2
    err = capsys.readouterr().err
    assert mentioned in err and len(err.strip().splitlines()) == 1


def test_articles_path_that_is_a_file_is_a_usage_error(in_process: Path, articles: Path, capsys) -> None:
    assert cli.main(["search", "--no-cache", "--articles", str(articles / "bridge-reopens.txt"), "x"]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_unexpected_errors_exit_1_with_one_line_and_no_traceback(in_process: Path, articles: Path, capsys,
                                                                  monkeypatch) -> None:
    from citebot.retrieval import Library

    def broken(self, question, top_k=5):
        raise RuntimeError("index exploded")

    monkeypatch.setattr(Library, "ask", broken)
    code = cli.main(["ask", "--json", "--articles", str(articles), "--no-cache", "Where?"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.strip() == "citebot: error: RuntimeError: index exploded"
    assert captured.out == ""


def test_help_exits_0(in_process: Path, capsys) -> None:
    assert cli.main(["--help"]) == 0
    assert "ask" in capsys.readouterr().out


def test_flags_override_environment(in_process: Path, articles: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CITEBOT_TOP_K", "1")
    monkeypatch.setenv("CITEBOT_ARTICLES_DIR", str(articles))
    cli.main(["search", "--json", "--no-cache", "harbour"])
    from_env = json.loads(capsys.readouterr().out)
    assert len(from_env["hits"]) == 1  # the environment's top_k and folder apply
    assert from_env["hits"][0]["path"] == "bridge-reopens.txt"
    cli.main(["search", "--json", "--no-cache", "--top-k", "3", "harbour"])
    assert len(json.loads(capsys.readouterr().out)["hits"]) == 3


def test_version_names_the_installed_version(capsys) -> None:
    from importlib.metadata import version

    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"citebot {version('citebot')}"


def test_log_level_from_dotenv_applies_to_one_shot_commands_and_is_restored(in_process: Path, articles: Path,
                                                                              monkeypatch) -> None:
    """``log_level`` comes from every settings layer (here .env), not only CITEBOT_LOG_LEVEL."""
    import logging

    from citebot.retrieval import Library

    (in_process / ".env").write_text("CITEBOT_LOG_LEVEL=DEBUG\n")
    seen: list[int] = []
    real_search = Library.search

    def spy(self, *args, **kwargs):
        seen.append(logging.getLogger().getEffectiveLevel())
        return real_search(self, *args, **kwargs)

    monkeypatch.setattr(Library, "search", spy)
    before = logging.getLogger().level
    assert cli.main(["search", "--no-cache", "--articles", str(articles), "summit"]) == 0
    assert seen == [logging.DEBUG]
    assert logging.getLogger().level == before


def test_tokenize_workers_is_a_checked_setting_that_reaches_the_engine(in_process: Path, articles: Path,
                                                                        capsys, monkeypatch) -> None:
    """CITEBOT_TOKENIZE_WORKERS is validated like every setting, and a .env value reaches the engine."""
    monkeypatch.setenv("CITEBOT_TOKENIZE_WORKERS", "lots")
    assert cli.main(["index", "--no-cache", "--articles", str(articles)]) == 2
    err = capsys.readouterr().err
    assert "tokenize_workers" in err and "CITEBOT_TOKENIZE_WORKERS" in err and len(err.strip().splitlines()) == 1
    monkeypatch.delenv("CITEBOT_TOKENIZE_WORKERS")
    (in_process / ".env").write_text("CITEBOT_TOKENIZE_WORKERS=1\n")
    assert cli.main(["index", "--no-cache", "--articles", str(articles)]) == 0
    from citebot.bot.compose import open_library
    from citebot.config import load_settings
    from citebot.retrieval.build import tokenize_workers

    library = open_library(load_settings(articles_dir=articles, use_cache=False))
    assert library.tokenize_workers == 1  # handed to the engine, not left in the environment
    assert "CITEBOT_TOKENIZE_WORKERS" not in os.environ
    assert tokenize_workers(1) == 0  # 1 = in-process


def test_every_engine_exception_is_a_citebot_error_and_keeps_its_builtin_base() -> None:
    """One hierarchy: front ends catch ``UserError`` (message safe to show) instead of each class."""
    from citebot.retrieval.cache import CacheError
    from citebot.retrieval.errors import CitebotError, UserError
    from citebot.retrieval.formats import FormatError
    from citebot.retrieval.intake import IntakeError
    from citebot.retrieval.library import FolderError, QuestionError
    from citebot.retrieval.ranker import ModelError

    for cls, builtin in ((QuestionError, ValueError), (FolderError, ValueError), (IntakeError, ValueError),
                         (ModelError, RuntimeError), (FormatError, Exception)):
        assert issubclass(cls, UserError) and issubclass(cls, builtin), cls
    assert issubclass(CacheError, CitebotError) and not issubclass(CacheError, UserError)
    from citebot.bot.compose import EXIT_ERROR, EXIT_USAGE, exit_status

    assert exit_status(FolderError("no folder")) == EXIT_USAGE and exit_status(CacheError("x")) == EXIT_ERROR


@pytest.mark.parametrize("package, error", [("citebot.bot", "SystemExit"), ("citebot.retrieval", "ImportError")])
def test_an_older_python_gets_one_line_naming_the_version_it_needs(package: str, error: str) -> None:
    # Python 3.10 cannot be run here: pretend to be it before the package is first imported.
    code = (f"import sys; sys.version_info = (3, 10, 12, 'final', 0); sys.version = '3.10.12 (fake)'\n"
            f"try:\n    import {package}\nexcept BaseException as exc:\n"
            f"    print(type(exc).__name__, exc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.strip() == f"{error} citebot needs Python 3.11 or newer; this is Python 3.10.12"
