"""Settings layering: settings.toml < .env < CITEBOT_* environment < keyword arguments (flags)."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

import helpers
from citebot import config
from citebot.config import DiscordSettings, Settings, SettingsLoadError, load_settings
from citebot.config.settings import DEFAULT_TOML

ROOT = helpers.ROOT

TOML = """
top_k = 7
articles_dir = "from-toml"
max_question_chars = 321
watch = false

[discord]
cooldown_seconds = 2.5
guild_ids = [11, 22]
"""


pytestmark = pytest.mark.usefixtures("scratch_env")  # conftest: scratch cwd, no CITEBOT_* from outside


@pytest.fixture
def custom(tmp_path: Path) -> type[Settings]:
    """Settings reading a TOML file of our own instead of the bundled one."""
    toml = tmp_path / "settings.toml"
    toml.write_text(TOML)

    class CustomSettings(Settings):
        model_config = SettingsConfigDict(toml_file=toml)

    return CustomSettings


def test_bundled_toml_parses_and_every_key_is_a_known_setting() -> None:
    data = tomllib.loads(DEFAULT_TOML.read_text("utf-8"))
    discord = data.pop("discord")
    # extra="ignore" would silently drop a misspelt key: catch it here instead.
    assert set(data) <= set(Settings.model_fields) - {"discord"}
    assert set(discord) <= set(DiscordSettings.model_fields)
    # The shipped file documents the defaults; the classes hold them (one source): a value that
    # differs from its field's default would be a second, silent default.
    def default(model, key):
        field = model.model_fields[key]
        return field.default_factory() if field.default_factory is not None else field.default

    for key, value in data.items():
        assert default(Settings, key) == value, key
    for key, value in discord.items():
        assert default(DiscordSettings, key) == value, key


def test_toml_values_are_loaded(custom: type[Settings]) -> None:
    settings = custom(_env_file=None)
    assert settings.top_k == 7
    assert settings.articles_dir == Path("from-toml")
    assert settings.max_question_chars == 321 and settings.watch is False
    assert settings.discord.cooldown_seconds == 2.5 and settings.discord.guild_ids == [11, 22]
    assert settings.log_level is None  # not in that file: the code default (INFO for run, else WARNING)


def test_dotenv_overrides_toml(custom: type[Settings], scratch_env: Path) -> None:
    (scratch_env / ".env").write_text("CITEBOT_TOP_K=8\nCITEBOT_WATCH=true\nUNRELATED=1\n")
    settings = custom()
    assert settings.top_k == 8 and settings.watch is True
    assert settings.max_question_chars == 321  # the rest still from TOML
    assert custom(_env_file=None).top_k == 7  # tests can switch .env off


def test_environment_overrides_dotenv(custom: type[Settings], scratch_env: Path, monkeypatch) -> None:
    (scratch_env / ".env").write_text("CITEBOT_TOP_K=8\nCITEBOT_MAX_QUESTION_CHARS=99\n")
    monkeypatch.setenv("CITEBOT_TOP_K", "9")
    settings = custom()
    assert settings.top_k == 9
    assert settings.max_question_chars == 99


def test_keyword_arguments_override_environment(custom: type[Settings], monkeypatch) -> None:
    monkeypatch.setenv("CITEBOT_TOP_K", "9")
    monkeypatch.setenv("CITEBOT_ARTICLES_DIR", "/from/env")
    assert custom(top_k=3).top_k == 3
    assert custom().articles_dir == Path("/from/env")


def test_load_settings_applies_flags_and_ignores_unset_ones(monkeypatch) -> None:
    monkeypatch.setenv("CITEBOT_TOP_K", "9")
    assert load_settings(top_k=None, articles_dir=None).top_k == 9
    settings = load_settings(top_k=2, use_cache=False)
    assert settings.top_k == 2 and settings.use_cache is False


def test_nested_environment_merges_with_the_toml_table(custom: type[Settings], monkeypatch) -> None:
    monkeypatch.setenv("CITEBOT_DISCORD__COOLDOWN_SECONDS", "4")
    settings = custom(_env_file=None)
    assert settings.discord.cooldown_seconds == 4.0
    assert settings.discord.guild_ids == [11, 22]  # the rest of [discord] survives


def test_keyword_construction_for_tests_and_embedding(tmp_path: Path) -> None:
    settings = config.Settings(articles_dir=tmp_path, watch=False, _env_file=None)
    assert settings.articles_dir == tmp_path and settings.watch is False
    assert isinstance(Settings(articles_dir=str(tmp_path), _env_file=None).articles_dir, Path)


def test_default_articles_folder_is_the_bundled_seeds() -> None:
    assert Settings(_env_file=None).articles_dir == ROOT / "seeds"


def test_invalid_values_are_rejected(monkeypatch) -> None:
    with pytest.raises(ValidationError):
        Settings(top_k=0, _env_file=None)
    monkeypatch.setenv("CITEBOT_TOP_K", "many")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


def test_discord_token_is_secret(monkeypatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "very-secret-token")
    settings = Settings(_env_file=None)
    assert settings.token is not None and settings.token.get_secret_value() == "very-secret-token"
    assert "very-secret-token" not in repr(settings) and "very-secret-token" not in str(settings.model_dump())


def test_nothing_is_built_at_import_time(tmp_path: Path) -> None:
    # A broken environment must not break `import config` (or the CLI's --help): only load_settings.
    env = {**os.environ, "CITEBOT_TOP_K": "not-a-number", "PYTHONPATH": str(ROOT)}
    (tmp_path / ".env").write_text("CITEBOT_MAX_FILE_BYTES=lots\n")
    code = "import citebot.config, citebot.retrieval, citebot.bot.cli; print('ok')"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


@pytest.mark.parametrize(
    "key, value",
    [("max_file_bytes", 0), ("max_question_chars", 0), ("watch_debounce_ms", -1), ("watch_stable_ms", -5),
     ("max_file_bytes", 10**10), ("max_question_chars", 10**6), ("watch_debounce_ms", 10**20),
     ("watch_stable_ms", 60_001), ("top_k", 101)],
)
def test_nonsense_limits_are_rejected_at_load(key: str, value: int) -> None:
    # A zero cap would skip every file or refuse every question without saying why.
    with pytest.raises(ValidationError, match=key):
        Settings(**{key: value}, _env_file=None)


def test_load_settings_names_the_setting_and_its_source(custom: type[Settings], scratch_env: Path, monkeypatch) -> None:
    # load_settings reads the real Settings class; point its TOML at the custom file for this test.
    monkeypatch.setitem(Settings.model_config, "toml_file", scratch_env / "settings.toml")
    (scratch_env / "settings.toml").write_text("[discord]\ncooldown_seconds = nan\n")
    with pytest.raises(SettingsLoadError, match=r"discord\.cooldown_seconds from /.*/settings\.toml: "
                                                 r"Input should be a finite number"):
        load_settings()
    (scratch_env / ".env").write_text("CITEBOT_WATCH_STABLE_MS=-1\n")
    with pytest.raises(SettingsLoadError, match=r"watch_stable_ms from CITEBOT_WATCH_STABLE_MS in .*\.env"):
        load_settings()
    monkeypatch.setenv("citebot_watch_stable_ms", "99999999")  # case-insensitive, like pydantic-settings
    with pytest.raises(SettingsLoadError, match="from environment variable citebot_watch_stable_ms"):
        load_settings()
    with pytest.raises(SettingsLoadError, match="top_k from the command line"):
        load_settings(top_k=0, watch_stable_ms=5)
    (scratch_env / "settings.toml").write_text("[discord]\ncooldown_seconds = 2\n")
    assert load_settings(watch_stable_ms=5).watch_stable_ms == 5  # a flag wins over the bad sources


def test_unknown_variables_are_still_ignored(scratch_env: Path, monkeypatch) -> None:
    # extra="ignore": an old .env with retired keys (even bad JSON or bytes) never breaks a start.
    monkeypatch.setenv("CITEBOT_RETIRED_SETTING", "[1,")
    monkeypatch.setenv("CITEBOT_DISCORD__RETIRED", "\udcff")
    (scratch_env / ".env").write_text("CITEBOT_OLD__KEY=[\nOTHER_TOOL=x\n")
    assert load_settings().top_k == 5


# --- the user's settings file (platform config folder, or --config FILE) -----------------------


def write_user_settings(text: str) -> Path:
    from citebot.config.settings import user_config_file

    path = user_config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_user_settings_file_sits_between_dotenv_and_the_shipped_toml(scratch_env: Path, monkeypatch) -> None:
    path = write_user_settings("top_k = 3\n[discord]\ncooldown_rate = 7\n")
    assert path.is_relative_to(Path(os.environ["XDG_CONFIG_HOME"]))
    settings = load_settings()
    assert (settings.top_k, settings.discord.cooldown_rate) == (3, 7)
    assert settings.discord.command_prefix == "!"  # the rest of the [discord] table still comes from below
    (scratch_env / ".env").write_text("CITEBOT_TOP_K=4\n")
    assert load_settings().top_k == 4
    monkeypatch.setenv("CITEBOT_TOP_K", "6")
    assert load_settings().top_k == 6
    assert load_settings(top_k=9).top_k == 9


def test_config_flag_names_the_file_and_replaces_the_default_one(scratch_env: Path, tmp_path: Path) -> None:
    write_user_settings("top_k = 3\n")
    mine = tmp_path / "mine.toml"
    mine.write_text("top_k = 8\n")
    assert load_settings(mine).top_k == 8
    with pytest.raises(SettingsLoadError, match=r"settings file .*missing\.toml not found \(given with --config\)"):
        load_settings(tmp_path / "missing.toml")
    mine.write_text("top_k = 0\n")
    with pytest.raises(SettingsLoadError, match=r"invalid setting top_k from .*mine\.toml"):
        load_settings(mine)
    mine.write_text("top_k = \n")
    with pytest.raises(SettingsLoadError, match=r"mine\.toml is not valid TOML"):
        load_settings(mine)


def test_cli_config_flag(in_process: Path, tmp_path: Path, capsys) -> None:
    from citebot.bot.cli import main

    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "a.txt").write_text("Ferry update\n\nThe harbour ferry resumes sailings on 4 April.\n")
    mine = tmp_path / "mine.toml"
    mine.write_text(f"articles_dir = {str(articles)!r}\nuse_cache = false\n")
    assert main(["search", "--json", "--config", str(mine), "ferry"]) == 0
    assert '"a.txt"' in capsys.readouterr().out
    assert main(["ask", "--config", str(tmp_path / "nope.toml"), "ferry?"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("citebot:") and "nope.toml not found" in err and len(err.splitlines()) == 1


def test_a_bad_value_is_blamed_on_where_it_came_from_not_on_a_user_file_that_sets_the_key(
        scratch_env: Path, monkeypatch) -> None:
    write_user_settings("top_k = 5\n[discord]\ncommand_prefix = \"?\"\n")
    monkeypatch.setenv("CITEBOT_TOP_K", "0")
    with pytest.raises(SettingsLoadError, match="from environment variable CITEBOT_TOP_K"):
        load_settings()
    monkeypatch.delenv("CITEBOT_TOP_K")
    with pytest.raises(SettingsLoadError, match="from the command line"):
        load_settings(top_k=0)
    monkeypatch.setenv("CITEBOT_DISCORD__COOLDOWN_RATE", "0")
    with pytest.raises(SettingsLoadError, match="from environment variable CITEBOT_DISCORD__COOLDOWN_RATE"):
        load_settings()


def test_home_folder_paths_in_a_settings_file_are_expanded(scratch_env: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write_user_settings('articles_dir = "~/news"\ncache_dir = "~/.cache/x"\n')
    settings = load_settings()
    assert settings.articles_dir == tmp_path / "home" / "news"
    assert settings.record_file == tmp_path / "home" / ".cache" / "x" / "record.sqlite3"


def test_config_flag_naming_a_folder_says_so(scratch_env: Path, tmp_path: Path) -> None:
    with pytest.raises(SettingsLoadError, match=r"is a folder \(given with --config\)"):
        load_settings(tmp_path)
