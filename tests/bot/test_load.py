"""Load: 500 questions from 50 simulated users through the bot's real command path (simcord),
while article files are dropped into the folder and ``library.refresh()`` runs in a thread.

What is checked, per question and in aggregate:

- every question gets exactly one reply (an answer or a cooldown notice); the only questions
  without a reply are the ones the bot stays silent on by design: a second refused !ask/@mention
  from the same user inside one cooldown window (one "slow down" per window, not one per
  message; slash commands must be acknowledged, so every refused /ask gets its notice);
- cooldowns are per user: each user gets exactly ``min(asked, RATE)`` answers per window, and a
  burst from one user never costs anybody else an answer;
- answers about the unchanging base articles are right every time, whatever the refresh thread
  is doing (a refresh swaps in a complete index, so readers never see a half-built one); every
  dropped article is answerable once the dropping stops;
- event-loop lag (a ticker compares when it should have woken with when it did) stays under
  100 ms at p99 (measured in the run without tracemalloc, which slows every allocation; a speed
  limit, so marked ``latency`` and run only on request: ``pytest -m latency tests/bot/test_load.py``);
- memory returns to baseline once the dropped files are gone again: what citebot's own code
  allocated and still holds (tracemalloc, by file) is back within 256 KiB of the baseline. Reply
  text is left out of that count: the simulator keeps every message it saw, which is its memory.

How the questions get in: !ask and @mention messages are posted into the simulated Discord
without waiting after each (``env.backend.create_message``, the same call a simcord actor's
``send`` makes, minus the per-action settle), so several are in flight at once; /ask goes through
the public ``actor.slash``, whose settle also drains the queued messages. simcord allows one
driver operation at a time, so this is how many questions run concurrently in the bot.
Virtual time only moves on ``env.advance_time``, so cooldown windows are exact.
"""
from __future__ import annotations

import asyncio
import gc
import os
import random
import threading
import time
import tracemalloc
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import simcord

import helpers
from fixtures.discord.simbot import assert_no_pings, embed_text, errors_of, make_bot
from citebot.retrieval import Library

from citebot.bot.checks import AskingTooFast

REPO = helpers.ROOT
USERS = 50
ROUNDS = 10
RATE, WINDOW = 3, 60.0
BURSTERS_PER_ROUND, BURST = 2, 5
CALM_PER_ROUND = 40  # 40 calm questions + 2 bursts of 5 = 50 questions a round, 500 in all
DROPS = 40
TICK = 0.005

BASE_ARTICLES = {
    "allotment-rainwater.txt": (
        "Allotment society wins a share of the new rain tank\n\n"
        "The Brindlecombe allotment society will receive twelve thousand litres of rainwater each "
        "month from the tank beside the old tannery, the parish council agreed on Tuesday.\n\n"
        "Plot holders had asked for the water after two dry summers left the beans and onions "
        "struggling.\n\nThe tank was paid for by a grant from the county rivers fund.\n"
    ),
    "night-bus.md": (
        "# Night bus route returns to Cobbler's Cross\n\n"
        "The N7 night bus will stop at Cobbler's Cross every twenty minutes after midnight from the "
        "first weekend of March.\n\nThe route was dropped last year when the operator lost three "
        "drivers.\n\nLate-shift nurses at the infirmary had petitioned for its return.\n"
    ),
    "observatory-telescope.html": (
        "<html><head><title>Hilltop observatory lends its telescope to schools</title></head><body>"
        "<h1>Hilltop observatory lends its telescope to schools</h1>"
        "<p>The Pellow Hill observatory will lend its brass refracting telescope to four primary "
        "schools during the spring term.</p>"
        "<p>Each school keeps the telescope for three weeks, and a volunteer astronomer visits on "
        "two evenings.</p><p>The telescope was built in Glasgow in 1911.</p></body></html>\n"
    ),
    "market-hall.txt": (
        "Market hall clock chimes again\n\n"
        "The clock on the Saltery market hall chimed again on Saturday after a clockmaker from "
        "Ledbury replaced its worn escapement wheel.\n\n"
        "The repair cost four thousand two hundred pounds, raised by stallholders over eighteen "
        "months.\n"
    ),
}
BASE_QUESTIONS = [
    ("How much rainwater will the allotment society receive each month?", "twelve thousand litres"),
    ("How often will the N7 night bus stop at Cobbler's Cross?", "every twenty minutes"),
    ("How long does each school keep the telescope?", "three weeks"),
    ("Who replaced the market hall clock's escapement wheel?", "clockmaker from Ledbury"),
    ("How much did the clock repair cost?", "four thousand two hundred pounds"),
    ("Where was the telescope built?", "Glasgow"),
]

