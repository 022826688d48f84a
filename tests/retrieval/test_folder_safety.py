"""Nothing outside the articles folder is ever read or quoted (issue 12, section 2).

Anyone who can drop a file into a shared articles folder can drop a symlink. A link whose real
path lies outside the folder is skipped, with the reason listed, unless ``follow_outside_links``
is set; links that stay inside keep working, and the folder itself may be a symlink. The token
scenario from the issue runs end to end through ``citebot ask``, ``!ask`` and ``/ask``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import discord
import pytest
import simcord

import helpers
from fixtures.discord.simbot import make_bot, sent_payloads
from citebot.retrieval import Library
from citebot.retrieval.loader import SkipFile, read_bytes, scan
from citebot.retrieval.models import Skipped

ROOT = helpers.ROOT
FAKE_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.citebot-fake-token-never-shown"
SECRET_WORDS = "root:x:0:0:zebrafinch:/root:/bin/bash"
TOKEN_Q = "What is the DISCORD_TOKEN?"
GOOD = "Harbour ferry gets a new timetable\n\nThe harbour ferry will run every forty minutes this winter.\n"
OUTSIDE = "links outside the articles folder"

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path]:
    """(articles folder, a secrets folder beside it) with one good article in the folder."""
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "ferry.txt").write_text(GOOD)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "passwd").write_text(f"{SECRET_WORDS}\nnobody:x:65534:65534:nobody:/:/usr/sbin/nologin\n")
    (tmp_path / ".env").write_text(f"DISCORD_TOKEN={FAKE_TOKEN}\n")
    return articles, secrets


def token_world(world: tuple[Path, Path]) -> Path:
    """The issue's scenario: a bot .env beside the folder, and ``env.txt -> ../.env`` inside."""
    articles, _ = world
    (articles / "env.txt").symlink_to(Path("..") / ".env")
    return articles


def reasons(library: Library) -> dict[str, str]:
    return {s.path: s.reason for s in library.stats().skipped}


def everything_indexed(library: Library) -> str:
    return "\n".join(d.title + "\n" + d.body() for d in library.snapshot.docs)


# --- the scan ------------------------------------------------------------------------------------


def test_links_to_files_outside_are_skipped_with_the_reason(world) -> None:
    articles, secrets = world
    (articles / "passwd.txt").symlink_to(secrets / "passwd")
    token_world(world)
    files, problems = scan(articles)
    assert set(files) == {"ferry.txt"}
    skipped = {s.path: s.reason for s in problems}
    assert set(skipped) == {"passwd.txt", "env.txt"}
    assert all(OUTSIDE in r for r in skipped.values())
    library = Library.open(articles)
    assert set(reasons(library)) == {"passwd.txt", "env.txt"}
    indexed = everything_indexed(library)
    assert FAKE_TOKEN not in indexed and "zebrafinch" not in indexed
    assert not library.search("zebrafinch", 5) and not library.search("discord token", 5)
    assert library.ask("How often will the harbour ferry run?").found  # the rest still works


def test_a_link_to_a_folder_outside_is_not_walked(world) -> None:
    articles, secrets = world
    (secrets / "leak.txt").write_text("Leaked memo\n\nThe vault code is zebrafinch.\n")
    (articles / "more").symlink_to(secrets, target_is_directory=True)
    files, problems = scan(articles)
    assert set(files) == {"ferry.txt"}
    assert [(s.path, OUTSIDE in s.reason) for s in problems] == [("more", True)]
    library = Library.open(articles)
    assert "zebrafinch" not in everything_indexed(library)


