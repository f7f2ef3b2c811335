"""Pick listening examples from a paralinguistic corpus and draw them, for the docs.

Chooses, from clips whose source recordings may be redistributed (Common Voice: CC0; LibriSpeech: CC BY
4.0), one clip per asked label that passed every check and whose event the detector named correctly,
preferring clips of 4-9 s; copies each as FLAC into ``--audio-dir`` and draws one spectrogram per clip
with the inserted event shaded (``--figure``). Prints a Markdown table for the docs.

    python tools/corpus_examples.py para_corpus --labels laugh,sigh,gasp \
        --audio-dir docs/audio/corpus --figure docs/images/corpus-examples.png
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

#: Source corpora whose audio may be shipped in the docs, with the credit the licence asks for.
SHIPPABLE = {
    "Common Voice (English)": "Common Voice (Mozilla), CC0 1.0",
    "LibriSpeech (one clip per speaker, no transcripts)": (
        "LibriSpeech (Panayotov et al. 2015, from LibriVox), CC BY 4.0"
    ),
}


def pick(rows: list[dict], labels: list[str]) -> list[dict]:
    chosen = []
    for label in labels:
        fits = [
            r
            for r in rows
            if r["label"] == label
            and r["source"]["corpus"] in SHIPPABLE
            and r["verification"]["detector"].get("label_match")
            and not r["verification"].get("failed")
            and (r.get("review") or {}).get("decision") != "reject"
        ]
        if not fits:
            raise SystemExit(f"No clip of label {label!r} from a shippable source passed every check.")
        fits.sort(key=lambda r: (not 4.0 <= r["duration"] <= 9.0, abs(r["duration"] - 6.0), r["id"]))
        chosen.append(fits[0])
    return chosen


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path, help="corpus folder (manifest.jsonl, wav/)")
    parser.add_argument("--labels", default="laugh,sigh,gasp")
    parser.add_argument("--audio-dir", type=Path, required=True)
    parser.add_argument("--figure", type=Path, required=True)
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import soundfile as sf

    rows = [json.loads(line) for line in (args.corpus / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    chosen = pick(rows, [label.strip() for label in args.labels.split(",") if label.strip()])
    args.audio_dir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(len(chosen), 1, figsize=(9, 2.4 * len(chosen)), squeeze=False)
    print("| listen | tagged text | event | source (licence) |\n|---|---|---|---|")
    for ax, row in zip(axes[:, 0], chosen, strict=True):
        samples, rate = sf.read(args.corpus / row["path"], dtype="float32")
        name = f"{row['label']}.flac"
        sf.write(args.audio_dir / name, samples, rate, format="FLAC", subtype="PCM_16")
        event = row["events"][0]
        window = 512
        ax.specgram(samples, NFFT=window, Fs=rate, noverlap=window * 3 // 4, cmap="magma", vmin=-130)
        ax.axvspan(event["start"], event["end"], color="cyan", alpha=0.25, lw=0)
        ax.set_ylim(0, 8000)
        ax.set_ylabel("Hz")
        ax.set_title(f"{row['text']}  ({row['label']} {event['start']:.2f}-{event['end']:.2f} s)", fontsize=8)
        peak = float(np.max(np.abs(samples)))
        rel = args.audio_dir.name
        print(
            f"| [{row['label']}](audio/{rel}/{name}) | {row['text']} | {event['label']} {event['start']:.2f}-"
            f"{event['end']:.2f} s, detector {row['verification']['detector']['label']} "
            f"{row['verification']['detector']['score']:.2f}, clip CER {row['verification']['asr']['cer']:.2f}, "
            f"peak {peak:.2f} | {SHIPPABLE[row['source']['corpus']]} |"
        )
    axes[-1, 0].set_xlabel("seconds")
    fig.tight_layout()
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=90, format="png")
    from PIL import Image  # a palette image is a quarter of the size and looks the same

    Image.open(buffer).convert("RGB").quantize(colors=128).save(args.figure, format="PNG", optimize=True)


if __name__ == "__main__":
    main()
