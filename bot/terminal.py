"""What the CLI does differently on a terminal: wrapping, colour, a progress bar, line editing.

Everything here is a no-op when the stream is not a terminal, so piped output and ``--json``
stay byte-for-byte what :mod:`bot.format` produced (scripts and tests read those).
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import textwrap
from pathlib import Path
from types import TracebackType
from typing import Any, Mapping, TextIO

log = logging.getLogger("citebot")

# A history this long covers weeks of questions; readline trims the file to it on save.
HISTORY_LENGTH = 1000
HISTORY_FILE = "history"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 article``, ``2 articles``, ``1,234 passages``: counts read right in every line."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed stream
        return False


def use_colour(stream: Any, environ: Mapping[str, str] = os.environ) -> bool:
    """Colour only on a terminal that can show it, and never when ``NO_COLOR`` is set
    (https://no-color.org: any non-empty value)."""
    if environ.get("NO_COLOR") or environ.get("TERM") == "dumb":
        return False
    return is_terminal(stream)


def output_width(stream: Any) -> int | None:
    """Columns to wrap to, or None (no wrapping) when ``stream`` is not a terminal: a pipe or
    a file gets each quote on one line, as before."""
    if not is_terminal(stream):
        return None
    columns = shutil.get_terminal_size().columns  # honours $COLUMNS, else asks the terminal
    return max(columns, 20)


_BOLD, _CYAN, _RESET = "\x1b[1m", "\x1b[36m", "\x1b[0m"
_HEADING = re.compile(r"^(Sources:|Closest passages:)$")
_LEAD_MARKER = re.compile(r"^\[\d+\]")
_TRAIL_MARKERS = re.compile(r"(?:\[\d+\])+$")
_SOURCE = re.compile(r"^\[\d+\] ")


def _wrap_line(line: str, width: int) -> list[str]:
    """One line wrapped at spaces only: no word (a URL, a long name) is ever split. Joining the
    pieces with one space gives the line back, except that a run of spaces where a line breaks
    is shown as the break (the words and their order never change)."""
    if len(line) <= width:
        return [line]
    indent = line[: len(line) - len(line.lstrip(" "))]
    hanging = indent + ("    " if _SOURCE.match(line) else "")
    wrapper = textwrap.TextWrapper(
        width=width, initial_indent=indent, subsequent_indent=hanging, break_long_words=False,
        break_on_hyphens=False, expand_tabs=False, replace_whitespace=False, drop_whitespace=True,
    )
    return wrapper.wrap(line[len(indent):]) or [line]


def _colour_line(line: str, starts_block: bool) -> str:
    if _HEADING.match(line):
        return f"{_BOLD}{line}{_RESET}"
    if starts_block and _LEAD_MARKER.match(line):
        marker = _LEAD_MARKER.match(line).group()
        return f"{_BOLD}{_CYAN}{marker}{_RESET}{line[len(marker):]}"
    if not line.startswith(" "):
        found = _TRAIL_MARKERS.search(line)
        if found:
            return f"{line[:found.start()]}{_BOLD}{_CYAN}{found.group()}{_RESET}"
    return line


def for_terminal(text: str, *, width: int | None, colour: bool) -> str:
    """CLI text as a terminal shows it: each line wrapped to ``width`` (hanging indent under a
    source line) and, with ``colour``, the headings and ``[n]`` markers highlighted.

    Only line breaks, indents and colour codes are added: the characters of every quote are
    left as they are (``width=None, colour=False`` returns ``text`` unchanged)."""
    if width is None and not colour:
        return text
    out: list[str] = []
    for line in text.split("\n"):
        pieces = _wrap_line(line, width) if width else [line]
        for i, piece in enumerate(pieces):
            out.append(_colour_line(piece, i == 0) if colour else piece)
    return "\n".join(out)


# --- progress --------------------------------------------------------------------------------


class ProgressBar:
    """The ``progress(stage, done, total)`` hook of ``Library.open`` as a tqdm bar on stderr.

    Shown only for a long read (the library reports every 200 files, so a folder read in one
    step never flashes a bar), and only when the stream is a terminal (the caller checks).
    Used as a context manager, log lines go through ``tqdm.write`` meanwhile, so a warning
    about a skipped file lands above the bar instead of inside it; leaving clears the bar.
    """

    def __init__(self, stream: TextIO, *, colour: bool = False) -> None:
        self.stream = stream
        self.colour = colour
        self._bar: Any = None
        self._status: Any = None
        self._redirect: Any = None

    def __enter__(self) -> "ProgressBar":
        from tqdm.contrib.logging import logging_redirect_tqdm

        self._redirect = logging_redirect_tqdm()
        self._redirect.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
        if self._redirect is not None:
            self._redirect.__exit__(kind, exc, tb)
            self._redirect = None

    def _new(self, **kwargs: Any) -> Any:
        from tqdm import tqdm

        return tqdm(file=self.stream, leave=False, dynamic_ncols=True, mininterval=0.2,
                    colour="cyan" if self.colour else None, **kwargs)

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage == "read":
            if self._bar is None:
                if done >= total:  # read in one step: nothing worth a bar
                    return
                self._bar = self._new(total=total, initial=done, desc="files read", unit="file",
                                      bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| {percentage:3.0f}% "
                                                 "[{elapsed}<{remaining}]")
            self._bar.update(done - self._bar.n)
        elif stage == "index" and self._bar is not None:
            self._bar.update(self._bar.total - self._bar.n)
            self._bar.refresh()
            self._bar.close()
            self._bar = None
            self._status = self._new(total=None, bar_format="{desc}",
                                     desc=f"indexing {plural(total, 'article')}…")

    def close(self) -> None:
        for bar in (self._bar, self._status):
            if bar is not None:
                bar.close()
        self._bar = self._status = None


# --- the interactive prompt --------------------------------------------------------------------


def state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where per-user state lives ($XDG_STATE_HOME/citebot, else ~/.local/state/citebot)."""
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "citebot"


class LineEditing:
    """Arrow keys, Ctrl-R and a history kept between runs for ``input()``, through the stdlib
    ``readline`` where Python has it (not on every platform: then the prompt works as before).

    The history file is private (mode 600: questions can be personal) and at most
    HISTORY_LENGTH lines; a history that cannot be read or written costs a debug line only.
    """

    def __init__(self, path: Path | None = None, length: int = HISTORY_LENGTH) -> None:
        self.path = path or state_dir() / HISTORY_FILE
        self.length = length
        self.readline: Any = None

    def __enter__(self) -> "LineEditing":
        try:
            import readline
        except ImportError:
            return self
        self.readline = readline
        readline.set_history_length(self.length)
        try:
            readline.read_history_file(self.path)
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            log.debug("prompt history %s not read: %s", self.path, exc)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.readline is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))  # never readable by others
            self.readline.write_history_file(self.path)  # truncates to set_history_length
            os.chmod(self.path, 0o600)  # a file left from before, too
        except OSError as exc:
            log.debug("prompt history %s not saved: %s", self.path, exc)
