"""Hostile questions on every front end: a sensible reply each, never a traceback, never a ping.

The same list of junk questions (empty, 100k characters, control characters, zero-width and RTL
text, emoji, markdown and code, @everyone and mention syntax, SQL and shell metacharacters) goes
through the CLI (``ask QUESTION`` and ``ask -`` on stdin) and through Discord (``!ask``, ``/ask``
and @mention, in simcord); each gets exactly one reply that is an answer, a "not found" or a short
"please ask a question" / "too long", and every recorded send parses no mentions.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import simcord
from discord.ext import commands

import helpers
from citebot.bot import cli
from fixtures.discord.simbot import ARTICLES, assert_no_pings, embed_text, errors_of, make_bot

ROOT = helpers.ROOT

HOSTILE = {
    "empty": "",
    "whitespace": "   \n\t ",
    "huge": "why " * 25_000,
    "control": "\x00\x01\x02 ferry \x7f\x1b[31m",
    "zero-width": "\u200b\u200c\u200d\ufeff",
    "rtl": "\u202eyrref ruobrah eht nur lliw netfo woH",
    "emoji": "⛴️🌊🔥",
    "markdown": "**How often** will the _harbour_ ~~ferry~~ `run`? [x](https://evil.example)",
    "code-block": "```py\nimport os; os.system('reboot')\n```",
    "everyone": "@everyone @here how often will the ferry run?",
    "mention-syntax": "<@123456789012345678> <@&987654321098765432> <#1> how often will the ferry run?",
    "sql": "'; DROP TABLE articles; -- how often will the ferry run",
    "shell": "$(rm -rf /) `reboot` | cat /etc/passwd && echo ferry",
}
POLITE = ("Please ask a question", "too long", "Ask like this", "the question is empty")


def one_short_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and len(lines[0]) < 300, text
    assert "Traceback" not in text
    return lines[0]


# --- CLI ------------------------------------------------------------------------------------


@pytest.fixture
def quiet_cli(tmp_path: Path, monkeypatch) -> None:
    for name in [n for n in os.environ if n.startswith("CITEBOT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CITEBOT_WATCH", "false")
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_cli_ask_replies_to_junk_with_an_answer_or_one_line(quiet_cli, capsys, kind: str) -> None:
    code = cli.main(["ask", "--json", "--articles", str(ARTICLES), "--no-cache", HOSTILE[kind]])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    if code == 0:
        obj = json.loads(out.out)
        assert isinstance(obj["found"], bool)
        for c in obj["citations"]:  # whatever was asked, quotes stand verbatim in their files
            assert c["quote"] in (ARTICLES / c["path"]).read_text(encoding="utf-8") or c["path"].endswith(".html")
    else:
        assert code == 2 and out.out == ""
        assert any(p.lower() in one_short_line(out.err).lower() for p in POLITE), out.err


def test_cli_stdin_mode_answers_every_junk_line_and_keeps_going(tmp_path: Path) -> None:
    lines = [q.replace("\n", " ") for q in HOSTILE.values()] + ["How often will the harbour ferry run?"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    env.update(CITEBOT_WATCH="false", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "citebot.bot", "ask", "--json", "--articles", str(ARTICLES), "--no-cache", "-"],
        input="\n".join(lines) + "\n", capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    replies = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert len(replies) == len(lines)  # one reply a line, in order, and the session kept going
    for reply in replies[:-1]:
        assert isinstance(reply["found"], bool)
        if "error" in reply:
            assert any(p.lower() in reply["error"].lower() for p in POLITE), reply["error"]
    assert sum("error" in reply for reply in replies) >= 4  # empty, blank, zero-width, too long
    assert replies[-1]["found"] and "every forty minutes" in replies[-1]["answer"]


# --- Discord --------------------------------------------------------------------------------


def classify(message) -> str:
    if message.embeds:
        text = embed_text(message.embeds[0])
        assert "Traceback" not in text
        return "answer"
    content = message.content or ""
    assert "Traceback" not in content and len(content) < 500, content
    assert any(p.lower() in content.lower() for p in POLITE), content
    return "polite"


async def test_discord_replies_once_to_every_junk_question_on_every_path() -> None:
    async with simcord.run(make_bot()) as env:
        guild = env.create_guild()
        channel = guild.create_text_channel("general")
        alice = guild.add_member(env.create_user("alice"))
        me = env.bot.user.mention
        kinds: list[str] = []
        for name, question in HOSTILE.items():
            if question.strip():  # Discord itself refuses to carry an empty slash option
                result = await alice.slash(channel, "ask", question=question)
                replies = [m for m in (result.response, *result.followups) if m is not None]
                assert len(replies) == 1, (name, replies)
                kinds.append(classify(replies[0]))
            for content in (f"!ask {question}", f"{me} {question}"):
                before = len([m for m in channel.history() if m.author.id == env.bot.user.id])
                await alice.send(channel, content[:2000])
                after = [m for m in channel.history() if m.author.id == env.bot.user.id]
                assert len(after) == before + 1, (name, content[:60])
                kinds.append(classify(channel.last_message))
        assert "answer" in kinds and "polite" in kinds
        errors_of(env, commands.CommandError)
        bodies = assert_no_pings(env, at_least=len(kinds))
        assert all("Traceback" not in json.dumps(body) for body in bodies)
