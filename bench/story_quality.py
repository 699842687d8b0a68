"""Precision and recall of story grouping on the labelled pairs.

    .venv/bin/python -m bench.story_quality [--out bench/results/story-quality.md]

The pairs (tests/data/stories/pairs.jsonl, written from events.json by
make_pairs.py, all invented news) are labelled same story / different story;
the "hard" negatives share a place, a person or a kind of event. Two measures:

- **pairs**: :func:`feedserver.stories.similarity.same_story` on each pair;
- **grouping**: the whole path — each pair stored as two articles of two
  sources through the ORM into an in-memory SQLite database (each pair in a
  time window of its own), grouped by the session hook through the candidate
  index; "same" means both ended in one story. This also counts the misses of
  candidate retrieval.

The weights and threshold of the similarity were chosen on the "train"
split; "test" is the held-out half (other clusters of events).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from feedserver.db import Database
from feedserver.models import Article, Base, Section, Source
from feedserver.stories.similarity import THRESHOLD, document, similarity

PAIRS = Path(__file__).resolve().parent.parent / "tests/data/stories/pairs.jsonl"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, predicted: bool, actual: bool) -> None:
        if predicted and actual:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif actual:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def line(self, name: str) -> str:
        n = self.tp + self.fp + self.fn + self.tn
        return (
            f"| {name} | {n} | {self.precision:.3f} | {self.recall:.3f} "
            f"| {self.tp} | {self.fp} | {self.fn} | {self.tn} |"
        )


def load_pairs() -> list[dict[str, Any]]:
    return [json.loads(line) for line in PAIRS.read_text().splitlines() if line.strip()]


def by_similarity(pairs: list[dict[str, Any]]) -> dict[str, Tally]:
    tallies = {"train": Tally(), "test": Tally(), "all": Tally()}
    for pair in pairs:
        score = similarity(
            document(pair["a"]["title"], pair["a"]["text"]),
            document(pair["b"]["title"], pair["b"]["text"]),
        )
        for key in (pair["split"], "all"):
            tallies[key].add(score >= THRESHOLD, pair["same"])
    return tallies


def by_grouping(pairs: list[dict[str, Any]]) -> dict[str, Tally]:
    db = Database.from_url("sqlite://")
    Base.metadata.create_all(db.engine)
    tallies = {"train": Tally(), "test": Tally(), "all": Tally()}
    with db.session() as s:
        section = Section(slug="news", name="News")
        one, two = Source(slug="one", name="One"), Source(slug="two", name="Two")
        s.add_all([section, one, two])
        s.flush()
        placed = []
        for n, pair in enumerate(pairs):
            # Ten days between pairs: no pair meets another within 72 hours.
            when = T0 + timedelta(days=10 * n)
            rows = []
            for k, (side, source) in enumerate(((pair["a"], one), (pair["b"], two))):
                article = Article(
                    slug=f"p{n}-{k}",
                    title=side["title"],
                    summary=side["text"],
                    section=section,
                    source=source,
                    published_at=when + timedelta(hours=k),
                )
                s.add(article)
                s.flush()
                rows.append(article.id)
            placed.append((pair, rows))
        for pair, (a, b) in placed:
            story_a = s.scalar(select(Article.story_id).where(Article.id == a))
            story_b = s.scalar(select(Article.story_id).where(Article.id == b))
            grouped = story_a is not None and story_a == story_b
            for key in (pair["split"], "all"):
                tallies[key].add(grouped, pair["same"])
    db.engine.dispose()
    return tallies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="bench/results/story-quality.md")
    args = parser.parse_args()
    pairs = load_pairs()
    kinds: dict[str, int] = {}
    for pair in pairs:
        kinds[pair["kind"]] = kinds.get(pair["kind"], 0) + 1
    started = time.perf_counter()
    pair_tallies = by_similarity(pairs)
    group_tallies = by_grouping(pairs)
    took = time.perf_counter() - started
    head = "| split | pairs | precision | recall | TP | FP | FN | TN |\n|---|---|---|---|---|---|---|---|"
    lines = [
        "# Story grouping quality",
        "",
        f"{len(pairs)} labelled pairs ({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}); "
        f"threshold {THRESHOLD}, chosen on the train split. {took:.1f} s.",
        "",
        "## Similarity alone (same_story on each pair)",
        "",
        head,
        *(pair_tallies[k].line(k) for k in ("train", "test", "all")),
        "",
        "## Grouping (ORM insert → candidate index → story), two sources per pair",
        "",
        head,
        *(group_tallies[k].line(k) for k in ("train", "test", "all")),
        "",
    ]
    report = "\n".join(lines)
    print(report)
    Path(args.out).write_text(report)


if __name__ == "__main__":
    main()
