"""The systemd deploy recipe and unit (issue #14, Deploy), tested as far as this machine allows.

* The unit parses (configparser-style) and says what the recipe makes true: ExecStart is the
  recipe's venv's ``citebot run``, Documentation= is a URL or a file the recipe installs, the token
  is nowhere in the unit but in a root-only EnvironmentFile the recipe creates.
* The recipe's commands run in order against a model of who owns which folder (the old recipe's
  ``sudo -u citebot python3 -m venv /opt/citebot/.venv`` failed: /opt/citebot did not exist and
  /opt belongs to root).
* ``systemd-analyze verify`` finds nothing to say about the unit (skipped where it is missing).
* (slow) The recipe really runs, with its folders moved under a temporary root and without
  sudo, useradd or systemctl: a non-editable install into a fresh venv whose ``citebot`` then
  answers from another directory, and the unit verifies against it.
"""
from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "config" / "citebot.service"
README = ROOT / "README.md"
WAIT = 600  # seconds: a pip install on a shared machine; a bound, not a speed claim


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",),
                                       comment_prefixes=("#", ";"), empty_lines_in_values=False)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return parser


def unit_recipe() -> list[str]:
    """The install commands in the unit's header comment, one per line."""
    header = UNIT.read_text(encoding="utf-8").split("[Unit]", 1)[0]
    return [m.group(1).strip() for m in re.finditer(r"^#   (\S.*)$", header, re.MULTILINE)]


def readme_recipe() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### 7. Run it under systemd"):]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1)
    return [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]


# --- a model of the recipe: users, folders, owners ------------------------------------------------


class Machine:
    """Just enough of a Linux box to tell whether each recipe command would succeed."""

    def __init__(self) -> None:
        self.users = {"root"}
        self.dirs = {p: ("root", 0o755) for p in ("/", "/opt", "/etc", "/etc/systemd", "/etc/systemd/system",
                                                   "/var", "/var/lib", "/var/cache", "/usr", "/usr/sbin")}
        self.files: dict[str, tuple[str, int]] = {}
        self.venvs: dict[str, set[str]] = {}  # venv -> what pip installed into it

    def _writable(self, folder: str, user: str) -> None:
        assert folder in self.dirs, f"{folder} does not exist"
        assert user == "root" or self.dirs[folder][0] == user, f"Permission denied: {user} cannot write in {folder}"

    def _mkdirs(self, path: str, owner: str, mode: int) -> None:
        parts = PurePosixPath(path).parents
        for parent in reversed(list(parts)):
            self.dirs.setdefault(str(parent), ("root", 0o755))
        self.dirs[path] = (owner, mode)

    def run(self, line: str) -> None:
        for command in line.split("&&"):
            words = shlex.split(command)
            user = "root" if words[0] in {"sudo", "sudoedit"} else "you"
            if words[0] == "sudoedit":
                assert words[1] in self.files, f"sudoedit: {words[1]} does not exist"
                continue
            if words[0] == "sudo":
                words = words[1:]
                if words[0] == "-u":
                    user, words = words[1], words[2:]
                    assert user in self.users, f"sudo: unknown user {user}"
            self._one(words, user)

    def _one(self, words: list[str], user: str) -> None:
        name = words[0]
        if name == "useradd":
            new, home = words[-1], words[words.index("--home-dir") + 1]
            self.users.add(new)
            if "--create-home" in words:
                self._writable(str(PurePosixPath(home).parent), user)
                self.dirs[home] = (new, 0o700)
        elif name == "install":
            owner, mode, args, i = "root", 0o755, [], 1
            while i < len(words):
                if words[i] in {"-o", "-g", "-m"}:
                    if words[i] == "-o":
                        owner = words[i + 1]
                    if words[i] == "-m":
                        mode = int(words[i + 1], 8)
                    i += 2
                elif words[i] == "-d":
                    i += 1
                else:
                    args.append(words[i])
                    i += 1
            assert user == "root" or owner == user, "only root can give files away"
            assert owner in self.users, f"install: unknown user {owner}"
            if "-d" in words:
                for folder in args:
                    self._mkdirs(folder, owner, mode)
            else:
                source, target = args
                assert source == "/dev/null" or (ROOT / source).exists(), f"install: no {source} here"
                self._writable(str(PurePosixPath(target).parent), user)
                self.files[target] = (owner, mode)
        elif name in {"python3", "python"} and words[1:3] == ["-m", "venv"]:
            venv = words[3]
            self._writable(str(PurePosixPath(venv).parent), user)
            self.dirs[venv] = (user, 0o755)
            self.venvs[venv] = set()
        elif name.endswith("/bin/pip"):
            venv = str(PurePosixPath(name).parent.parent)
            assert venv in self.venvs, f"{name} does not exist"
            self._writable(venv, user)
            assert words[1] == "install"
            self.venvs[venv].add("citebot")
        elif name in {"systemctl", "journalctl"}:
            pass
        else:
            raise AssertionError(f"the model does not know {name!r}: extend it")


