"""Admin commands through simcord: /articles, /reload, /add, and polite refusals (also in DMs)."""
from __future__ import annotations


import discord
import pytest
import simcord
from discord.ext import commands

from citebot.bot.checks import NotAdmin
from fixtures.discord.simbot import assert_no_pings, errors_of, make_bot

NEW_ARTICLE = b"""Otters return to the Wenlow river

Otters have been seen on the Wenlow river for the first time in thirty years, the county wildlife trust said on Monday.

Volunteers counted eleven otters along a two-mile stretch below the old paper mill.
"""
OTTER_Q = "How many otters did volunteers count?"


def admin_world(env):
    guild = env.create_guild()
    channel = guild.create_text_channel("general")
    mods = guild.create_role("mods", permissions=discord.Permissions(manage_guild=True))
    admin = guild.add_member(env.create_user("admin"), roles=[mods])
    member = guild.add_member(env.create_user("member"))
    return guild, channel, admin, member


async def test_articles_lists_counts_refresh_and_skipped_files(folder):
    (folder / "broken.txt").write_bytes(b"\x00\x01binary\x00")
    async with simcord.run(make_bot(folder)) as env:
        _, channel, admin, _ = admin_world(env)
        result = await admin.slash(channel, "articles")
        assert result.ephemeral
        text = result.response.content
        assert "**3 articles**" in text and "passages indexed" in text
        assert "Last refresh: <t:" in text
        assert "broken.txt: binary file" in text
        assert_no_pings(env)


async def test_reload_picks_up_a_dropped_file(folder):
    async with simcord.run(make_bot(folder)) as env:
        _, channel, admin, member = admin_world(env)
        (folder / "otters.txt").write_bytes(NEW_ARTICLE)
        result = await admin.slash(channel, "reload")
        assert result.ephemeral and "1 added" in result.response.content
        await member.send(channel, f"!ask {OTTER_Q}")
        assert "eleven otters" in channel.last_message.embeds[0].description
        assert_no_pings(env, at_least=2)


@pytest.mark.parametrize("command", ["articles", "reload"])
async def test_non_admins_are_refused_politely_everywhere(folder, command):
    async with simcord.run(make_bot(folder)) as env:
        _, channel, _, member = admin_world(env)
        result = await member.slash(channel, command)
        assert result.ephemeral and result.response.content.startswith("Sorry, only server admins")
        await member.send(channel, f"!{command}")
        assert channel.last_message.content.startswith("Sorry, only server admins")
        dm_user = env.create_user("stranger")
        dm = await dm_user.slash(command)
        assert dm.ephemeral and "only work inside a server" in dm.response.content
        add = await member.slash(channel, "add", file=("otters.txt", NEW_ARTICLE))
        assert add.ephemeral and add.response.content.startswith("Sorry, only server admins")
        assert not (folder / "otters.txt").exists()
        assert len(errors_of(env, NotAdmin)) == 4
        assert_no_pings(env, at_least=4)


async def test_configured_admin_role_is_enough(folder):
    async with simcord.run(make_bot(folder)) as env:
        guild, channel, _, _ = admin_world(env)
        editors = guild.create_role("editors")  # no Manage Server
        editor = guild.add_member(env.create_user("editor"), roles=[editors])
        refused = await editor.slash(channel, "articles")
        assert refused.response.content.startswith("Sorry")
        env.bot.settings.discord.admin_role_ids = [editors.id]
        allowed = await editor.slash(channel, "articles")
        assert "**3 articles**" in allowed.response.content
        errors_of(env, NotAdmin)


async def test_add_saves_indexes_and_answers(folder):
    async with simcord.run(make_bot(folder)) as env:
        _, channel, admin, member = admin_world(env)
        result = await admin.slash(channel, "add", file=("otters.txt", NEW_ARTICLE))
        assert result.ephemeral
        assert result.response.content.startswith("Added **otters.txt**: “Otters return to the Wenlow river”, 2 passages")
        assert (folder / "otters.txt").read_bytes() == NEW_ARTICLE
        assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp file left
        await member.send(channel, f"!ask {OTTER_Q}")
        assert "eleven otters" in channel.last_message.embeds[0].description
        assert_no_pings(env, at_least=2)


