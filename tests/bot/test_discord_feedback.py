"""Feedback and the record through simcord: 👍/👎 recorded, changed, one per user, surviving a
restart; "More sources"; /gaps and `citebot report` listing an unanswered question and marking
it answered after /add; /forget; and a record on an unwritable disk (answers go on, told once)."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import discord
import simcord

from citebot.bot import cli
from citebot.bot.checks import NotAdmin
from citebot.bot.feedback import DOWN, MORE, UP
from citebot.bot.record import SCHEMA_VERSION, Record
from fixtures.discord.simbot import assert_no_pings, errors_of, make_bot

FERRY_Q = "How often will the harbour ferry run?"
CHESS_Q = "Who won the Greyford chess tournament?"
CHESS = b"Maria Lind wins the Greyford chess tournament\n\nMaria Lind won the Greyford chess tournament on Sunday, beating the defending champion in the final round.\n"


def bot_for(folder: Path, record_path: Path):
    return make_bot(folder, top={"record_path": record_path})


def world(env):
    guild = env.create_guild()
    channel = guild.create_text_channel("general")
    alice = guild.add_member(env.create_user("alice"))
    bob = guild.add_member(env.create_user("bob"))
    mods = guild.create_role("mods", permissions=discord.Permissions(manage_guild=True))
    admin = guild.add_member(env.create_user("admin"), roles=[mods])
    return channel, alice, bob, admin


def custom_ids(message: discord.Message) -> list[str]:
    return [child.custom_id for row in message.components for child in row.children]


async def test_every_answer_has_vote_and_more_buttons(folder, record_path):
    async with simcord.run(bot_for(folder, record_path)) as env:
        channel, alice, _, _ = world(env)
        await alice.send(channel, f"!ask {FERRY_Q}")
        assert custom_ids(channel.last_message) == [UP, DOWN, MORE]
        result = await alice.slash(channel, "ask", question=FERRY_Q)
        assert custom_ids(result.response.message) == [UP, DOWN, MORE]
        assert_no_pings(env, at_least=2)


async def test_votes_are_recorded_changed_one_per_user_and_survive_a_restart(folder, record_path):
    async with simcord.run(bot_for(folder, record_path)) as env:
        channel, alice, bob, _ = world(env)
        await alice.send(channel, f"!ask {FERRY_Q}")
        answer = channel.last_message
        up = await alice.click(answer, custom_id=UP)
        assert up.ephemeral and "1 👍 and 0 👎" in up.response.content
        again = await alice.click(answer, custom_id=UP)  # the same vote twice still counts once
        assert "1 👍 and 0 👎" in again.response.content
        changed = await alice.click(answer, custom_id=DOWN)
        assert "0 👍 and 1 👎" in changed.response.content
        await env.restart_bot(bot_for(folder, record_path))
        after = await bob.click(answer, custom_id=UP)  # an answer from before the restart
        assert after.ephemeral and "1 👍 and 1 👎" in after.response.content
    with sqlite3.connect(record_path) as db:
        assert db.execute("SELECT user_id, vote FROM votes ORDER BY user_id").fetchall() == sorted(
            [(alice.id, -1), (bob.id, 1)])


async def test_more_sources_shows_passages_the_answer_did_not_cite(folder, record_path):
    async with simcord.run(bot_for(folder, record_path)) as env:
        channel, alice, _, _ = world(env)
        await alice.send(channel, f"!ask {FERRY_Q}")
        answer = channel.last_message
        cited = answer.embeds[0].fields[0].value
        more = await alice.click(answer, custom_id=MORE)
        assert more.ephemeral
        embed = more.response.message.embeds[0]
        assert embed.title.startswith("More sources: How often")
        assert "paragraph" in embed.description
        first_cited_paragraph = cited.split("paragraph ")[1].split()[0].strip(",")
        assert f"harbour-ferry-timetable.txt, paragraph {first_cited_paragraph}\n" not in embed.description + "\n"


async def test_gaps_and_report_list_an_unanswered_question_then_mark_it_answered_after_add(
        folder, record_path, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    async with simcord.run(bot_for(folder, record_path)) as env:
        channel, alice, bob, admin = world(env)
        await alice.send(channel, f"!ask {CHESS_Q}")
        await bob.send(channel, "!ask who won the greyford chess tournament")  # the same question
        await alice.send(channel, f"!ask {FERRY_Q}")
        await alice.click(channel.last_message, custom_id=DOWN)
        gaps = await admin.slash(channel, "gaps")
        assert gaps.ephemeral
        lines = gaps.response.content.splitlines()
        assert lines[1] == f"2× unanswered: {CHESS_Q}"  # most frequent first
        assert lines[2] == f"1× voted down: {FERRY_Q}"
        refused = await alice.slash(channel, "gaps")
        assert refused.response.content.startswith("Sorry, only server admins")

        assert cli.main(["report", "--json", "--record", str(record_path)]) == 0
        report = json.loads(capsys.readouterr().out)["gaps"]
        assert report[0] == {**report[0], "kind": "unanswered", "question": CHESS_Q, "count": 2, "answered_by": None}

        added = await admin.slash(channel, "add", file=("chess.txt", CHESS))
        assert "It answers 1 question listed in /gaps." in added.response.content
        gaps = await admin.slash(channel, "gaps")
        assert "now answered by Maria Lind wins the Greyford chess tournament (chess.txt)" in gaps.response.content
        assert errors_of(env, NotAdmin)
    assert cli.main(["report", "--record", str(record_path)]) == 0
    out = capsys.readouterr().out
    assert f"2× unanswered: {CHESS_Q} — now answered by Maria Lind wins the Greyford chess tournament (chess.txt)" in out
    assert cli.main(["report", "--json", "--record", str(record_path), "--since", "2999-01-01"]) == 0
    assert json.loads(capsys.readouterr().out)["gaps"] == []


async def test_forget_deletes_a_users_questions_and_votes(folder, record_path):
    async with simcord.run(bot_for(folder, record_path)) as env:
        channel, alice, bob, _ = world(env)
        await alice.send(channel, f"!ask {FERRY_Q}")
        await bob.click(channel.last_message, custom_id=UP)
        await bob.send(channel, f"!ask {CHESS_Q}")
        forgot = await bob.slash(channel, "forget")
        assert forgot.ephemeral and forgot.response.content == "Deleted 2 recorded entries of yours."
    with sqlite3.connect(record_path) as db:
        assert db.execute("SELECT user_id FROM questions").fetchall() == [(alice.id,)]
        assert db.execute("SELECT COUNT(*) FROM votes").fetchone() == (0,)


async def test_unwritable_record_the_bot_keeps_answering_and_says_why_once(folder, tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the record's folder should be")
    async with simcord.run(bot_for(folder, blocker / "record.sqlite3")) as env:
        channel, alice, _, admin = world(env)
        await alice.send(channel, f"!ask {FERRY_Q}")
        await alice.send(channel, f"!ask {FERRY_Q}")
        texts = [m.content for m in channel.history() if m.author.id == env.bot.user.id]
        notes = [t for t in texts if t.startswith("Note: questions and votes aren't being recorded")]
        assert len(notes) == 1 and "the details are in the bot's log" in notes[0]
        assert str(tmp_path) not in notes[0]  # no server paths in a public channel
        answers = [m for m in channel.history() if m.embeds and "every forty minutes" in m.embeds[0].description]
        assert len(answers) == 2
        vote = await alice.click(answers[0], custom_id=UP)
        assert vote.response.content.startswith("Thanks! Votes aren't being recorded here")
        gaps = await admin.slash(channel, "gaps")
        assert gaps.response.content.startswith("No record of questions: cannot use the record file")
        assert "not-a-folder" in gaps.response.content  # admins, privately, get the whole reason
        assert_no_pings(env, at_least=3)
    assert sum("not being recorded" in r.getMessage() for r in caplog.records) == 1


def test_record_migrates_prunes_and_groups(tmp_path: Path):
    now = [1_000_000.0]
    record = Record(tmp_path / "r.sqlite3", retention_days=1, clock=lambda: now[0]).open()
    with sqlite3.connect(tmp_path / "r.sqlite3") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    for q in ("Who won?", "who  won", "WHO WON?!"):
        record.add(question=q, searched=q, found=False, answer="", citations=[], message_id=None, user_id=1)
    [gap] = record.gaps()
    assert gap.count == 3 and gap.kind == "unanswered"
    now[0] += 2 * 86_400
    record.add(question="Fresh?", searched="Fresh?", found=False, answer="", citations=[], message_id=None)
    assert record.prune() == 3  # older than a day: gone
    assert [g.question for g in record.gaps()] == ["Fresh?"]
    record.close()
    again = Record(tmp_path / "r.sqlite3", retention_days=1, clock=lambda: now[0]).open()  # nothing to migrate
    assert [g.question for g in again.gaps()] == ["Fresh?"]
    again.close()


async def test_a_failing_button_gets_one_polite_private_reply_and_a_logged_traceback(folder, record_path, caplog,
                                                                                     monkeypatch):
    async with simcord.run(bot_for(folder, record_path)) as env:
        channel, alice, _, _ = world(env)
        await alice.send(channel, f"!ask {FERRY_Q}")

        def broken(*args):
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(env.bot.records.record, "vote", broken)
        result = await alice.click(channel.last_message, custom_id=UP)
        assert result.ephemeral and result.response.content.startswith("Sorry, something went wrong")
        env.errors.clear()
    assert any(r.exc_info and "disk on fire" in str(r.exc_info[1]) for r in caplog.records)


async def test_record_turning_read_only_while_running_keeps_answers_and_says_why_once(folder, record_path, caplog):
    async with simcord.run(bot_for(folder, record_path)) as env:
        channel, alice, _, _ = world(env)
        await alice.send(channel, f"!ask {FERRY_Q}")
        # The disk goes read-only under the running bot: its connection can no longer write.
        record = env.bot.records.record
        record._db.close()
        record._db = sqlite3.connect(f"{record_path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
        await alice.send(channel, f"!ask {FERRY_Q}")
        await alice.send(channel, f"!ask {FERRY_Q}")
        bot_messages = [m for m in channel.history() if m.author.id == env.bot.user.id]
        answers = [m for m in bot_messages if m.embeds and "every forty minutes" in m.embeds[0].description]
        notes = [m.content for m in bot_messages if m.content.startswith("Note: questions and votes")]
        assert len(answers) == 3
        assert notes == ["Note: questions and votes aren't being recorded (the record database is read-only; "
                         "the details are in the bot's log). Answers are not affected."]
        assert env.bot.records.record is None
    assert sum("not being recorded" in r.getMessage() for r in caplog.records) == 1
    with sqlite3.connect(record_path) as db:
        assert db.execute("SELECT COUNT(*) FROM questions").fetchone() == (1,)  # nothing lost before