def test_the_recipe_runs_in_order_and_leaves_what_the_unit_needs() -> None:
    machine = Machine()
    for line in unit_recipe():
        machine.run(line)
    service = unit()["Service"]
    user = service["User"]
    assert user in machine.users and user != "root"
    exec_start = shlex.split(service["ExecStart"])
    venv = str(PurePosixPath(exec_start[0]).parent.parent)
    assert exec_start == [f"{venv}/bin/citebot", "run"]
    assert "citebot" in machine.venvs[venv], "ExecStart is not the venv the recipe installs into"
    assert machine.dirs[venv][0] == "root"  # the service cannot rewrite its own code
    assert machine.files[service["EnvironmentFile"]] == ("root", 0o600)
    assert machine.dirs[service["WorkingDirectory"]][0] == user
    for folder in service["ReadWritePaths"].split():
        assert machine.dirs[folder][0] == user, folder
    # Environment= repeats (configparser keeps only the last), so these are read from the text.
    folders = dict(re.findall(r"^Environment=(CITEBOT_(?:ARTICLES|CACHE)_DIR)=(\S+)$", UNIT.read_text(), re.MULTILINE))
    assert set(folders) == {"CITEBOT_ARTICLES_DIR", "CITEBOT_CACHE_DIR"}
    for folder in folders.values():
        assert machine.dirs[folder][0] == user, folder
    for doc in unit()["Unit"]["Documentation"].split():
        scheme, _, rest = doc.partition(":")
        assert scheme in {"https", "http", "file", "man", "info"}, doc
        if scheme == "file":
            assert rest.removeprefix("//") in machine.files, f"{doc} is not installed by the recipe"


def test_the_old_recipe_fails_in_the_model() -> None:
    """The model catches what users hit: a venv made by citebot under root's /opt."""
    machine = Machine()
    machine.run("sudo useradd --system --create-home --home-dir /var/lib/citebot citebot")
    with pytest.raises(AssertionError, match="/opt/citebot does not exist"):
        machine.run("sudo -u citebot python3 -m venv /opt/citebot/.venv")
    machine.run("sudo install -d /opt/citebot")
    with pytest.raises(AssertionError, match="Permission denied"):
        machine.run("sudo -u citebot python3 -m venv /opt/citebot/.venv")


def test_the_readme_gives_the_same_recipe_as_the_unit() -> None:
    assert readme_recipe() == unit_recipe()


def test_the_unit_holds_no_token() -> None:
    text = UNIT.read_text(encoding="utf-8")
    assert not re.search(r"DISCORD_TOKEN\s*=\s*\S", "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("#")))
    assert not re.search(r"[\w-]{24,}\.[\w-]{6}\.[\w-]{27,}", text)  # the shape of a Discord bot token
    assert "CITEBOT_DISCORD__TOKEN" not in text
    assert unit()["Service"]["EnvironmentFile"] == "/etc/citebot/env"


def _verify(unit_text: str, folder: Path) -> subprocess.CompletedProcess:
    path = folder / "citebot.service"
    path.write_text(unit_text, encoding="utf-8")
    return subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=120)


def _at(unit_text: str, citebot: Path) -> str:
    return re.sub(r"^ExecStart=\S+", f"ExecStart={citebot}", unit_text, flags=re.MULTILINE)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_analyze_verify_finds_nothing_to_say(tmp_path: Path) -> None:
    fake = tmp_path / "citebot"
    fake.write_text("#!/bin/sh\n", encoding="utf-8")
    fake.chmod(0o755)
    proc = _verify(_at(UNIT.read_text(encoding="utf-8"), fake), tmp_path)
    about_unit = [line for line in proc.stderr.splitlines() if "citebot.service" in line]
    assert proc.returncode == 0 and about_unit == [], proc.stderr
    # The check is real: an unknown key is reported.
    noisy = _verify(_at(UNIT.read_text(encoding="utf-8"), fake).replace("[Service]", "[Service]\nFrobnicate=1"),
                    tmp_path)
    assert "Frobnicate" in noisy.stderr


