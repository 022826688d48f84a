"""The CLI in a terminal (issue #14, Terminal): wrapping, colour and NO_COLOR, the progress bar,
line editing with history, no quote printed twice, and plurals.

Terminal behaviour is driven through a real pseudo-terminal (``pty``): the CLI runs as
``python -m citebot.bot`` with its stdin/stdout (and, where it matters, stderr) on the pty's slave end,
and the test reads the master end until the text it waits for appears (generous timeouts, no
timing assertions). Piped runs are the control: there nothing may change.
"""
from __future__ import annotations

import fcntl
import io
import json
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from citebot.bot import cli, format as fmt, terminal
from citebot.retrieval.models import Answer, Citation

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"
CARD_QUESTION = "Where might the second summit be held?"
CARD_SENTENCE = ("North Korea observers say Vietnam is likely to be chosen as a venue for a second summit "
                 "but there has been no official confirmation.")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
WAIT = 120  # seconds: a condition, not a speed limit (four test runs may share two cores)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CITEBOT_") and k not in {"DISCORD_TOKEN", "NO_COLOR", "COLUMNS", "LINES"}}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["CITEBOT_WATCH"] = "false"
    env["TERM"] = "xterm-256color"
    env.update(extra)
    return env


class Terminal:
    """``python -m citebot.bot ARGS`` on a pseudo-terminal of ``columns`` columns.

    stdin and stdout are the terminal; stderr too unless ``stderr`` is given (e.g. a pipe)."""

    def __init__(self, *args: str, cwd: Path, env: dict[str, str], columns: int = 80,
                 stderr: int | None = None, python: list[str] | None = None) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        self.proc = subprocess.Popen(
            (python or [sys.executable, "-m", "citebot.bot"]) + list(args), cwd=cwd, env=env,
            stdin=slave, stdout=slave, stderr=slave if stderr is None else stderr, close_fds=True,
        )
        os.close(slave)
        self.raw = b""
        self.seen = 0

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", "replace").replace("\r\n", "\n")

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: every writer has closed the terminal
            return False
        self.raw += chunk
        return bool(chunk)

    def _drain(self) -> bool:
        """True while the exited process's last output is still arriving."""
        ready, _, _ = select.select([self.master], [], [], 0)
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 65536)
        except OSError:
            return False
        self.raw += chunk
        return bool(chunk)

    def expect(self, needle: str, timeout: float = WAIT) -> str:
        """Read until ``needle`` has appeared since the last expect (colour codes aside)."""
        import time

        deadline = time.monotonic() + timeout
        while (found := ANSI.sub("", self.text).find(needle, self.seen)) < 0:
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {needle!r} in:\n{self.text}"
            if not self._read(min(left, 1.0)) and self.proc.poll() is not None:
                assert ANSI.sub("", self.text).find(needle, self.seen) >= 0, f"exited without {needle!r}:\n{self.text}"
        self.seen = found + len(needle)  # the next expect looks after this match
        return self.text

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self, timeout: float = WAIT) -> str:
        """Wait for exit, keeping everything it wrote."""
        import time

        deadline = time.monotonic() + timeout
        try:
            while self.proc.poll() is None or self._drain():
                if time.monotonic() > deadline:
                    self.proc.kill()
                    raise AssertionError(f"still running after {timeout} s:\n{self.text}")
                self._read(0.5)
        finally:
            self.proc.wait(timeout=timeout)
            os.close(self.master)
        assert "Traceback" not in self.text, self.text
        return self.text


def plain_lines(text: str) -> list[str]:
    return ANSI.sub("", text).split("\n")


@pytest.fixture
def long_quote_folder(tmp_path: Path) -> Path:
    """One article whose answer is a long sentence (and one short article: 2 articles)."""
    folder = tmp_path / "articles"
    folder.mkdir()
    shutil.copy(SEEDS / "north-korea-kim-orders-second-trump-summit-preparations.txt", folder)
    return folder


# --- 3. wrapping: a terminal only, the quote's characters untouched -----------------------------


def test_a_terminal_gets_quotes_wrapped_to_its_width_and_verbatim(tmp_path: Path, long_quote_folder: Path) -> None:
    tty = Terminal("ask", "--articles", str(long_quote_folder), "--no-cache", CARD_QUESTION,
                   cwd=tmp_path, env=clean_env(NO_COLOR="1"), columns=50)
    lines = [line for line in plain_lines(tty.finish()) if line]
    assert tty.proc.returncode == 0
    # Only a single word longer than the terminal (here the file name) may overrun it: no word is split.
    assert all(len(line) <= 50 or len(line.split()) == 1 for line in lines), lines
    assert "north-korea-kim-orders-second-trump-summit-preparations.txt," in [line.strip() for line in lines]
    # Taking the added line breaks (and the hanging indent) out gives the quote back exactly.
    answer = []
    for line in lines:
        answer.append(line.strip())
        if line.endswith("[1]"):
            break
    assert " ".join(answer) == f"“{CARD_SENTENCE}” [1]"


