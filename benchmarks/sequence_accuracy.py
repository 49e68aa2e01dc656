"""Sequence classifier accuracy on the real-scanner corpus, per vendor and per labelled code.

    python benchmarks/sequence_accuracy.py          # the table and the overall % right
    python benchmarks/sequence_accuracy.py --list   # also every series that is not right

The corpus is rebuilt from local snapshots by tests/corpus/rebuild.py (see its doc). Outcomes are
defined in tests/corpus/score.py: right, wrong slot fills, missed, unclassified, other.
Targets (issue 13): zero wrong slot fills, at least 98 % right.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.corpus.score import DATA, OUTCOMES, score, summary  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list every series that is not right")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"no corpus at {DATA}: run tests/corpus/rebuild.py first", file=sys.stderr)
        return 2
    results = score()
    table = summary(results)
    width = max(len(key) for key in table) + 2
    print(f"{'':<{width}}" + "".join(f"{name:>14}" for name in OUTCOMES) + f"{'series':>8}{'% right':>9}")
    for key in sorted(table, key=lambda k: (k == "all", not k.startswith("vendor"), k)):
        counts = table[key]
        total = sum(counts.values())
        print(f"{key:<{width}}" + "".join(f"{counts[name]:>14}" for name in OUTCOMES)
              + f"{total:>8}{100.0 * counts['right'] / total:>8.1f}%")
    if args.list:
        print()
        for result in results:
            if result.outcome != "right":
                print(f"{result.outcome:<13} {result.source}/{result.folder} {result.vendor}: {result.description!r} "
                      f"label {result.label} got {result.predicted} ({result.why})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
