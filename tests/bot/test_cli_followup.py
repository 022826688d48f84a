"""The CLI prompt reads a follow-up with the question before it; ``/new`` starts over."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from citebot.bot import cli
from fixtures.discord.simbot import SEEDS


def prompt(monkeypatch, capsys, lines: list[str], *extra: str) -> str:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    answers = iter([*lines, ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    monkeypatch.setenv("CITEBOT_WATCH", "false")
    assert cli.main(["ask", "--articles", str(SEEDS), "--no-cache", *extra]) == 0
    return capsys.readouterr().out


def test_prompt_reads_a_follow_up_with_the_last_question(monkeypatch, capsys, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    out = prompt(monkeypatch, capsys, ["Who is Vipin Narang?", "What does he think North Korea wants?"])
    assert "(read with “Who is Vipin Narang?”; /new starts over)" in out
    assert "peace treaty" in out.split("(read with")[1]


def test_new_starts_a_fresh_conversation(monkeypatch, capsys, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    out = prompt(monkeypatch, capsys, ["Who is Vipin Narang?", "/new", "What does he think North Korea wants?"])
    assert "(new conversation)" in out and "(read with" not in out


def test_prompt_json_names_the_question_a_follow_up_was_read_with(monkeypatch, capsys, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    out = prompt(monkeypatch, capsys, ["Where might the second summit be held?", "Has that been confirmed?"], "--json")
    objs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert objs[0]["followup_of"] is None
    assert objs[1]["followup_of"] == "Where might the second summit be held?"
    assert objs[1]["question"] == "Has that been confirmed?" and "official confirmation" in objs[1]["answer"]


def test_prompt_over_an_empty_folder_says_there_are_no_articles_yet(monkeypatch, capsys, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    answers = iter(["Where might the second summit be held?", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    monkeypatch.setenv("CITEBOT_WATCH", "false")
    assert cli.main(["ask", "--articles", str(empty), "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "No articles yet in" in out and "don't answer" not in out
