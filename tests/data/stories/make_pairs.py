"""Write pairs.jsonl, the labelled article pairs, from events.json (run from the repository root).

Each line: {"a": {"title", "text"}, "b": {…}, "same": bool, "kind", "split"}.
``kind`` is "paraphrase" (two sources telling one event), "hard" (two events
of one cluster: a shared place, kind of event or person) or "easy" (two
clusters). Clusters alternate between the "train" split, on which the
similarity weights were chosen, and the held-out "test" split.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

HERE = Path(__file__).parent
HARD_COMBINATIONS = ((0, 0), (1, 1), (2, 2), (0, 1))


def _text(version: list[str]) -> dict[str, str]:
    return {"title": version[0], "text": version[1]}


def pairs() -> list[dict[str, object]]:
    clusters = json.loads((HERE / "events.json").read_text())["clusters"]
    out: list[dict[str, object]] = []
    for index, cluster in enumerate(clusters):
        split = "train" if index % 2 == 0 else "test"
        events = cluster["events"]
        for event in events:
            for a, b in itertools.combinations(event, 2):
                out.append(
                    {
                        "a": _text(a),
                        "b": _text(b),
                        "same": True,
                        "kind": "paraphrase",
                        "split": split,
                    }
                )
        for left, right in itertools.combinations(events, 2):
            for i, j in HARD_COMBINATIONS:
                out.append(
                    {
                        "a": _text(left[i]),
                        "b": _text(right[j]),
                        "same": False,
                        "kind": "hard",
                        "split": split,
                    }
                )
        following = clusters[(index + 1) % len(clusters)]["events"][0]
        out.append(
            {
                "a": _text(events[0][0]),
                "b": _text(following[1]),
                "same": False,
                "kind": "easy",
                "split": split,
            }
        )
    return out


if __name__ == "__main__":
    rows = pairs()
    with (HERE / "pairs.jsonl").open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} pairs, {sum(bool(r['same']) for r in rows)} same-story")
