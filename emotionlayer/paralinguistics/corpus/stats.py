"""Stage 8: corpus statistics in the form of SynParaSpeech's Table 2, written with the corpus, plus a plot.

Per category (the clip's event label): hours, clips, mean clip length (s) and share of the hours (%), the
totals, and the same per language. Clips a reviewer rejected (``review`` field) are left out and counted.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from ...files import write_text_atomic

__all__ = ["corpus_statistics", "statistics_table"]

MANIFEST = "manifest.jsonl"


def _rejected_by_review(review: Any) -> bool:
    if isinstance(review, dict):
        review = review.get("decision", review.get("status"))
    return isinstance(review, str) and review.lower() in ("reject", "rejected")


def statistics_table(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The statistics of manifest ``records`` (as :func:`corpus_statistics` writes them to JSON)."""

    def block(rows: list[dict[str, Any]]) -> dict[str, Any]:
        per: dict[str, list[float]] = defaultdict(list)
        for row in rows:
            per[str(row.get("label", ""))].append(float(row.get("duration", 0.0)))
        total = sum(sum(v) for v in per.values())
        categories = {
            label: {
                "hours": round(sum(v) / 3600.0, 4),
                "clips": len(v),
                "mean_seconds": round(sum(v) / len(v), 3),
                "share_percent": round(100.0 * sum(v) / total, 2) if total else 0.0,
            }
            for label, v in sorted(per.items())
        }
        count = sum(len(v) for v in per.values())
        totals = {
            "hours": round(total / 3600.0, 4),
            "clips": count,
            "mean_seconds": round(total / count, 3) if count else 0.0,
            "share_percent": 100.0 if count else 0.0,
        }
        return {"categories": categories, "total": totals}

    rows = list(records)
    kept = [r for r in rows if not _rejected_by_review(r.get("review"))]
    languages: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in kept:
        languages[str(row.get("language") or "")].append(row)
    out = block(kept)
    out["languages"] = {lang: block(items) for lang, items in sorted(languages.items())}
    out["rejected_by_review"] = len(rows) - len(kept)
    out["reviewed"] = sum(1 for r in rows if r.get("review") not in (None, "", {}))
    return out


def _markdown(stats: dict[str, Any]) -> str:
    def table(block: dict[str, Any]) -> list[str]:
        lines = ["| category | hours | clips | mean length (s) | share (%) |", "|---|---|---|---|---|"]
        for label, c in block["categories"].items():
            lines.append(
                f"| {label} | {c['hours']:.3f} | {c['clips']} | {c['mean_seconds']:.2f} | {c['share_percent']:.1f} |"
            )
        t = block["total"]
        lines.append(f"| **total** | **{t['hours']:.3f}** | **{t['clips']}** | **{t['mean_seconds']:.2f}** | 100 |")
        return lines

    out = ["# Corpus statistics", "", "All languages:", "", *table(stats)]
    for lang, block in stats["languages"].items():
        out += ["", f"Language `{lang or '?'}`:", "", *table(block)]
    out += [
        "",
        f"Share: of the hours. Clips reviewed: {stats['reviewed']}; rejected by review (left out): "
        f"{stats['rejected_by_review']}.",
        "",
    ]
    return "\n".join(out)


def _plot(stats: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted({label for block in stats["languages"].values() for label in block["categories"]})
    figure, axes = plt.subplots(figsize=(7, 3.5))
    bottom = [0.0] * len(labels)
    for lang, block in stats["languages"].items():
        hours = [block["categories"].get(label, {}).get("hours", 0.0) for label in labels]
        axes.bar(labels, hours, bottom=bottom, label=lang or "?")
        bottom = [b + h for b, h in zip(bottom, hours, strict=True)]
    axes.set_ylabel("hours")
    axes.set_title(f"Paralinguistic corpus: {stats['total']['hours']:.2f} h, {stats['total']['clips']} clips")
    if stats["languages"]:
        axes.legend(title="language")
    figure.tight_layout()
    tmp = path.with_name(f".{path.name}.part.png")
    figure.savefig(tmp, dpi=100)
    plt.close(figure)
    os.replace(tmp, path)


def corpus_statistics(corpus_dir: str | os.PathLike, plot: bool = True) -> dict[str, Any]:
    """Write ``statistics.md``, ``statistics.json`` and ``statistics.png`` for the corpus in ``corpus_dir``.

    Args:
        corpus_dir: A folder with ``manifest.jsonl`` (as :func:`build_corpus` writes it).
        plot: Also draw ``statistics.png`` (hours per category, stacked by language).

    Returns:
        The statistics (the JSON's content).

    Raises:
        ConfigError: the folder has no manifest.
    """
    root = Path(corpus_dir)
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise ConfigError(f"{root} has no {MANIFEST}. Build a corpus there first (emotionlayer data paralinguistic).")
    records = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    stats = statistics_table(records)
    write_text_atomic(root / "statistics.json", json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    write_text_atomic(root / "statistics.md", _markdown(stats))
    if plot:
        _plot(stats, root / "statistics.png")
    return stats