_SYLLABLES = ["wen", "dor", "mar", "lis", "tup", "gra", "vel", "osk", "bri", "nut", "fal", "hem"]


def place(i: int) -> str:
    """A made-up village name, unique per dropped article (so each has its own answer)."""
    a, b, c = i % 12, (i // 12) % 12, (i * 7 + 3) % 12
    return (_SYLLABLES[a] + _SYLLABLES[b] + _SYLLABLES[c]).capitalize()


def dropped_article(i: int) -> bytes:
    name = place(i)
    return (
        f"{name} pontoon to be rebuilt\n\n"
        f"The landing pontoon at {name} will be rebuilt with {120 + i} oak piles before the summer "
        f"regatta, the harbour trust said.\n\n"
        f"Boat owners in {name} have used a temporary jetty since the winter storms.\n"
    ).encode()


def dropped_question(i: int) -> tuple[str, str]:
    return f"How many oak piles will the {place(i)} pontoon be rebuilt with?", f"{120 + i} oak piles"


@dataclass
class Question:
    round: int
    user: int
    path: str  # "prefix" | "slash" | "mention"
    text: str
    expect: str | None  # phrase a found answer must quote (base articles: must be found)
    must_find: bool
    message_id: int | None = None
    result: object = None
    replies: list = field(default_factory=list)


def schedule(rng: random.Random) -> list[Question]:
    """10 rounds; each: 40 calm users ask once, 2 others ask 5 times in a row (a burst)."""
    questions: list[Question] = []
    for r in range(ROUNDS):
        bursters = [(BURSTERS_PER_ROUND * r + k) % USERS for k in range(BURSTERS_PER_ROUND)]
        calm = rng.sample([u for u in range(USERS) if u not in bursters], CALM_PER_ROUND)
        slots: list[list[int]] = [[u] for u in calm]
        for b in bursters:  # a burst, right before some calm user's question
            slots.insert(rng.randrange(len(slots)), [b] * BURST)
        for user in (u for slot in slots for u in slot):
            path = rng.choice(["prefix", "slash", "mention"])
            if rng.random() < 0.25:
                text, expect = dropped_question(rng.randrange(DROPS))
                questions.append(Question(r, user, path, text, expect, must_find=False))
            else:
                text, expect = rng.choice(BASE_QUESTIONS)
                questions.append(Question(r, user, path, text, expect, must_find=True))
    return questions


class Dropper(threading.Thread):
    """Drops article files into the folder (some written in two steps, a scratch file comes and
    goes) and calls ``library.refresh()`` in a loop, as the folder watcher would."""

    def __init__(self, library: Library, folder: Path) -> None:
        super().__init__(name="load-dropper", daemon=True)
        self.library, self.folder = library, folder
        self.stop = threading.Event()
        self.dropped = 0
        self.refreshes = 0
        self.errors: list[BaseException] = []

    def run(self) -> None:
        next_drop = 0.0
        try:
            while not self.stop.is_set():
                now = time.perf_counter()
                if self.dropped < DROPS and now >= next_drop:
                    data = dropped_article(self.dropped)
                    with open(self.folder / f"drop-{self.dropped:02d}.txt", "wb") as handle:
                        handle.write(data[: len(data) // 2])  # a refresh may see it half-written
                        handle.flush()
                        self.library.refresh()
                        handle.write(data[len(data) // 2:])
                    self.dropped += 1
                    next_drop = now + 0.12
                scratch = self.folder / "scratch.txt"
                if self.refreshes % 7 == 3:
                    scratch.write_text("Scratch note\n\nA note that comes and goes.\n")
                elif self.refreshes % 7 == 5:
                    scratch.unlink(missing_ok=True)
                self.library.refresh()
                self.refreshes += 1
                self.stop.wait(0.01)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)


class LagProbe:
    """Wakes every TICK seconds; lag = when it woke minus when it asked to wake."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._running = False
        self._task: asyncio.Task | None = None

    async def _tick(self) -> None:
        due = time.perf_counter() + TICK
        while self._running:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            now = time.perf_counter()
            self.lags.append(now - due)
            due = now + TICK

    def start(self) -> None:
        self._running = True
        self._task = asyncio.create_task(self._tick(), name="lag-probe")

    async def stop(self) -> None:
        self._running = False
        if self._task is not None:
            await self._task

    def percentile(self, p: float) -> float:
        ordered = sorted(self.lags)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


CITEBOT_CODE = (str(REPO / "bot"), str(REPO / "retrieval"))
REPLY_TEXT = str(REPO / "bot" / "render.py")  # builds message text, which Discord's side keeps


def citebot_bytes(snapshot: tracemalloc.Snapshot) -> int:
    """Traced bytes allocated by citebot's own code (bot/ and retrieval/), reply text aside."""
    return sum(stat.size for stat in snapshot.statistics("filename")
               if stat.traceback[0].filename.startswith(CITEBOT_CODE) and stat.traceback[0].filename != REPLY_TEXT)


def rss() -> int:
    """Resident set size in bytes (reported, not asserted: the allocator keeps freed pages)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def classify(message) -> str:
    """An answer (embed with the answer footer) or a cooldown notice; anything else is a failure."""
    if message.embeds:
        footer = message.embeds[0].footer.text or ""
        if footer.startswith("Answered in "):
            return "found"
        if footer.startswith("Searched in "):
            return "not-found"
    if "try again in" in (message.content or ""):
        return "cooldown"
    return f"unexpected: {message.content!r} {[e.to_dict() for e in message.embeds]}"


async def flush(env) -> None:
    await env.settle(timeout=30)


async def ask_all(env, channels, actors, questions: list[Question], me: str) -> None:
    """Queue !ask/@mention messages without waiting; each /ask (or every 10 queued) settles."""
    queued = 0
    for q in questions:
        actor = actors[q.user]
        channel = channels[q.user % len(channels)]
        if q.path == "slash":
            q.result = await actor.slash(channel, "ask", question=q.text)
            queued = 0
            continue
        content = f"!ask {q.text}" if q.path == "prefix" else f"{me} {q.text}"
        q.message_id = env.backend.create_message(channel.id, actor.id, content).id
        queued += 1
        if queued >= 10:
            await flush(env)
            queued = 0
    await flush(env)


def collect_replies(env, channels, questions: list[Question]) -> None:
    bot_id = env.bot.user.id
    by_reference: dict[int, list] = defaultdict(list)
    for channel in channels:
        for message in channel.history():
            if message.author.id == bot_id and message.reference is not None:
                by_reference[message.reference.message_id].append(message)
    for q in questions:
        if q.result is not None:
            seen = {}
            for message in [q.result.response, *q.result.followups]:
                if message is not None:
                    seen[message.id] = message
            q.replies = list(seen.values())
        else:
            q.replies = by_reference.get(q.message_id, [])


@pytest.mark.slow
@pytest.mark.parametrize("measure", [pytest.param("loop-lag", marks=pytest.mark.latency), "memory"])
async def test_500_questions_from_50_users_while_articles_are_dropped_in(tmp_path, measure):
    """One scenario, run twice: tracemalloc slows every allocation several-fold (and with it the
    GIL hand-offs between the loop and the refresh thread), so lag is measured with it off and
    memory with it on; every reply and cooldown check runs both times."""
    folder = tmp_path / "articles"
    folder.mkdir()
    for name, text in BASE_ARTICLES.items():
        (folder / name).write_text(text)
    library = Library.open(folder)
    bot = make_bot(folder, library=library, cooldown_rate=RATE, cooldown_seconds=WINDOW)
    assert not bot.settings.watch  # simcord: the folder watcher stays off; the thread refreshes
    rng = random.Random(20240606)
    questions = schedule(rng)
    assert len(questions) == ROUNDS * (CALM_PER_ROUND + BURSTERS_PER_ROUND * BURST) == 500

    async with simcord.run(bot, settle_timeout=30) as env:
        guild = env.create_guild()
        channels = [guild.create_text_channel(f"news-{i}") for i in range(3)]
        actors = [guild.add_member(env.create_user(f"reader{i}")) for i in range(USERS)]
        me = env.bot.user.mention

        # Warm-up (not counted): every code path once, then the memory baseline.
        warm = [Question(-1, u, ("prefix", "slash", "mention")[u % 3], *BASE_QUESTIONS[u % 6], True)
                for u in range(USERS)]
        await ask_all(env, channels, actors, warm, me)
        await env.advance_time(WINDOW + 1)
        gc.collect()
        if measure == "memory":
            tracemalloc.start()
            base_snapshot = tracemalloc.take_snapshot()
        base_rss = rss()
        base_tasks = len(asyncio.all_tasks())

        dropper = Dropper(library, folder)
        probe = LagProbe()
        probe.start()
        dropper.start()
        started = time.perf_counter()
        try:
            for r in range(ROUNDS):
                await ask_all(env, channels, actors, [q for q in questions if q.round == r], me)
                await env.advance_time(WINDOW + 1)  # the next round starts a fresh window
            # The drops are paced, the questions are not: on a fast machine the questions end
            # first, so wait (generously) until every file has been dropped.
            deadline = time.monotonic() + 120
            while dropper.dropped < DROPS and not dropper.errors and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            elapsed = time.perf_counter() - started
            await probe.stop()
            dropper.stop.set()
            dropper.join(120)
        assert not dropper.is_alive(), "the dropper thread did not stop"
        assert not dropper.errors, dropper.errors
        assert dropper.dropped == DROPS, f"only {dropper.dropped} files dropped in {elapsed:.1f} s"

        # Every dropped article is answerable once the folder is quiet.
        library.refresh()
        late = [Question(ROUNDS, i % USERS, ("prefix", "slash", "mention")[i % 3], *dropped_question(i), True)
                for i in range(DROPS)]
        await ask_all(env, channels, actors, late, me)
        await env.advance_time(WINDOW + 1)

        collect_replies(env, channels, warm + questions + late)
        cooldown_errors = errors_of(env, AskingTooFast)
        replied = sum(1 for q in warm + questions + late if q.replies)
        bodies = assert_no_pings(env, at_least=replied)

        # Back to the starting corpus, then measure memory against the baseline.
        for path in folder.glob("drop-*.txt"):
            path.unlink()
        (folder / "scratch.txt").unlink(missing_ok=True)
        refreshed = library.refresh()
        assert library.stats().articles == len(BASE_ARTICLES), refreshed
        del bodies
        end_tasks = len(asyncio.all_tasks())

    # --- exactly one reply per question, and the right one -----------------------------------
    outcomes: Counter[str] = Counter()
    per_window: dict[tuple[int, int], Counter[str]] = defaultdict(Counter)
    wrong: list[str] = []
    for q in warm + questions + late:
        if len(q.replies) > 1:
            wrong.append(f"{q.path} {q.text!r}: {len(q.replies)} replies")
            continue
        kind = classify(q.replies[0]) if q.replies else "silent"
        if kind.startswith("unexpected"):
            wrong.append(f"{q.path} {q.text!r}: {kind}")
        elif kind in ("found", "not-found"):
            text = embed_text(q.replies[0].embeds[0])
            if q.must_find and (kind != "found" or q.expect not in text):
                wrong.append(f"{q.path} {q.text!r}: {kind}, expected {q.expect!r} in {text[:300]!r}")
            elif kind == "found" and q.expect not in text:
                wrong.append(f"{q.path} {q.text!r}: found the wrong passage: {text[:300]!r}")
        outcomes[kind] += 1
        window = per_window[(q.round, q.user)]
        window["asked"] += 1
        window["asked-" + ("slash" if q.path == "slash" else "message")] += 1
        window[kind] += 1
    assert not wrong, "\n".join(wrong[:20])

    # --- cooldowns: per user, per window ------------------------------------------------------
    # In each window a user's first RATE questions are answered and the rest refused: a refused
    # /ask always gets its notice (an interaction must be acknowledged); refused messages get one
    # notice per window and then silence, so a user hammering !ask is told once, not per message.
    expected_kinds: list[tuple[Question, str]] = []
    by_window: dict[tuple[int, int], list[Question]] = defaultdict(list)
    for q in warm + questions + late:
        by_window[(q.round, q.user)].append(q)
    for asked in by_window.values():
        noticed = False
        for i, q in enumerate(asked):
            if i < RATE:
                kind = "answer"
            elif q.path == "slash":
                kind = "cooldown"
            else:
                kind, noticed = ("silent" if noticed else "cooldown"), True
            expected_kinds.append((q, kind))
    mismatched = []
    for q, kind in expected_kinds:
        got = classify(q.replies[0]) if q.replies else "silent"
        got = "answer" if got in ("found", "not-found") else got
        if got != kind:
            mismatched.append(f"round {q.round} user {q.user} {q.path}: expected {kind}, got {got}")
    assert not mismatched, "\n".join(mismatched[:20])
    calm = [seen for seen in per_window.values() if seen["asked"] <= RATE]
    assert calm and all(seen["silent"] == seen["cooldown"] == 0 for seen in calm)
    bursts = [seen for seen in per_window.values() if seen["asked"] == BURST]
    assert len(bursts) == ROUNDS * BURSTERS_PER_ROUND
    assert all(seen["found"] + seen["not-found"] == RATE for seen in bursts)
    assert len(cooldown_errors) == outcomes["cooldown"] + outcomes["silent"]
    silent_by_design = outcomes["silent"]
    assert sum(outcomes.values()) == len(warm) + len(questions) + len(late)

    # --- event loop ---------------------------------------------------------------------------
    p50, p99, worst = probe.percentile(0.50), probe.percentile(0.99), max(probe.lags)
    report = (
        f"\n[{measure}] 500 questions in {elapsed:.1f} s; {dropper.refreshes} refreshes, {DROPS} files "
        f"dropped; outcomes {dict(outcomes)} ({silent_by_design} silent by design)\n"
        f"loop lag over {len(probe.lags)} ticks: p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, "
        f"max {worst * 1000:.1f} ms; tasks {base_tasks} -> {end_tasks}"
    )
    assert end_tasks <= base_tasks, report
    if measure == "loop-lag":
        print(report)
        assert len(probe.lags) > 100, report  # enough ticks for a p99 (how many depends on speed)
        assert p99 < 0.100, report
        return

    # --- memory: what citebot itself still holds -----------------------------------------------
    # Counted: allocations made by citebot's code (bot/, retrieval/) still alive, except the
    # renderer's, whose only product is reply text handed to Discord: the simulator keeps every
    # message it ever saw (hung off the bot as its HTTP client), which is its memory, not ours.
    for q in warm + questions + late:
        q.result, q.replies = None, []
    del env, guild, channels, actors, cooldown_errors
    for _ in range(3):
        gc.collect()
    end_snapshot, end_rss = tracemalloc.take_snapshot(), rss()
    tracemalloc.stop()
    mine = citebot_bytes(end_snapshot) - citebot_bytes(base_snapshot)
    top = [stat for stat in end_snapshot.compare_to(base_snapshot, "lineno")
           if stat.traceback[0].filename.startswith(CITEBOT_CODE)][:8]
    report += (
        f"\nmemory after gc: citebot code {mine / 1024:+.0f} KiB, RSS {(end_rss - base_rss) / 2**20:+.1f} MiB\n"
        + "\n".join(f"  {stat}" for stat in top)
    )
    print(report)
    assert library.stats().articles == len(BASE_ARTICLES)
    assert bot.library is library  # the bot is still alive: its own state is part of what is counted
    assert mine < 256 * 1024, report  # citebot's own memory is back to baseline (within 256 KiB)
