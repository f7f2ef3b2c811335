"""Transcribe recordings offline with the packaged whisper models, and score them if you know the text.

    python examples/transcribe.py examples/audio/sad_phone.wav
    python examples/transcribe.py speech.wav --model base             # multilingual: detects the language
    python examples/transcribe.py speech.wav --model base --language zh
    python examples/transcribe.py speech.wav --asr openai-whisper     # the reference implementation
    python examples/transcribe.py speech.wav --short-window           # encode the turn, not 30 s: ~3.5x faster
    python examples/transcribe.py examples/audio/sad_phone.wav \\
        --reference "My phone won't turn on, and I need it today."

The same from the command line:

    emotionlayer transcribe speech.wav --model base
    emotionlayer evaluate asr --manifest path/to/manifest.csv
"""

from __future__ import annotations

import argparse
import sys
import time

from emotionlayer.audio import load_audio
from emotionlayer.errors import EmotionLayerError
from emotionlayer.registry import create


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("audio", nargs="+", help="recordings (WAV, FLAC, OGG or MP3)")
    parser.add_argument("--asr", default="faster-whisper", help="faster-whisper, openai-whisper or transformers")
    parser.add_argument("--model", default=None, help="tiny.en (default), base, or a local model path")
    parser.add_argument("--language", default=None, help="language spoken (en, zh...); default: detect or English")
    parser.add_argument(
        "--short-window",
        action="store_true",
        help="faster-whisper: encode the recording plus 8 s instead of whisper's 30 s window (docs/asr.md)",
    )
    parser.add_argument("--reference", default=None, help="the true text of a single recording, to print its WER")
    args = parser.parse_args(argv)

    params: dict[str, object] = {"model": args.model} if args.model else {}
    if args.short_window:
        params["short_window"] = True
    try:
        asr = create("asr", args.asr, **params)
        start = time.perf_counter()
        asr.warmup()
        print(f"Loaded {asr.name} in {time.perf_counter() - start:.1f} s")
        if args.model == "base" and args.language is None and hasattr(asr, "detect_language"):
            top = list(asr.detect_language(load_audio(args.audio[0])).items())[:3]
            print("Language of the first recording: " + ", ".join(f"{code} {p:.2f}" for code, p in top))
        for path in args.audio:
            audio = load_audio(path)
            start = time.perf_counter()
            transcript = asr.transcribe(audio, language=args.language)
            seconds = time.perf_counter() - start
            print(f"{path} [{transcript.language}, {audio.duration:.1f} s audio in {seconds:.2f} s]: {transcript.text}")
        if args.reference is not None:
            from emotionlayer.evaluation.asr import error_rates, normalize_text

            lang = transcript.language or "en"
            rates = error_rates([args.reference], [transcript.text], [lang])
            print(f"reference (normalised):  {normalize_text(args.reference, lang)}")
            print(f"hypothesis (normalised): {normalize_text(transcript.text, lang)}")
            print(f"WER {rates['wer']}  CER {rates['cer']}")
    except EmotionLayerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
