"""Extraction quality on saved news pages: the old HTML walker against the web-page reader.

    python -m benchmarks.webpages            # the table
    python -m benchmarks.webpages --show     # and each page's misses

The pages are tests/fixtures/pages/*.html, written for this with the boilerplate real news
sites carry (cookie banners, breadcrumbs, share bars, newsletter boxes, related stories, reader
comments, header/nav/footer/aside, layout tables, <div>s instead of <p>s). ``truth.json``
beside them lists, per page, a distinctive piece of every body sentence and every boilerplate
item: a body piece is *kept* when the article's text holds it, a boilerplate piece is *dropped*
when it does not. The title counts as right when it is the headline without the site's name.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from citebot.retrieval.loader import parse_article, parse_html

PAGES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "pages"


@dataclass(frozen=True)
class Score:
    body_kept: int
    body_total: int
    boiler_dropped: int
    boiler_total: int
    title_right: bool
    missed: tuple[str, ...]  # body pieces lost
    leaked: tuple[str, ...]  # boilerplate pieces kept

    @property
    def body_share(self) -> float:
        return self.body_kept / self.body_total if self.body_total else 1.0

    @property
    def boiler_share(self) -> float:
        return self.boiler_dropped / self.boiler_total if self.boiler_total else 1.0


def load_truth() -> dict[str, dict]:
    truth = json.loads((PAGES / "truth.json").read_text(encoding="utf-8"))
    return {name: page for name, page in truth.items() if not name.startswith("_")}


def score(title: str, text: str, truth: dict) -> Score:
    """How much of the true body ``text`` keeps and how much boilerplate it drops."""
    flat = " ".join(text.split())
    missed = tuple(piece for piece in truth["body"] if piece not in flat)
    leaked = tuple(piece for piece in truth["boilerplate"] if piece in flat)
    return Score(len(truth["body"]) - len(missed), len(truth["body"]),
                 len(truth["boilerplate"]) - len(leaked), len(truth["boilerplate"]),
                 " ".join(title.split()) == truth["title"], missed, leaked)


def old_walker(name: str) -> tuple[str, str]:
    """(title, text) as the loader read every page before: the one-pass walker alone."""
    return parse_html((PAGES / name).read_text(encoding="utf-8"))


def new_reader(name: str) -> tuple[str, str]:
    """(title, text) as the loader reads the page now."""
    article = parse_article(name, (PAGES / name).read_bytes())
    return article.title, article.text


def table(show: bool = False) -> str:
    truth = load_truth()
    rows = [f"{'page':<24} {'walker body':>11} {'walker boiler':>13} {'title':>5}   "
            f"{'new body':>8} {'new boiler':>10} {'title':>5}"]
    totals = {"old": [0, 0, 0, 0, 0], "new": [0, 0, 0, 0, 0]}
    notes = []
    for name, page in truth.items():
        cells = []
        for key, read in (("old", old_walker), ("new", new_reader)):
            got = score(*read(name), page)
            t = totals[key]
            t[0] += got.body_kept
            t[1] += got.body_total
            t[2] += got.boiler_dropped
            t[3] += got.boiler_total
            t[4] += got.title_right
            cells.append(f"{got.body_kept:>4}/{got.body_total:<2} {got.body_share:4.0%}"
                         f" {got.boiler_dropped:>5}/{got.boiler_total:<2} {got.boiler_share:4.0%}"
                         f" {'yes' if got.title_right else 'no':>5}")
            if show and (got.missed or got.leaked):
                notes.append(f"  {key} {name}: missed {list(got.missed)}; leaked {list(got.leaked)}")
        rows.append(f"{name:<24} {cells[0]}   {cells[1]}")
    n = len(truth)
    summary = []
    for key in ("old", "new"):
        t = totals[key]
        summary.append(f"{t[0]:>4}/{t[1]:<2} {t[0] / t[1]:4.0%} {t[2]:>5}/{t[3]:<2} {t[2] / t[3]:4.0%}"
                       f" {t[4]:>2}/{n:<2}")
    rows.append(f"{'all ' + str(n) + ' pages':<24} {summary[0]}   {summary[1]}")
    return "\n".join(rows + notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--show", action="store_true", help="list each page's missed and leaked pieces")
    print(table(parser.parse_args().show))


if __name__ == "__main__":
    main()
