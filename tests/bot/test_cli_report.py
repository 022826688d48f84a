"""`citebot report`: the record's gaps on the command line, read-only, most frequent first."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from citebot.bot import cli
from citebot.bot.record import Record


@pytest.fixture(autouse=True)
def clean(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.upper().startswith("CITEBOT_"):
            monkeypatch.delenv(key)


def filled(path: Path) -> Path:
    record = Record(path).open()
    for q in ("Who won the chess final?", "who won the chess final", "Where is the new pier?"):
        record.add(question=q, searched=q, found=False, answer="", citations=[], message_id=None, user_id=1)
    record.close()
    return path


def test_report_lists_gaps_most_frequent_first_without_writing(tmp_path: Path, capsys) -> None:
    path = filled(tmp_path / "record.sqlite3")
    before = path.read_bytes()
    assert cli.main(["report", "--record", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "2× unanswered: Who won the chess final?", "1× unanswered: Where is the new pier?"]
    assert cli.main(["report", "--json", "--record", str(path), "--since", "7d"]) == 0
    gaps = json.loads(capsys.readouterr().out)["gaps"]
    assert [(g["question"], g["count"]) for g in gaps] == [("Who won the chess final?", 2), ("Where is the new pier?", 1)]
    assert path.read_bytes() == before


def test_report_without_a_record_says_so_and_creates_nothing(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "none" / "record.sqlite3"
    assert cli.main(["report", "--record", str(missing)]) == 0
    assert capsys.readouterr().out.startswith(f"No record of questions yet at {missing}")
    assert not missing.parent.exists()


def test_report_bad_since_is_a_usage_error(tmp_path: Path, capsys) -> None:
    assert cli.main(["report", "--since", "last tuesday", "--record", str(tmp_path / "r.sqlite3")]) == 2
    assert "--since" in capsys.readouterr().err


def test_report_on_a_file_that_is_not_a_record_is_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "record.sqlite3"
    bad.write_bytes(b"not a database at all" * 100)
    assert cli.main(["report", "--record", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"citebot: cannot use the record file {bad}") and "\n" not in err