@pytest.mark.parametrize("name", [
    "../escape.txt", "../../escape.txt", "..\\escape.txt", "sub/escape.txt", "/tmp/escape.txt",
    "..", ".hidden.txt", "~$lock.txt", "escape.exe", "escape", "a..b.txt", "nul\x00.txt",
])
async def test_add_refuses_unsafe_names_and_writes_nothing(folder, name):
    before = sorted(p.name for p in folder.parent.rglob("*"))
    async with simcord.run(make_bot(folder)) as env:
        _, channel, admin, _ = admin_world(env)
        result = await admin.slash(channel, "add", file=(name, NEW_ARTICLE))
        assert result.ephemeral
        assert not result.response.content.startswith("Added"), result.response.content
        errors_of(env, commands.CommandError)
        assert_no_pings(env)
    assert sorted(p.name for p in folder.parent.rglob("*")) == before
    assert not (folder.parent / "escape.txt").exists()


async def test_add_does_not_overwrite_unless_replace(folder):
    original = (folder / "harbour-ferry-timetable.txt").read_bytes()
    changed = original.replace(b"every forty minutes", b"every fifty minutes")
    async with simcord.run(make_bot(folder)) as env:
        _, channel, admin, member = admin_world(env)
        refused = await admin.slash(channel, "add", file=("harbour-ferry-timetable.txt", changed))
        assert "already exists" in refused.response.content and "replace" in refused.response.content
        assert (folder / "harbour-ferry-timetable.txt").read_bytes() == original
        replaced = await admin.slash(channel, "add", file=("harbour-ferry-timetable.txt", changed), replace=True)
        assert replaced.response.content.startswith("Replaced **harbour-ferry-timetable.txt**")
        assert (folder / "harbour-ferry-timetable.txt").read_bytes() == changed
        await member.send(channel, "!ask How often will the harbour ferry run?")
        assert "every fifty minutes" in channel.last_message.embeds[0].description
        errors_of(env, commands.CommandError)
        assert_no_pings(env, at_least=3)


async def test_add_refuses_oversized_and_unreadable_files(folder):
    async with simcord.run(make_bot(folder, max_upload_bytes=1000)) as env:
        _, channel, admin, _ = admin_world(env)
        big = await admin.slash(channel, "add", file=("big.txt", b"Title\n\n" + b"word " * 400))
        assert "too large" in big.response.content
        binary = await admin.slash(channel, "add", file=("blob.txt", b"\x00\x01\x02 not text"))
        assert "cannot be used as an article" in binary.response.content
        empty = await admin.slash(channel, "add", file=("empty.md", b"   \n"))
        assert "empty file" in empty.response.content
        errors_of(env, commands.CommandError)
        assert_no_pings(env, at_least=3)
    assert not {"big.txt", "blob.txt", "empty.md"} & {p.name for p in folder.iterdir()}



def test_add_offers_every_suffix_the_loader_indexes():
    """/add's file hint, the names intake accepts and the loader's suffixes are one list
    (the hint left out .markdown and .htm, which are indexed and accepted)."""
    from citebot.bot.cogs.admin import AdminCog
    from citebot.retrieval.intake import clean_name
    from citebot.retrieval.loader import ARTICLE_SUFFIXES

    hint = str(AdminCog.add.app_command._params["file"].description)
    offered = set(hint[hint.index("(") + 1:hint.index(")")].split())
    assert offered == set(ARTICLE_SUFFIXES), hint
    for suffix in ARTICLE_SUFFIXES:
        assert clean_name(f"story{suffix}") == f"story{suffix}"
    assert len(hint) <= 100  # Discord's limit for an option description
