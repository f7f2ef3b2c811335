"""The voice checked by ear: is each packaged speaking style heard as the emotion it is meant to carry?

Every empathy strategy in the config (``strategies:``) answers in a speaking style (rate, pitch, volume)
with an ``emotion``, the emotion the voice should carry (a calm voice answers an angry user). This
benchmark speaks reply sentences in every strategy's style with each TTS backend (piper, and eSpeak NG when
it is installed), runs the packaged speech emotion recogniser (SER) on each clip and prints, per backend, a
confusion table: the style's intended emotion (rows) against the emotion the SER heard (columns), and how
often each style was heard as intended.

The SER is the "ear": it was trained on acted human speech (RAVDESS), so it hears a synthetic voice
imperfectly; the table says how far rate, pitch and loudness alone carry an emotion to it, not how people
hear it.

Two sets of sentences keep the tuning honest: ``--tune`` searches, for every style, the neighbourhood of its
current values (rate +-0.08, pitch +-1.5 semitones, volume +-0.1, 27 settings) for the one heard as intended
most often on the TUNE sentences, over every backend (ties: the setting nearest the current one, then the
highest mean SER probability of the intended emotion), so a style moves only when that is heard; the
tables are made on the REPORT sentences, which the tuning never heard. ``STYLES_BEFORE_TUNING`` keeps the
styles as they were before the tuning, so the "before" table comes from the same run as the "after" one.

Usage::

    python benchmarks/tts_styles_by_ear.py                      # before vs now, per backend, REPORT sentences
    python benchmarks/tts_styles_by_ear.py --backends piper     # one backend
    python benchmarks/tts_styles_by_ear.py --tune               # search styles on the TUNE sentences (YAML out)
    python benchmarks/tts_styles_by_ear.py --config my.yaml     # your own strategies' styles as "now"
    python benchmarks/tts_styles_by_ear.py --json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: Sentences the tuning listens to.
TUNE = (
    "I understand, and I am sure we can get your phone working again today.",
    "That sounds like a long day; let's take it one step at a time.",
    "Oh, that is wonderful news, I am so happy for you!",
    "Let's check the tracking number together and see where it is.",
)
#: Sentences the tables are made on (never used by the tuning).
REPORT = (
    "I hear you, and I'm here to help you sort this out.",
    "Make sure the door is locked, and call someone if you need to.",
    "What a surprise, tell me everything that happened!",
    "Take a deep breath; we'll find another way to get there.",
    "That's really frustrating, but there is one thing we can try right now.",
    "Enjoy the quiet evening, you have earned a rest.",
)
#: The packaged styles (emotion -> rate, pitch_semitones, volume) before they were tuned by ear.
STYLES_BEFORE_TUNING: dict[str, tuple[float, float, float]] = {
    "neutral": (1.0, 0.0, 1.0),
    "calm": (0.95, -0.5, 0.95),
    "happy": (1.08, 2.0, 1.1),
    "sad": (0.88, -1.5, 0.85),
    "angry": (0.9, -2.0, 0.9),
    "fearful": (0.92, -1.0, 0.95),
    "disgusted": (0.97, -0.5, 0.95),
    "surprised": (1.05, 1.5, 1.05),
}
BACKENDS = ("piper", "espeak-ng")
NEIGHBOURHOOD = {"rate": (-0.08, 0.0, 0.08), "pitch_semitones": (-1.5, 0.0, 1.5), "volume": (-0.1, 0.0, 0.1)}


def backends(names: list[str]) -> dict[str, Any]:
    from emotionlayer import registry

    built = {}
    for name in names:
        reason = registry.get_class("tts", name).check_usable()
        if reason:
            print(f"({name} skipped: {reason})", file=sys.stderr)
            continue
        built[name] = registry.create("tts", name)
    return built


def hear(tts: Any, ser: Any, style: Any, sentences: tuple[str, ...]) -> list[tuple[str, float]]:
    """The SER's label and its probability of ``style.emotion`` for each sentence spoken in ``style``."""
    heard = []
    for sentence in sentences:
        prediction = ser.predict(tts.synthesize(sentence, style).resample(16000))
        heard.append((prediction.label, prediction.probabilities.get(style.emotion, 0.0)))
    return heard