def test_piped_and_json_output_are_never_wrapped(tmp_path: Path, long_quote_folder: Path) -> None:
    env = clean_env(COLUMNS="50", NO_COLOR="1")
    piped = subprocess.run([sys.executable, "-m", "citebot.bot", "ask", "--articles", str(long_quote_folder), "--no-cache",
                            CARD_QUESTION], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=WAIT)
    assert piped.stdout.splitlines()[0] == f"“{CARD_SENTENCE}” [1]"
    tty = Terminal("ask", "--json", "--articles", str(long_quote_folder), "--no-cache", CARD_QUESTION,
                   cwd=tmp_path, env=env, columns=50)
    obj = json.loads(tty.finish().strip())
    assert obj["answer"] == CARD_SENTENCE and obj["citations"][0]["quote"] == CARD_SENTENCE


def test_wrapping_keeps_words_and_urls_whole() -> None:
    url = "https://example.test/" + "a" * 80
    text = f"[1] A title — file.md, paragraph 2 <{url}>\n    “one two three four five six seven”"
    out = terminal.for_terminal(text, width=30, colour=False)
    assert sum(f"<{url}>" in line for line in out.split("\n")) == 1  # never split
    assert all(line.startswith("    ") for line in out.split("\n")[1:])  # hanging indent
    assert " ".join(out.split()) == " ".join(text.split())
    assert terminal.for_terminal(text, width=None, colour=False) == text


# --- colour: a terminal only, NO_COLOR respected ------------------------------------------------


def test_colour_on_a_terminal_but_not_with_no_color_nor_when_piped(tmp_path: Path, long_quote_folder: Path) -> None:
    args = ("ask", "--articles", str(long_quote_folder), "--no-cache", CARD_QUESTION)
    coloured = Terminal(*args, cwd=tmp_path, env=clean_env()).finish()
    assert "\x1b[" in coloured and "Sources:" in coloured
    assert CARD_SENTENCE.split()[0] in coloured
    plain = Terminal(*args, cwd=tmp_path, env=clean_env(NO_COLOR="1")).finish()
    assert "\x1b" not in plain and "Sources:" in plain
    piped = subprocess.run([sys.executable, "-m", "citebot.bot", *args], capture_output=True, text=True,
                           cwd=tmp_path, env=clean_env(), timeout=WAIT)
    assert "\x1b" not in piped.stdout + piped.stderr


def test_use_colour_rules() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert terminal.use_colour(Tty(), {}) is True
    assert terminal.use_colour(Tty(), {"NO_COLOR": "1"}) is False
    assert terminal.use_colour(Tty(), {"NO_COLOR": ""}) is True  # no-color.org: only a non-empty value
    assert terminal.use_colour(Tty(), {"TERM": "dumb"}) is False
    assert terminal.use_colour(io.StringIO(), {}) is False


# --- 4. no quote printed twice ------------------------------------------------------------------


def test_one_citation_prints_its_quote_once(in_process: Path, long_quote_folder: Path, capsys) -> None:
    code = cli.main(["ask", "--articles", str(long_quote_folder), "--no-cache", CARD_QUESTION])
    out = capsys.readouterr().out
    assert code == 0
    assert out.count(CARD_SENTENCE) == 1
    assert out.splitlines()[0] == f"“{CARD_SENTENCE}” [1]"
    assert "[1] North Korea’s leader orders preparations for second Trump meet" in out


def _citation(n: int, quote: str) -> Citation:
    return Citation(n=n, title=f"Title {n}", path=f"a{n}.txt", paragraph=n, quote=quote, score=1.0)


def test_two_citations_each_quote_once_with_its_own_marker() -> None:
    first, second = "The bridge reopened on Monday.", "Tolls return in May."
    answer = Answer("When?", True, f"{first} {second}", (_citation(1, first), _citation(2, second)))
    out = fmt.answer_text(answer)
    assert out.count(first) == 1 and out.count(second) == 1
    assert out.splitlines()[0] == f"“{first}” [1] “{second}” [2]"
    # A citation whose quote the answer does not show keeps its quote under the source.
    odd = Answer("When?", True, first, (_citation(1, first), _citation(2, second)))
    assert fmt.answer_text(odd).count(second) == 1


# --- 5. plurals ---------------------------------------------------------------------------------


def test_counts_read_right_for_one_article(in_process: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "only.txt").write_text("Only one\n\nThe only paragraph of the only article.\n", encoding="utf-8")
    assert cli.main(["index", "--articles", str(folder), "--no-cache"]) == 0
    assert capsys.readouterr().out.startswith("1 article, 1 passage indexed from ")
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt="": "")
    assert cli.main(["ask", "--articles", str(folder), "--no-cache"]) == 0
    assert capsys.readouterr().out.startswith(f"citebot: 1 article, 1 passage from {folder}.")
    assert terminal.plural(0, "article") == "0 articles" and terminal.plural(1234, "passage") == "1,234 passages"