# --- the recipe for real, under a temporary root --------------------------------------------------


def _source_copy(target: Path) -> Path:
    """The project's files (what git tracks, roughly): pip builds in the source folder."""
    skip = shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                  ".hypothesis", "results")
    shutil.copytree(ROOT, target, ignore=skip)
    return target


@pytest.mark.slow
def test_the_recipe_really_installs_a_citebot_that_answers(tmp_path: Path) -> None:
    root = tmp_path / "root"
    source = _source_copy(tmp_path / "src")

    def moved(word: str) -> str:
        return str(root) + word if word.startswith(("/opt/", "/etc/", "/var/")) else word

    env = {k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "VIRTUAL_ENV", "PYTHON"))}
    env.pop("DISCORD_TOKEN", None)
    for line in unit_recipe():
        for command in line.split("&&"):
            words = shlex.split(command)
            if words[0] == "sudo":
                words = words[3:] if words[1] == "-u" else words[1:]
            if words[0] in {"useradd", "systemctl", "journalctl", "sudoedit"}:
                continue  # needs root and a running systemd: the model above checks these
            words = [moved(w) for w in words]
            if words[0] == "install":  # no chown without root
                for flag in ("-o", "-g"):
                    while flag in words:
                        i = words.index(flag)
                        del words[i:i + 2]
                if "-d" not in words:
                    words.insert(1, "-D")  # the temp root lacks e.g. /etc/systemd/system
            if words[0] == "python3":
                words[0] = sys.executable
            proc = subprocess.run(words, cwd=source, env=env, capture_output=True, text=True, timeout=WAIT)
            assert proc.returncode == 0, f"{shlex.join(words)}\n{proc.stdout}\n{proc.stderr}"

    service = unit()["Service"]
    citebot = Path(moved(shlex.split(service["ExecStart"])[0]))
    assert citebot.is_file() and os.access(citebot, os.X_OK)
    doc = unit()["Unit"]["Documentation"].removeprefix("file://")
    assert Path(moved(doc)).read_text(encoding="utf-8") == README.read_text(encoding="utf-8")
    assert (Path(moved(service["EnvironmentFile"])).stat().st_mode & 0o777) == 0o600

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    articles = elsewhere / "articles"
    shutil.copytree(ROOT / "seeds", articles)
    proc = subprocess.run([str(citebot), "ask", "--articles", str(articles), "--no-cache",
                           "Where might the second summit be held?"],
                          cwd=elsewhere, env=env, capture_output=True, text=True, timeout=WAIT)
    assert proc.returncode == 0, proc.stderr
    assert "Vietnam is likely to be chosen as a venue for a second summit" in proc.stdout
    # Out of the box, from a folder holding nothing of citebot's: the bundled seed articles are
    # the default library, and top-level "config", "bot" and "retrieval" packages of someone
    # else's (PyPI has a "config") shadow nothing: citebot's live under citebot.*.
    shadow = elsewhere / "shadow"
    for name in ("config", "bot", "retrieval"):
        (shadow / name).mkdir(parents=True)
        (shadow / name / "__init__.py").write_text("raise ImportError('not citebot')\n")
    proc = subprocess.run([str(citebot), "ask", "--no-cache", "Where might the second summit be held?"],
                          cwd=elsewhere, env={**env, "PYTHONPATH": str(shadow)}, capture_output=True,
                          text=True, timeout=WAIT)
    assert proc.returncode == 0, proc.stderr
    assert "Vietnam is likely to be chosen as a venue for a second summit" in proc.stdout
    assert "site-packages" in subprocess.run(
        [str(citebot.parent / "python"), "-c", "import citebot.seeds, citebot.config; print(citebot.config.__file__)"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=WAIT).stdout
    if shutil.which("systemd-analyze"):
        verified = _verify(_at(UNIT.read_text(encoding="utf-8"), citebot), tmp_path)
        assert verified.returncode == 0, verified.stderr