def table(tts: Any, ser: Any, styles: dict[str, Any], sentences: tuple[str, ...]) -> dict[str, Any]:
    """Per strategy: intended emotion, what was heard; the confusion (intended -> heard -> count)."""
    per_style, confusion = {}, {}
    for emotion, style in styles.items():
        heard = hear(tts, ser, style, sentences)
        labels = [label for label, _ in heard]
        per_style[emotion] = {
            "style": style.name,
            "intended": style.emotion,
            "heard": labels,
            "hits": sum(label == style.emotion for label in labels),
            "mean_p_intended": round(sum(p for _, p in heard) / len(heard), 4),
        }
        row = confusion.setdefault(style.emotion, {})
        for label in labels:
            row[label] = row.get(label, 0) + 1
    hits = sum(entry["hits"] for entry in per_style.values())
    return {"per_style": per_style, "confusion": confusion, "hits": hits, "clips": len(styles) * len(sentences)}


def styles_of(config: Any) -> dict[str, Any]:
    return {emotion: strategy.style for emotion, strategy in config.strategies.items()}


def before_styles(config: Any) -> dict[str, Any]:
    from dataclasses import replace

    return {
        emotion: replace(style, rate=r, pitch_semitones=p, volume=v)
        for emotion, style in styles_of(config).items()
        for r, p, v in [STYLES_BEFORE_TUNING[emotion]]
    }


def tune(ttss: dict[str, Any], ser: Any, styles: dict[str, Any]) -> dict[str, Any]:
    """For each style, the setting in its neighbourhood heard as intended most often on TUNE, over every backend."""
    from dataclasses import replace

    chosen = {}
    for emotion, style in styles.items():
        best, best_key = style, None
        for dr, dp, dv in itertools.product(*NEIGHBOURHOOD.values()):
            candidate = replace(
                style,
                rate=round(style.rate + dr, 2),
                pitch_semitones=round(style.pitch_semitones + dp, 2),
                volume=round(style.volume + dv, 2),
            )
            heard = [h for tts in ttss.values() for h in hear(tts, ser, candidate, TUNE)]
            hits = sum(label == style.emotion for label, _ in heard)
            mean_p = sum(p for _, p in heard) / len(heard)
            key = (hits, -(abs(dr) / 0.08 + abs(dp) / 1.5 + abs(dv) / 0.1), round(mean_p, 4))
            if best_key is None or key > best_key:
                best, best_key = candidate, key
        chosen[emotion] = {"style": best, "hits": best_key[0], "of": len(TUNE) * len(ttss), "mean_p": best_key[2]}
        print(f"  {emotion}: {best.rate} / {best.pitch_semitones} / {best.volume}  {best_key}", file=sys.stderr)
    return chosen


def print_table(name: str, label: str, result: dict[str, Any], emotions: list[str]) -> None:
    print(f"\n{name}, {label}: heard as intended {result['hits']}/{result['clips']}")
    heard_labels = sorted({h for row in result["confusion"].values() for h in row})
    print("| intended \\ heard | " + " | ".join(heard_labels) + " |")
    print("|---" * (len(heard_labels) + 1) + "|")
    for intended in [e for e in emotions if e in result["confusion"]]:
        row = result["confusion"][intended]
        print(f"| {intended} | " + " | ".join(str(row.get(h, 0)) for h in heard_labels) + " |")
    print("| strategy (style) | intended | hits |")
    print("|---|---|---|")
    for emotion, entry in result["per_style"].items():
        print(f"| {emotion} ({entry['style']}) | {entry['intended']} | {entry['hits']}/{len(entry['heard'])} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(BACKENDS), help="TTS backends, comma-separated")
    parser.add_argument("--config", help="pipeline config whose strategies' styles are 'now' (default: packaged)")
    parser.add_argument("--tune", action="store_true", help="search the styles on the TUNE sentences")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from emotionlayer import registry
    from emotionlayer.config import PipelineConfig
    from emotionlayer.labels import EMOTIONS

    config = PipelineConfig.coerce(args.config)
    ser = registry.create("ser", "default")
    ttss = backends(args.backends.split(","))
    start = time.perf_counter()
    if args.tune:
        chosen = tune(ttss, ser, styles_of(config))
        for emotion, entry in chosen.items():
            s = entry["style"]
            print(f"{emotion}: {{rate: {s.rate}, pitch_semitones: {s.pitch_semitones}, volume: {s.volume}}}"
                  f"  # heard as {s.emotion} {entry['hits']}/{entry['of']} on TUNE")  # fmt: skip
        print(f"({time.perf_counter() - start:.0f} s)", file=sys.stderr)
        return
    results = {
        name: {
            "before": table(tts, ser, before_styles(config), REPORT),
            "now": table(tts, ser, styles_of(config), REPORT),
        }
        for name, tts in ttss.items()
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, pair in results.items():
        for label, result in pair.items():
            print_table(name, f"{label} ({len(REPORT)} REPORT sentences)", result, list(EMOTIONS))
    print(f"\n({time.perf_counter() - start:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
