"""The synonym table: it agrees with the analyzer, and its builder reads WordNet's files."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from retrieval import Library
from retrieval import synonyms as table
from retrieval.analyzer import tokenize

ROOT = Path(__file__).resolve().parent.parent


def test_every_row_is_keyed_by_the_term_its_words_analyse_to() -> None:
    # A changed analyzer (stemmer, spelling folds) would leave rows no question term can reach:
    # remake the table (python -m retrieval.synonyms) when this fails.
    rows = [line.rstrip("\n").split("\t")
            for line in table.TABLE_PATH.read_text(encoding="utf-8").splitlines()
            if not line.startswith("#")]
    assert len(rows) > 30_000
    wrong = [(term, word) for term, words, _ in rows for word in words.split("|")
             if tokenize(word) != [term]]
    assert not wrong, wrong[:10]
    assert all(synonyms for _, _, synonyms in rows)
    # Every synonym keeps all its words, once each ("the States", "one million million" go).
    assert all(table._usable(s, [term]) for term, _, synonyms in rows for s in synonyms.split("|"))


def test_lookup_gives_each_synonym_as_analysed_terms() -> None:
    assert ("measur",) in table.synonyms("step")
    assert ("negoti",) in table.synonyms("talk")
    assert ("fall", "behind") in table.synonyms("lag")  # several words: all must be present
    assert ("step",) not in table.synonyms("step")
    assert table.synonyms("qwzx") == ()


def _write_wordnet(folder: Path) -> None:
    """A small WordNet in its own file format (index.<pos> / data.<pos>)."""
    header = "  1 This software and database is being provided to you\n"
    zero = "zero nought cipher cypher nil nothing naught aught null zilch zip".split()
    (folder / "data.noun").write_text(
        header
        + "00000100 04 n 02 step 0 measure 0 000 | a move toward a goal\n"
        + "00000200 06 n 03 step 1 stair 0 tread 0 000 | support for the foot\n"
        + "00000300 06 n 02 steps 0 stairs 0 000 | a flight of stairs\n"
        + "00000400 04 n 02 step_down 0 resignation 0 000 | leaving office\n"
        + "00000500 15 n 04 USA 0 United_States 0 the_States 0 America 0 000 | a country\n"
        + "00000600 23 n 0b " + " ".join(f"{w} 0" for w in zero) + " 000 | a number\n")
    (folder / "index.noun").write_text(
        header
        + "step n 2 1 @ 2 1 00000100 00000200\n"
        + "steps n 1 0 1 0 00000300\n"
        + "step_down n 1 0 1 0 00000400\n"
        + "usa n 1 0 1 0 00000500\n"
        + "zero n 1 0 1 0 00000600\n")
    (folder / "data.adj").write_text(
        header + "00000700 00 a 02 big(a) 0 large(p) 0 000 | above average in size\n")
    (folder / "index.adj").write_text(header + "big a 1 0 1 0 00000700\n")
    for pos in ("verb", "adv"):
        (folder / f"data.{pos}").write_text(header)
        (folder / f"index.{pos}").write_text(header)


def test_build_keeps_the_first_sense_of_each_one_word_lemma(tmp_path: Path) -> None:
    _write_wordnet(tmp_path)
    rows = {line.split("\t")[0]: line.split("\t")[1:]
            for line in table.build(tmp_path) if not line.startswith("#")}
    # "stair"/"tread" are step's second sense, left out; "steps" is its own word (a flight of
    # stairs) with the same term, so its first sense joins; "step down" is a phrase, not "step".
    assert rows["step"] == ["step|steps", "measure|stairs"]
    # A phrase that needs a stopword ("the States") is dropped; the rest stay as written.
    assert rows["usa"] == ["usa", "America|United States"]
    assert rows["big"] == ["big", "large"], "adjective markers such as (a) and (p) are stripped"
    zero = rows[tokenize("zero")[0]][1].split("|")
    assert len(zero) == 10 and "zip" in zero, "a synset's word count is hexadecimal (0b = 11)"
    assert set(rows) == {"step", "usa", "big", tokenize("zero")[0]}


def test_build_command_refuses_a_folder_without_wordnet(tmp_path: Path, capsys) -> None:
    assert table.main([str(tmp_path)]) == 2
    assert "usage" in capsys.readouterr().err


@pytest.fixture
def fresh_table():
    """Forget the loaded table (and lookups) before and after a test that swaps it."""
    table._table.cache_clear()
    table.synonyms.cache_clear()
    yield
    table._table.cache_clear()
    table.synonyms.cache_clear()


def test_a_missing_table_means_no_synonyms_not_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, fresh_table
) -> None:
    monkeypatch.setattr(table, "TABLE_PATH", tmp_path / "gone.tsv")
    with caplog.at_level(logging.WARNING, logger="retrieval.synonyms"):
        assert table.synonyms("step") == ()
    assert "gone.tsv" in caplog.text and "without synonyms" in caplog.text
    library = Library.open(ROOT / "seeds", cache_dir=tmp_path / "cache")
    answer = library.ask("Where might the second summit be held?")
    assert answer.found and "Vietnam" in answer.text


def test_damaged_rows_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_table) -> None:
    damaged = tmp_path / "synonyms.tsv"
    damaged.write_bytes(b"# header\nstep\tstep\tmeasure\ntruncated row\ntalk\ttalks\n\xff\xfe")
    monkeypatch.setattr(table, "TABLE_PATH", damaged)
    assert table.synonyms("step") == ()  # undecodable: the whole table is off, with a warning
    table._table.cache_clear()
    table.synonyms.cache_clear()
    damaged.write_text("# header\nstep\tstep\tmeasure\ntruncated row\ntalk\ttalks\n", encoding="utf-8")
    assert table.synonyms("step") == (("measur",),)
    assert table.synonyms("talk") == ()
