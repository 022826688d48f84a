"""Settings for citebot: defaults in settings.toml, then .env, then CITEBOT_* env vars, then flags."""
from citebot.config.settings import DiscordSettings, Settings, SettingsLoadError, load_settings

__all__ = ["DiscordSettings", "Settings", "SettingsLoadError", "load_settings"]
