"""The cogs are discord.py extensions (``setup(bot)``) that get their collaborators from the
bot's one ``Services`` container: they load, unload and reload cleanly, and a reloaded cog
gets the very same library, settings, cooldowns, scoring threads and record."""
from __future__ import annotations

import discord
import pytest
import simcord
from discord.ext import commands

from citebot.bot.client import EXTENSIONS
from citebot.bot.services import Services
from fixtures.discord.simbot import make_bot, world

FERRY_Q = "How often will the harbour ferry run?"
PIECES = {"Ask": ("library", "settings", "servers", "off_loop", "records", "buttons"),
          "Admin": ("library", "servers", "off_loop", "records")}  # Admin keeps only settings.top_k


def held(cog: commands.Cog) -> dict[str, object]:
    return {name: getattr(cog, name) for name in PIECES[cog.qualified_name]}


async def test_setup_hook_loads_the_cogs_as_extensions_with_the_bots_services():
    async with simcord.run(make_bot()) as env:
        bot = env.bot
        assert set(bot.extensions) == set(EXTENSIONS)
        services = bot.services
        assert isinstance(services, Services)
        for cog_name in ("Ask", "Admin"):
            for name, value in held(bot.get_cog(cog_name)).items():
                assert value is getattr(services, name), (cog_name, name)


async def test_reloading_an_extension_keeps_the_collaborators_and_the_commands():
    async with simcord.run(make_bot()) as env:
        bot = env.bot
        guild, channel, alice = world(env)
        old_ask, old_admin = bot.get_cog("Ask"), bot.get_cog("Admin")
        before = {"Ask": held(old_ask), "Admin": held(old_admin)}
        for extension in EXTENSIONS:
            await bot.reload_extension(extension)
        new_ask, new_admin = bot.get_cog("Ask"), bot.get_cog("Admin")
        assert new_ask is not old_ask and new_admin is not old_admin
        for cog_name, cog in (("Ask", new_ask), ("Admin", new_admin)):
            after = held(cog)
            assert after.keys() == before[cog_name].keys()
            assert all(after[k] is before[cog_name][k] for k in after), cog_name
        await alice.send(channel, f"!ask {FERRY_Q}")
        assert "every forty minutes" in channel.last_message.embeds[0].description
        result = await alice.slash(channel, "ask", question=FERRY_Q)
        assert "every forty minutes" in result.response.message.embeds[0].description
        mods = guild.create_role("mods", permissions=discord.Permissions(manage_guild=True))
        admin = guild.add_member(env.create_user("admin"), roles=[mods])
        stats = await admin.slash(channel, "articles")
        assert stats.ephemeral and "articles" in stats.response.message.content


async def test_unloading_removes_the_commands_and_loading_brings_them_back():
    async with simcord.run(make_bot()) as env:
        bot = env.bot
        guild, channel, alice = world(env)
        await bot.unload_extension("citebot.bot.cogs.admin")
        assert bot.get_cog("Admin") is None and bot.get_command("articles") is None
        assert "articles" not in {c.name for c in bot.tree.get_commands()}
        await bot.load_extension("citebot.bot.cogs.admin")
        assert bot.get_command("articles") is not None
        assert bot.get_cog("Admin").records is bot.services.records
        mods = guild.create_role("mods", permissions=discord.Permissions(manage_guild=True))
        admin = guild.add_member(env.create_user("admin"), roles=[mods])
        stats = await admin.slash(channel, "articles")
        assert stats.ephemeral and "articles" in stats.response.message.content


async def test_an_extension_refuses_a_bot_without_services():
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.none())
    with pytest.raises(commands.ExtensionFailed) as failed:
        await bot.load_extension("citebot.bot.cogs.ask")
    assert isinstance(failed.value.original, TypeError) and "services" in str(failed.value.original)
    assert bot.get_cog("Ask") is None
