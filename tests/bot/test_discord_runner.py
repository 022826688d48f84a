"""`citebot run` and the bot's lifecycle with plain pytest-asyncio and a local fake Discord.

discord.py's real login, gateway handshake and close run against 127.0.0.1 (no network):
a missing or rejected token exits 2 with one line and never reaches the logs; SIGTERM and
Ctrl-C close the gateway and stop the watcher; 50 questions are scored in worker threads while
the loop keeps serving.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time

import pytest

from citebot.bot.cli import main
from citebot.bot.runner import RedactToken, serve
from fixtures.discord.fake_discord import FakeDiscord, ThreadedFakeDiscord
from fixtures.discord.simbot import ARTICLES, make_bot
from citebot.retrieval import Answer, Library

FAKE_TOKEN = "MTAxMDEwMTAxMDEwMTAxMDEw.GfAkE0.this-is-a-fake-token-for-tests-only-xyz"


@pytest.fixture
def run_env(in_process, monkeypatch):
    """A clean environment for `citebot run` (conftest's in_process: no token, no watcher) and no cache."""
    monkeypatch.setenv("CITEBOT_USE_CACHE", "false")
    return monkeypatch


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def test_missing_token_is_one_line_and_exit_2(run_env, capsys):
    assert main(["run", "--articles", str(ARTICLES)]) == 2
    out = capsys.readouterr()
    assert one_line(out.err).startswith("citebot: no Discord token: set DISCORD_TOKEN")
    assert out.out == ""


@pytest.mark.parametrize("variable", ["DISCORD_TOKEN", "CITEBOT_DISCORD__TOKEN"])
def test_rejected_token_is_one_line_exit_2_and_never_logged(run_env, capsys, caplog, variable):
    run_env.setenv(variable, FAKE_TOKEN)
    caplog.set_level(logging.DEBUG)  # everything discord.py and citebot log, at every level
    with ThreadedFakeDiscord(accepted_token=None) as server:
        server.patch(run_env)
        status = main(["run", "--articles", str(ARTICLES)])
    out = capsys.readouterr()
    assert status == 2
    assert one_line(out.err) == "citebot: Discord rejected the token: check DISCORD_TOKEN (Developer Portal > Bot > Reset Token)"
    assert server.authorizations == [f"Bot {FAKE_TOKEN}"]  # the token really was tried
    assert caplog.records  # the logs were captured...
    for record in caplog.records:  # ...and hold no trace of it, message or traceback
        assert FAKE_TOKEN not in record.getMessage() and FAKE_TOKEN not in (record.exc_text or "")
    assert FAKE_TOKEN not in caplog.text and FAKE_TOKEN not in out.err + out.out
    assert FAKE_TOKEN[:20] not in caplog.text + out.err + out.out


def test_unapproved_message_content_intent_is_one_line_exit_2(run_env, capsys, caplog):
    run_env.setenv("DISCORD_TOKEN", FAKE_TOKEN)
    with ThreadedFakeDiscord(accepted_token=FAKE_TOKEN, privileged_allowed=False) as server:
        server.patch(run_env)
        status = main(["run", "--articles", str(ARTICLES)])
        assert server.identify_payload is not None
    out = capsys.readouterr()
    assert status == 2
    assert one_line(out.err).startswith("citebot: Discord refused the Message Content intent")
    assert "CITEBOT_DISCORD__MESSAGE_CONTENT_INTENT=false" in out.err
    assert FAKE_TOKEN not in caplog.text + out.err


def test_redaction_filter_blanks_the_token_should_anything_log_it():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token is %s", (FAKE_TOKEN,), None)
    RedactToken(FAKE_TOKEN).filter(record)
    assert record.getMessage() == "token is [token]"


async def connected(server: FakeDiscord, task: asyncio.Task, timeout: float = 15.0) -> None:
    deadline = time.perf_counter() + timeout
    while not server.identified.is_set():
        assert not task.done(), f"the bot stopped early: {task.result()}"
        assert time.perf_counter() < deadline, "bot never identified"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_signal_closes_gateway_and_stops_watcher(monkeypatch, caplog, tmp_path, signum):
    caplog.set_level(logging.DEBUG)
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a.txt").write_text((ARTICLES / "harbour-ferry-timetable.txt").read_text())
    before = {signal.SIGTERM: signal.getsignal(signal.SIGTERM), signal.SIGINT: signal.getsignal(signal.SIGINT)}
    server = await FakeDiscord(accepted_token=FAKE_TOKEN).start()
    server.patch(monkeypatch)
    bot = make_bot(folder, sync_global=False, top={"watch": True})
    try:
        task = asyncio.create_task(serve(bot, FAKE_TOKEN))
        await connected(server, task)
        watcher = bot.watcher
        assert watcher is not None and watcher.running
        os.kill(os.getpid(), signum)
        assert await asyncio.wait_for(task, 15) == 0
    finally:
        await server.stop()
    assert bot.is_closed() and bot.watcher is None
    # A close frame from the bot, not a dropped connection (1006). discord.py 2.7 sends 1000 or,
    # when the close races its own reader, 4000; both are orderly closes.
    assert len(server.close_codes) == 1 and server.close_codes[0] in (1000, 4000)
    assert not watcher.running
    assert not any(t.name.startswith("citebot-watch") and t.is_alive() for t in threading.enumerate())
    assert signal.getsignal(signal.SIGTERM) == before[signal.SIGTERM]
    assert signal.getsignal(signal.SIGINT) == before[signal.SIGINT]
    assert server.identify_payload["intents"] & (1 << 15)  # message content requested by default
    assert FAKE_TOKEN not in caplog.text


class GatedEngine(Library):
    """Holds every question until the test opens the gate, noting which thread scored it.

    If scoring ran on the event loop, the first held question would freeze the loop, the test
    could never open the gate, and every wait below would time out: a deterministic check that
    needs no clock threshold (timings on a shared 2-core runner are noise; lag figures live in
    the load test's p99 and in benchmarks/).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()
        self.loop_thread = threading.get_ident()  # opened from the test's coroutine
        self.threads: list[int] = []
        self.opened: list[bool] = []

    def ask(self, question: str, top_k: int = 5, *, meaning: str | None = None) -> Answer:
        self.threads.append(threading.get_ident())
        if self.threads[-1] == self.loop_thread:  # on the loop: waiting would only hang the test
            self.opened.append(False)
        else:
            self.opened.append(self.gate.wait(20))
        return super().ask(question, top_k, meaning=meaning)


@pytest.mark.slow
async def test_fifty_questions_are_scored_off_the_loop_and_all_answered(monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)  # every log line of a whole session, scanned for the token below
    server = await FakeDiscord(accepted_token=FAKE_TOKEN).start()
    server.patch(monkeypatch)
    engine = GatedEngine.open(ARTICLES)
    bot = make_bot(library=engine, sync_global=False)
    try:
        task = asyncio.create_task(serve(bot, FAKE_TOKEN, stop := asyncio.Event()))
        await connected(server, task)
        questions = ["How often will the harbour ferry run?", "Why must residents boil their tap water?",
                     "When will the keeper's cottage open as a museum?", "How much did the restoration cost?",
                     "Who is the port director?"]
        server.expect_replies = 51
        await server.dm(999, "!ask \u200b")  # junk: a polite error reply, through the error handler
        for i in range(50):
            await server.dm(1000 + i, f"!ask {questions[i % len(questions)]}")
        # The loop keeps turning while questions are held in the engine: this wait returns.
        for _ in range(2000):
            if len(engine.threads) >= 2:
                break
            await asyncio.sleep(0.005)
        held = len(engine.threads)
        assert held >= 2, "questions did not reach the engine concurrently"
        assert not any(body.get("embeds") for body in server.sent)  # no answer while the gate is shut
        engine.gate.set()
        await asyncio.wait_for(server.replied.wait(), 60)
        stop.set()
        assert await asyncio.wait_for(task, 15) == 0
    finally:
        engine.gate.set()
        await server.stop()
    assert len(engine.threads) == 50 and all(engine.opened)
    assert engine.loop_thread not in engine.threads  # every question was scored in a worker thread
    assert len(server.sent) == 51 and sum(bool(body.get("embeds")) for body in server.sent) == 50
    assert any("Please ask a question" in (body.get("content") or "") for body in server.sent)
    assert all(body["allowed_mentions"] == {"parse": [], "replied_user": False} for body in server.sent)
    assert caplog.records and FAKE_TOKEN not in caplog.text and FAKE_TOKEN[:20] not in caplog.text