# --- 6. the progress bar ------------------------------------------------------------------------


@pytest.fixture
def big_folder(tmp_path: Path) -> Path:
    """450 small articles (the library reports progress every 200 files), and one bad file
    read late, so its warning is logged while the bar is showing."""
    folder = tmp_path / "big"
    folder.mkdir()
    for i in range(450):
        (folder / f"a{i:03d}.txt").write_text(f"Story {i}\n\nThe parish council met {i} times this year.\n",
                                             encoding="utf-8")
    (folder / "a300-bad.txt").write_bytes(b"\x00\x01\x02" * 50)
    return folder


def test_a_terminal_gets_a_progress_bar_that_warnings_do_not_break(tmp_path: Path, big_folder: Path) -> None:
    tty = Terminal("index", "--articles", str(big_folder), "--no-cache", cwd=tmp_path, env=clean_env(NO_COLOR="1"))
    out = tty.finish()
    assert tty.proc.returncode == 0
    assert "files read: 200/451 |" in out and "%" in out  # a bar, not a bare counter
    assert out.index("files read") < out.index("WARNING")  # the warning came while the bar showed
    pieces = re.split(r"[\r\n]", ANSI.sub("", out))
    warning = [p for p in pieces if "WARNING" in p]
    assert warning and all(p.startswith("WARNING ") for p in warning), warning  # a line of its own
    assert "450 articles, 450 passages indexed from" in out


def test_progress_bar_is_hidden_when_stderr_is_not_a_terminal(tmp_path: Path, big_folder: Path) -> None:
    tty = Terminal("index", "--articles", str(big_folder), "--no-cache", cwd=tmp_path,
                   env=clean_env(), stderr=subprocess.PIPE)
    out = tty.finish()
    err = tty.proc.stderr.read().decode()
    tty.proc.stderr.close()
    assert "450 articles" in out
    assert "files read" not in err and "\r" not in err and "\x1b" not in err
    assert "skipped a300-bad.txt" in err  # the log line itself still comes


def test_a_folder_read_in_one_step_shows_no_bar() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    bar = cli._progress_printer(stream)
    with bar:
        bar("read", 2, 2)
        bar("index", 2, 2)
    assert stream.getvalue() == ""


# --- 2. line editing and history ----------------------------------------------------------------


def test_the_prompt_has_history_and_arrow_keys(tmp_path: Path, long_quote_folder: Path) -> None:
    state = tmp_path / "state"
    env = clean_env(XDG_STATE_HOME=str(state), NO_COLOR="1")
    args = ("ask", "--articles", str(long_quote_folder), "--no-cache")
    first = Terminal(*args, cwd=tmp_path, env=env, columns=200)
    first.expect("? ")
    first.send(CARD_QUESTION + "\r")
    first.expect("Sources:")
    first.expect("? ")
    first.send("\r")
    first.finish()
    history = state / "citebot" / "history"
    assert CARD_QUESTION in history.read_text(encoding="utf-8")
    assert history.stat().st_mode & 0o777 == 0o600

    again = Terminal(*args, cwd=tmp_path, env=env, columns=200)
    again.expect("? ")
    again.send("\x1b[A\r")  # up arrow: the question from the last run, then Enter
    out = again.expect("Sources:")
    again.expect("? ")
    again.send("\x04")  # Ctrl-D
    again.finish()
    assert f"“{CARD_SENTENCE}” [1]" in ANSI.sub("", out)


def test_the_prompt_works_where_python_has_no_readline(tmp_path: Path, long_quote_folder: Path) -> None:
    python = [sys.executable, "-c",
              "import sys; sys.modules['readline'] = None; from citebot.bot.cli import main; sys.exit(main())"]
    env = clean_env(XDG_STATE_HOME=str(tmp_path / "state"), NO_COLOR="1")
    tty = Terminal("ask", "--articles", str(long_quote_folder), "--no-cache", cwd=tmp_path, env=env,
                   columns=200, python=python)
    tty.expect("? ")
    tty.send(CARD_QUESTION + "\r")
    tty.expect("Sources:")
    tty.expect("? ")
    tty.send("\r")
    tty.finish()
    assert tty.proc.returncode == 0
    assert not (tmp_path / "state").exists()


def test_history_is_bounded(tmp_path: Path) -> None:
    readline = pytest.importorskip("readline")
    path = tmp_path / "state" / "history"
    saved = [readline.get_history_item(i) for i in range(1, readline.get_current_history_length() + 1)]
    try:
        readline.clear_history()
        with terminal.LineEditing(path, length=3):
            for i in range(10):
                readline.add_history(f"question {i}")
        assert path.read_text().split().count("question") == 3
        assert "question 9" in path.read_text() and "question 6" not in path.read_text()
    finally:
        readline.clear_history()
        for item in saved:
            readline.add_history(item)
