"""The synonym and word-form relatives tables: they agree with the analyzer, and their builders
read WordNet's files."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

import helpers
from citebot.retrieval import Library
from citebot.retrieval import synonyms as table
from citebot.retrieval.analyzer import tokenize

ROOT = helpers.ROOT


def test_every_row_is_keyed_by_the_term_its_words_analyse_to() -> None:
    # A changed analyzer (stemmer, spelling folds) would leave rows no question term can reach:
    # remake the table (python -m citebot.retrieval.synonyms) when this fails.
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


def _rows(path: Path) -> list[list[str]]:
    return [line.rstrip("\n").split("\t") for line in path.read_text(encoding="utf-8").splitlines()
            if not line.startswith("#")]


def test_every_relatives_row_agrees_with_the_analyzer_and_runs_both_ways() -> None:
    # Remake the tables (python -m citebot.retrieval.synonyms) when this fails after an analyzer change.
    rows = _rows(table.RELATIVES_PATH)
    assert len(rows) > 10_000
    assert all(len(row) == 3 and row[2] for row in rows)
    wrong = [(term, word) for term, words, _ in rows for word in words.split("|")
             if tokenize(word) != [term]]
    assert not wrong, wrong[:10]
    # Each relative is one word with a term of its own, and its row leads back.
    by_term = {term: {tuple(tokenize(w)) for w in related.split("|")} for term, _, related in rows}
    bad = [(term, r) for term, found in by_term.items() for r in found
           if len(r) != 1 or r[0] == term or (term,) not in by_term.get(r[0], set())]
    assert not bad, bad[:10]
    size = table.TABLE_PATH.stat().st_size + table.RELATIVES_PATH.stat().st_size
    assert size < 4_000_000, "the shipped tables stay a few MB"


@pytest.mark.parametrize("word, relative", [
    ("Italian", "Italy"), ("Korean", "Korea"), ("Polish", "Poland"), ("Chinese", "China"),
    ("German", "Germany"), ("British", "Britain"), ("British", "UK"), ("decision", "decide"),
    ("economic", "economy"),
])
def test_related_links_demonyms_and_word_forms_both_ways(word: str, relative: str) -> None:
    [term], [other] = tokenize(word), tokenize(relative)
    assert term != other, "stemming alone keeps these apart"
    assert other in table.related(term)
    assert term in table.related(other)


def test_related_never_gives_the_term_itself_or_unknown_terms() -> None:
    # WordNet links earn/earnings, which stemming already joins: no row lists a term as its own.
    assert tokenize("earnings") == tokenize("earn")
    assert all(t not in table.related(t) for t in ("earn", "itali", "korea", "decid"))
    assert table.related("qwzx") == ()


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


def _write_wordnet_pointers(folder: Path) -> None:
    """Synsets linked by pointers ("+" derivation, "\\" pertainym, "@" hypernym, "!" antonym),
    with no index entries (the relatives come from the data files alone)."""
    _write_wordnet(folder)
    with (folder / "data.noun").open("a") as noun:
        noun.write(
            "00001000 15 n 01 Italy 0 000 | a country\n"
            "00003000 04 n 01 earnings 0 001 + 00004000 v 0101 | money earned\n"
            "00005000 15 n 02 Great_Britain 0 GB 0 000 | an island\n"
            "00006000 15 n 04 United_Kingdom 0 UK 0 Britain 0 Great_Britain 0 000 | a kingdom\n"
            "00008000 04 n 01 decision 0 000 | a choice\n"
            "00009000 04 n 01 runaway 0 001 + 00010000 v 0101 | a fugitive\n")
    with (folder / "data.adj").open("a") as adj:
        adj.write(
            "00002000 01 a 01 Italian 0 003 \\ 00001000 n 0101 @ 00001000 n 0000 "
            "! 00007000 a 0101 | of Italy\n"
            "00007000 01 a 01 British 0 001 \\ 00005000 n 0101 | of Great Britain\n")
    (folder / "data.verb").write_text(
        "  1 This software and database is being provided to you\n"
        "00004000 40 v 01 earn 0 001 + 00003000 n 0101 01 + 08 00 | to earn\n"
        "00010000 38 v 01 run_away 0 000 01 + 02 00 | flee\n"
        "00011000 31 v 01 decide 0 001 + 00008000 n 0101 02 + 08 00 + 09 00 | choose\n")


def test_build_relatives_follows_derivation_and_pertainym_pointers_both_ways(tmp_path: Path) -> None:
    _write_wordnet_pointers(tmp_path)
    rows = {line.split("\t")[0]: line.split("\t")[1:]
            for line in table.build_relatives(tmp_path) if not line.startswith("#")}
    term = {w: tokenize(w)[0] for w in ("Italy", "Italian", "British", "Britain", "decide", "decision")}
    # WordNet points Italian to Italy only; the table holds the pair both ways.
    assert rows[term["Italian"]] == ["Italian", "Italy"]
    assert rows[term["Italy"]] == ["Italy", "Italian"]
    assert rows[term["decide"]] == ["decide", "decision"]
    assert rows[term["decision"]] == ["decision", "decide"]
    # A pointer to a capitalised phrase reaches the one-word names of each of its senses.
    assert rows[term["British"]] == ["British", "Britain|GB|UK"]
    assert rows[term["Britain"]] == ["Britain", "British"]
    # Left out: words that analyse alike (earn/earnings), a lower-case phrase (run away), and
    # pointers that are not word-form links (the hypernym and antonym on "Italian").
    assert set(rows) == set(term.values()) | {"gb", "uk"}


def test_build_command_writes_both_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wordnet, out = tmp_path / "wordnet", tmp_path / "out"
    wordnet.mkdir()
    _write_wordnet_pointers(wordnet)
    monkeypatch.setattr(table, "TABLE_PATH", out / "synonyms.tsv")
    monkeypatch.setattr(table, "RELATIVES_PATH", out / "relatives.tsv")
    assert table.main([str(wordnet)]) == 0
    assert _rows(out / "synonyms.tsv")[0][0] in {"step", "usa", "big", tokenize("zero")[0]}
    assert [tokenize("Italy")[0], "Italy", "Italian"] in _rows(out / "relatives.tsv")


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
    """Forget the loaded tables (and lookups) before and after a test that swaps them."""
    caches = (table._table, table.synonyms, table._relatives_table, table.related)
    for cache in caches:
        cache.cache_clear()
    yield
    for cache in caches:
        cache.cache_clear()


def test_a_missing_table_means_no_synonyms_not_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, fresh_table
) -> None:
    monkeypatch.setattr(table, "TABLE_PATH", tmp_path / "gone.tsv")
    with caplog.at_level(logging.WARNING, logger="citebot.retrieval.synonyms"):
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


def test_a_missing_relatives_table_means_no_relatives_not_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, fresh_table
) -> None:
    monkeypatch.setattr(table, "RELATIVES_PATH", tmp_path / "gone.tsv")
    with caplog.at_level(logging.WARNING, logger="citebot.retrieval.synonyms"):
        assert table.related(tokenize("Italy")[0]) == ()
    assert "gone.tsv" in caplog.text and "without word-form relatives" in caplog.text
    assert table.synonyms("step"), "the synonym table is a separate file and still loads"


def test_a_damaged_relatives_row_skips_its_bad_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_table
) -> None:
    damaged = tmp_path / "relatives.tsv"
    # "the" analyses to nothing, "Great Britain" to two terms, "Italian" to the key itself.
    damaged.write_text("# header\nitali\tItaly\tthe|Great Britain|Italian|Italia|italy\n"
                       "truncated\n", encoding="utf-8")
    monkeypatch.setattr(table, "RELATIVES_PATH", damaged)
    assert table.related(tokenize("Italian")[0]) == ()
    assert table.related("itali") == tuple(dict.fromkeys(tokenize("Italian Italia")))
    assert table.related("truncated") == ()