def test_a_link_to_the_filesystem_root_is_skipped_without_walking_it(world, monkeypatch) -> None:
    articles, _ = world
    (articles / "everything").symlink_to("/", target_is_directory=True)
    import citebot.retrieval.loader as loader

    listed: list[str] = []
    real_scandir = os.scandir

    def counting_scandir(path):
        listed.append(os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(loader.os, "scandir", counting_scandir)
    files, problems = scan(articles)
    assert set(files) == {"ferry.txt"}
    assert [(s.path, OUTSIDE in s.reason) for s in problems] == [("everything", True)]
    assert listed == [os.fspath(articles)], "only the articles folder itself may be listed"


def test_links_that_stay_inside_keep_working(world) -> None:
    articles, _ = world
    (articles / "archive").mkdir()
    (articles / "archive" / "otters.txt").write_text("Otters return\n\nVolunteers counted eleven otters.\n")
    (articles / "otters-link.txt").symlink_to(Path("archive") / "otters.txt")
    (articles / "latest").symlink_to("archive", target_is_directory=True)
    (articles / "absolute.txt").symlink_to(articles / "ferry.txt")
    files, problems = scan(articles)
    assert problems == []
    assert set(files) == {"ferry.txt", "absolute.txt", "archive/otters.txt", "otters-link.txt"}
    library = Library.open(articles)
    assert reasons(library) == {}
    assert library.ask("How many otters did volunteers count?").found


def test_the_articles_folder_itself_may_be_a_symlink(world, tmp_path: Path) -> None:
    articles, secrets = world
    (articles / "inside.txt").symlink_to("ferry.txt")
    (articles / "passwd.txt").symlink_to(secrets / "passwd")
    link = tmp_path / "current-articles"
    link.symlink_to(articles, target_is_directory=True)
    library = Library.open(link)
    assert {d.path for d in library.snapshot.docs} == {"ferry.txt", "inside.txt"}
    assert set(reasons(library)) == {"passwd.txt"}
    assert library.ask("How often will the harbour ferry run?").found


def test_the_opt_in_setting_follows_outside_links(world) -> None:
    articles, secrets = world
    (secrets / "leak.txt").write_text("Leaked memo\n\nThe vault code is zebrafinch.\n")
    (articles / "more").symlink_to(secrets, target_is_directory=True)
    (articles / "passwd.txt").symlink_to(secrets / "passwd")
    files, problems = scan(articles, follow_outside_links=True)
    assert set(files) == {"ferry.txt", "more/leak.txt", "passwd.txt"}
    assert problems == [Skipped("more/passwd", "unsupported format (no file extension)")]
    library = Library.open(articles, follow_outside_links=True)
    assert reasons(library) == {"more/passwd": "unsupported format (no file extension)"}
    assert library.search("zebrafinch vault", 1)


def test_settings_default_to_not_following_and_document_the_risk() -> None:
    from citebot.config import Settings

    assert Settings(_env_file=None).follow_outside_links is False
    toml = (ROOT / "config" / "settings.toml").read_text()
    assert "follow_outside_links = false" in toml


# --- the read: a file swapped for a link after the scan -----------------------------------------


def test_a_file_swapped_for_an_outside_link_after_the_scan_is_not_read(world) -> None:
    articles, secrets = world
    (articles / "swap.txt").write_text("Innocent\n\nNothing to see.\n")
    files, _ = scan(articles)
    assert "swap.txt" in files
    (articles / "swap.txt").unlink()
    (articles / "swap.txt").symlink_to(secrets / "passwd")  # the race: after scan, before read
    with pytest.raises(SkipFile, match=OUTSIDE):
        read_bytes(articles, "swap.txt")
    assert b"zebrafinch" in read_bytes(articles, "swap.txt", follow_outside_links=True)


def test_a_folder_swapped_for_an_outside_link_after_the_scan_is_not_read(world) -> None:
    articles, secrets = world
    (articles / "sub").mkdir()
    (articles / "sub" / "passwd.txt").write_text("Innocent\n\nNothing to see.\n")
    files, _ = scan(articles)
    assert "sub/passwd.txt" in files
    (articles / "sub" / "passwd.txt").unlink()
    (articles / "sub").rmdir()
    (secrets / "passwd.txt").write_text(SECRET_WORDS)
    (articles / "sub").symlink_to(secrets, target_is_directory=True)
    with pytest.raises(SkipFile, match=OUTSIDE):
        read_bytes(articles, "sub/passwd.txt")


def test_a_folder_link_pointed_elsewhere_after_the_scan_reads_its_new_target(world, tmp_path: Path) -> None:
    """The folder's real path is renewed before a read is refused: re-pointing the folder link
    (a release-style switch) must not leave its files skipped."""
    articles, _ = world
    other = tmp_path / "articles-2"
    other.mkdir()
    (other / "ferry.txt").write_text(GOOD.replace("forty", "thirty"))
    link = tmp_path / "current"
    link.symlink_to(articles, target_is_directory=True)
    assert set(scan(link)[0]) == {"ferry.txt"}
    link.unlink()
    link.symlink_to(other, target_is_directory=True)
    assert b"thirty" in read_bytes(link, "ferry.txt")


def test_the_read_check_works_without_proc(world, monkeypatch) -> None:
    """Where /proc/self/fd is missing the opened file is compared with the resolved path."""
    import citebot.retrieval.loader as loader

    articles, secrets = world
    (articles / "passwd.txt").symlink_to(secrets / "passwd")
    (articles / "inside.txt").symlink_to("ferry.txt")
    monkeypatch.setattr(loader, "_opened_path", lambda fd: None)
    with pytest.raises(SkipFile, match=OUTSIDE):
        read_bytes(articles, "passwd.txt")
    assert read_bytes(articles, "inside.txt") == GOOD.encode()
    assert read_bytes(articles, "ferry.txt") == GOOD.encode()


# --- the token scenario, end to end --------------------------------------------------------------


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CITEBOT_") and k not in {"DISCORD_TOKEN", "PYTHONWARNINGS"}}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["CITEBOT_WATCH"] = "false"
    return env


def test_citebot_ask_never_shows_the_token(world, tmp_path: Path) -> None:
    articles = token_world(world)
    runs = []
    for args in (["ask", TOKEN_Q], ["ask", "--json", TOKEN_Q], ["search", "--json", "DISCORD_TOKEN"],
                 ["index", "--json"]):
        runs.append(subprocess.run(
            [sys.executable, "-m", "citebot.bot", *args, "--articles", str(articles), "--no-cache"],
            capture_output=True, text=True, cwd=tmp_path / "secrets", env=clean_env(), timeout=120,
        ))
    for proc in runs:
        assert proc.returncode == 0, proc.stderr
        assert FAKE_TOKEN not in proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
    ask_json = json.loads(runs[1].stdout)
    assert ask_json["found"] is False and not ask_json["citations"]
    assert json.loads(runs[2].stdout)["hits"] == []
    index = json.loads(runs[3].stdout)
    assert {s["path"]: OUTSIDE in s["reason"] for s in index["skipped"]} == {"env.txt": True}


async def test_discord_ask_and_slash_ask_never_show_the_token(world) -> None:
    articles = token_world(world)
    async with simcord.run(make_bot(articles)) as env:
        guild = env.create_guild()
        channel = guild.create_text_channel("general")
        member = guild.add_member(env.create_user("member"))
        mods = guild.create_role("mods", permissions=discord.Permissions(manage_guild=True))
        admin = guild.add_member(env.create_user("admin"), roles=[mods])
        await member.send(channel, f"!ask {TOKEN_Q}")
        prefix_reply = channel.last_message
        slash = await member.slash(channel, "ask", question=TOKEN_Q)
        await member.send(channel, f"{env.bot.user.mention} {TOKEN_Q}")
        listing = await admin.slash(channel, "articles")
        sent = json.dumps([body for _, body in sent_payloads(env)], ensure_ascii=False)
    assert prefix_reply.embeds and prefix_reply.embeds[0].description.startswith("The articles don't say.")
    assert slash.response.message.embeds[0].description.startswith("The articles don't say.")
    assert FAKE_TOKEN not in sent and "citebot-fake-token" not in sent
    assert "env.txt" in listing.response.content and OUTSIDE in listing.response.content


def test_a_file_swapped_for_a_link_between_scan_and_read_is_never_indexed(world, monkeypatch) -> None:
    """The library's refresh reads through the same check: what it opened, not what it scanned."""
    import citebot.retrieval.library as library_module

    articles, secrets = world
    (articles / "swap.txt").write_text("Innocent\n\nNothing to see.\n")
    real_scan = library_module.scan

    def scan_then_swap(path, **kwargs):
        found = real_scan(path, **kwargs)
        (articles / "swap.txt").unlink()
        (articles / "swap.txt").symlink_to(secrets / "passwd")
        return found

    monkeypatch.setattr(library_module, "scan", scan_then_swap)
    library = Library.open(articles)
    assert OUTSIDE in reasons(library)["swap.txt"]
    assert "zebrafinch" not in everything_indexed(library)
