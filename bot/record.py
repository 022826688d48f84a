"""What was asked: every question, its answer or decline, its citations and its votes, in SQLite.

stdlib ``sqlite3`` in one file (``discord.record_path``, default ``<cache_dir>/record.sqlite3``),
with a schema version (``PRAGMA user_version``) and ordered migrations. Nothing here imports
discord: the bot calls it through ``asyncio.to_thread`` (never on the event loop) and
``citebot report`` reads it directly.

Stored per question: when, where (server, channel ids), who asked (user id), the question as
typed, the search text, found or not, the quoted answer and citations, and the answer message's
id (for votes). No other user's message text. Entries older than ``retention_days`` are deleted;
``forget_user`` deletes one person's questions and votes.

If the file cannot be opened or written (a read-only disk, a full disk), ``RecordUnavailable``
is raised once with the reason; the bot keeps answering without a record.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

SCHEMA_VERSION = 2
MIGRATIONS: tuple[str, ...] = (
    # 1: questions and votes
    """
    CREATE TABLE questions (
        id INTEGER PRIMARY KEY,
        asked_at REAL NOT NULL,
        guild_id INTEGER, channel_id INTEGER, user_id INTEGER,
        message_id INTEGER UNIQUE,
        question TEXT NOT NULL,
        question_key TEXT NOT NULL,
        searched TEXT NOT NULL,
        found INTEGER NOT NULL,
        answer TEXT NOT NULL DEFAULT '',
        citations TEXT NOT NULL DEFAULT '[]',
        answered_later TEXT
    );
    CREATE INDEX questions_key ON questions(question_key);
    CREATE INDEX questions_user ON questions(user_id);
    CREATE INDEX questions_asked ON questions(asked_at);
    CREATE TABLE votes (
        question_id INTEGER NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL,
        vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
        voted_at REAL NOT NULL,
        PRIMARY KEY (question_id, user_id)
    );
    """,
    # 2: per-server settings changed with /settings (JSON values; TOML/env stay the defaults)
    """
    CREATE TABLE server_settings (
        guild_id INTEGER NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (guild_id, key)
    );
    """,
)


class RecordUnavailable(Exception):
    """The record cannot be used; the message says why (shown once, then answering goes on)."""


@dataclass(frozen=True)
class Gap:
    """A question the articles could not answer, or an answer voted down, with how often."""

    kind: str  # "unanswered" or "downvoted"
    question: str
    count: int
    last_asked: float
    answered_by: str | None = None  # an article added since that answers it


def question_key(question: str) -> str:
    """Questions that differ only in case, spacing or end punctuation count as one."""
    return " ".join(question.casefold().split()).rstrip(" ?!.")


class Record:
    """One SQLite file; every method is blocking (call it off the event loop)."""

    def __init__(self, path: Path, *, retention_days: int = 90, clock=time.time) -> None:
        self.path = Path(path)
        self.retention_days = retention_days
        self._clock = clock
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._inserts = 0

    # --- opening and migrations ------------------------------------------------------------

    def open(self, *, read_only: bool = False) -> "Record":
        """Open (creating and migrating as needed); ``read_only`` for reports: nothing written."""
        try:
            if read_only:
                db = sqlite3.connect(f"{self.path.absolute().as_uri()}?mode=ro", uri=True, check_same_thread=False)
                if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                    raise sqlite3.DatabaseError("its schema differs from this citebot's; run the bot once to migrate it")
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
                db.execute("PRAGMA foreign_keys = ON")
                self._migrate(db)
        except (sqlite3.Error, OSError) as exc:
            raise RecordUnavailable(f"cannot use the record file {self.path}: {_reason(exc)}") from None
        self._db = db
        if not read_only:
            self.prune()
        return self

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"it was written by a newer citebot (schema {version})")
        for number in range(version, SCHEMA_VERSION):
            with db:
                db.executescript(f"BEGIN; {MIGRATIONS[number]} PRAGMA user_version = {number + 1}; COMMIT;")

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _run(self, sql: str, args: Sequence[Any] = (), *, many: Iterable[Sequence[Any]] | None = None) -> sqlite3.Cursor:
        if self._db is None:
            raise RecordUnavailable(f"the record file {self.path} is not open")
        try:
            with self._lock, self._db:
                if many is not None:
                    return self._db.executemany(sql, many)
                return self._db.execute(sql, args)
        except (sqlite3.Error, OSError) as exc:
            raise RecordUnavailable(f"cannot write the record file {self.path}: {_reason(exc)}") from None

    # --- writing ---------------------------------------------------------------------------

    def add(self, *, question: str, searched: str, found: bool, answer: str, citations: Sequence[dict[str, Any]],
            message_id: int | None, guild_id: int | None = None, channel_id: int | None = None,
            user_id: int | None = None) -> int:
        """Store one asked question and what it got; returns its row id."""
        cursor = self._run(
            "INSERT INTO questions (asked_at, guild_id, channel_id, user_id, message_id, question, question_key,"
            " searched, found, answer, citations) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (self._clock(), guild_id, channel_id, user_id, message_id, question, question_key(question), searched,
             int(found), answer if found else "", json.dumps(list(citations), ensure_ascii=False)),
        )
        self._inserts += 1
        if self._inserts % 100 == 0:
            self.prune()
        return int(cursor.lastrowid or 0)

    def vote(self, message_id: int, user_id: int, vote: int) -> tuple[int, int] | None:
        """One vote per user per answer; a second click changes it. (ups, downs), or None if the
        message is not a recorded answer."""
        row = self._run("SELECT id FROM questions WHERE message_id = ?", (message_id,)).fetchone()
        if row is None:
            return None
        self._run("INSERT INTO votes (question_id, user_id, vote, voted_at) VALUES (?,?,?,?) "
                  "ON CONFLICT (question_id, user_id) DO UPDATE SET vote = excluded.vote, voted_at = excluded.voted_at",
                  (row[0], user_id, 1 if vote > 0 else -1, self._clock()))
        ups, downs = self._run("SELECT COALESCE(SUM(vote = 1), 0), COALESCE(SUM(vote = -1), 0) FROM votes "
                               "WHERE question_id = ?", (row[0],)).fetchone()
        return int(ups), int(downs)

    def question_for(self, message_id: int) -> tuple[str, str, list[dict[str, Any]]] | None:
        """(question, search text, citations) of the answer in ``message_id``."""
        row = self._run("SELECT question, searched, citations FROM questions WHERE message_id = ?",
                        (message_id,)).fetchone()
        return None if row is None else (row[0], row[1], json.loads(row[2]))

    def forget_user(self, user_id: int) -> int:
        """Delete a person's questions (with their votes) and their votes on others' answers."""
        asked = self._run("DELETE FROM questions WHERE user_id = ?", (user_id,)).rowcount
        voted = self._run("DELETE FROM votes WHERE user_id = ?", (user_id,)).rowcount
        return int(asked) + int(voted)

    def prune(self) -> int:
        """Delete entries older than the retention period."""
        cutoff = self._clock() - self.retention_days * 86_400
        return int(self._run("DELETE FROM questions WHERE asked_at < ?", (cutoff,)).rowcount)

    def mark_answered(self, keys_to_source: dict[str, str]) -> None:
        """Record that an added article now answers these (question_key -> source) questions."""
        self._run("UPDATE questions SET answered_later = ? WHERE question_key = ? AND found = 0",
                  many=[(source, key) for key, source in keys_to_source.items()])

    def set_server_settings(self, guild_id: int, values: dict[str, Any]) -> None:
        """Store a server's overrides (a value of None removes that override)."""
        self._run("DELETE FROM server_settings WHERE guild_id = ? AND key = ?",
                  many=[(guild_id, k) for k, v in values.items() if v is None])
        self._run("INSERT INTO server_settings (guild_id, key, value) VALUES (?,?,?) "
                  "ON CONFLICT (guild_id, key) DO UPDATE SET value = excluded.value",
                  many=[(guild_id, k, json.dumps(v)) for k, v in values.items() if v is not None])

    def clear_server_settings(self, guild_id: int) -> None:
        self._run("DELETE FROM server_settings WHERE guild_id = ?", (guild_id,))

    def server_settings(self) -> dict[int, dict[str, Any]]:
        """Every server's overrides."""
        out: dict[int, dict[str, Any]] = {}
        for guild_id, key, value in self._run("SELECT guild_id, key, value FROM server_settings").fetchall():
            out.setdefault(int(guild_id), {})[key] = json.loads(value)
        return out

    # --- reading ---------------------------------------------------------------------------

    def gaps(self, *, since: float | None = None, limit: int = 50) -> list[Gap]:
        """Unanswered questions and downvoted answers, most frequent first."""
        since = since or 0.0
        unanswered = self._run(
            "SELECT MIN(question), COUNT(*), MAX(asked_at), MAX(answered_later) FROM questions "
            "WHERE found = 0 AND asked_at >= ? GROUP BY question_key ORDER BY COUNT(*) DESC, MAX(asked_at) DESC "
            "LIMIT ?", (since, limit)).fetchall()
        downvoted = self._run(
            "SELECT MIN(q.question), SUM(v.vote = -1), MAX(q.asked_at) FROM questions q JOIN votes v "
            "ON v.question_id = q.id WHERE q.asked_at >= ? GROUP BY q.question_key "
            "HAVING SUM(v.vote = -1) > SUM(v.vote = 1) ORDER BY SUM(v.vote = -1) DESC, MAX(q.asked_at) DESC LIMIT ?",
            (since, limit)).fetchall()
        gaps = [Gap("unanswered", q, int(n), float(t), later) for q, n, t, later in unanswered]
        gaps += [Gap("downvoted", q, int(n), float(t)) for q, n, t in downvoted]
        return sorted(gaps, key=lambda g: (-g.count, -g.last_asked))

    def open_questions(self, limit: int = 200) -> list[tuple[str, str]]:
        """(question_key, question) of unanswered questions not yet marked answered."""
        return [(k, q) for k, q in self._run(
            "SELECT question_key, MIN(question) FROM questions WHERE found = 0 AND answered_later IS NULL "
            "GROUP BY question_key ORDER BY COUNT(*) DESC LIMIT ?", (limit,)).fetchall()]


def _reason(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    if "readonly" in text.replace("-", "").replace(" ", "").lower() or "unable to open" in text:
        return f"{text} (is the disk or folder read-only?)"
    return text


def gaps_json(gaps: Sequence[Gap]) -> list[dict[str, Any]]:
    return [{"kind": g.kind, "question": g.question, "count": g.count, "last_asked": g.last_asked,
             "answered_by": g.answered_by} for g in gaps]


def gaps_text(gaps: Sequence[Gap], limit_chars: int | None = None) -> str:
    """One line per gap, most frequent first; ``limit_chars`` stops before the text grows past it."""
    if not gaps:
        return "No unanswered or downvoted questions recorded."
    lines: list[str] = []
    used = 0
    for g in gaps:
        what = "unanswered" if g.kind == "unanswered" else "voted down"
        line = f"{g.count}× {what}: {g.question}"
        if g.answered_by:
            line += f" — now answered by {g.answered_by}"
        if limit_chars is not None and used + len(line) + 1 > limit_chars - 40:
            lines.append(f"…and {len(gaps) - len(lines)} more")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)
