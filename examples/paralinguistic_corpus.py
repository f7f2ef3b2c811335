"""A verified paralinguistic corpus from your own recordings (SynParaSpeech), and each stage on its own.

    python examples/paralinguistic_corpus.py SPEECH_DIR [OUT_DIR] [--llm none]

SPEECH_DIR is a folder of WAV/FLAC/OGG/MP3 files of one person speaking per file (a .txt file beside a
recording, with the same name, holds its exact text and is then one of the voters), or a manifest.csv /
.jsonl with a ``path`` column and optional ``text``, ``language`` and ``speaker``. OUT_DIR defaults to
``paralinguistic_corpus``.

1. The first recording goes through the stages one at a time: the ASR vote, the candidate split points
   and their verification, the word timestamps, the placement, the voice-converted event, the insertion
   and the checks. Each result is printed.
2. Then the whole folder goes through ``build_corpus`` (what ``emotionlayer data paralinguistic`` runs);
   the pass rates and the statistics table are printed. Run it again and it finishes what is missing.

The same from the command line:

    emotionlayer data paralinguistic --input SPEECH_DIR --out OUT_DIR --llm none
"""

from __future__ import annotations

import sys
from pathlib import Path

from emotionlayer import registry
from emotionlayer.audio import load_audio, save_audio
from emotionlayer.paralinguistics.bank import EventBank
from emotionlayer.paralinguistics.corpus import (
    build_corpus,
    check_split_words,
    insert_event,
    match_level,
    read_sources,
    split_points,
    transcribe_and_vote,
    unit_times,
    verify_clip,
    verify_split,
)
from emotionlayer.paralinguistics.corpus.asr import default_voters
from emotionlayer.paralinguistics.corpus.placement import place_event
from emotionlayer.paralinguistics.corpus.text import tagged_text, text_units
from emotionlayer.types import Audio


def one_clip(path: str, text: str | None, language: str, out: Path, llm_spec: str) -> None:
    """Every stage, by hand, on one recording."""
    audio = load_audio(path, 16000)
    voters = default_voters(language)  # English: whisper base and tiny.en (with word times); else base + text
    vote = transcribe_and_vote(audio, voters, language, reference_text=text)
    print(f"1. vote: {vote.texts} -> accepted={vote.accepted} {vote.reason} (agreement CER {vote.agreement:.2f})")
    if not vote.accepted:
        return
    candidates = split_points(audio, words=vote.words)
    print(f"2. {len(candidates)} candidate points: {[(round(c.point, 2), c.kind) for c in candidates[:6]]}")
    side_asr = registry.create("asr", "faster-whisper", model="tiny.en" if language == "en" else "base")
    times = unit_times(vote.words or [], vote.text, language)
    for candidate in candidates[:4]:
        check = verify_split(audio, candidate.point, vote.text, side_asr, language)
        words = check_split_words(candidate.point, times, check.word_index, (candidate.silence_start,
                                  candidate.silence_end)) if check.accepted else None  # fmt: skip
        print(f"   {candidate.point:.2f} s: split {check.accepted} (left CER {check.left_cer:.2f}, right "
              f"{check.right_cer:.2f}) {check.reason}; words: {words and (words.accepted, words.reason)}")  # fmt: skip
        if check.accepted and words.accepted:
            break
    else:
        print("   no verified split point in this recording")
        return
    units = text_units(vote.text, language)
    llm = None if llm_spec == "none" else registry.create("llm", llm_spec)
    placement = place_event(units, [check.word_index], ["laugh", "sigh", "gasp", "throat_clearing", "tsk"], llm=llm)
    print(f"4. placement: {placement.label} before word {placement.word_index} ({placement.source})")
    event = EventBank(seed=0).render(placement.label, audio.samples, audio.sample_rate)
    rate = audio.sample_rate
    converted = registry.create("vc", "default").convert(Audio(event, rate), audio, placement.label)
    event = match_level(converted.resample(rate).samples, audio.samples, rate, placement.label)  # the bank's level
    done = insert_event(audio, candidate.point, event)
    print(f"6. {placement.label} at {done.start:.3f}-{done.end:.3f} s (samples {done.start_sample}-{done.end_sample})")
    result = verify_clip(done.audio, (done.start, done.end), placement.label, vote.text,
                         registry.create("asr", "faster-whisper", model="base"), registry.create("events", "default"),
                         language)  # fmt: skip
    print(f"7. checks: accepted={result.accepted} detector={result.detector_label} (match {result.label_match}) "
          f"ASR CER {result.asr_cer:.2f} peak {result.peak:.2f} {result.reason}")  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    save_audio(done.audio, out / "one_clip.wav")
    print(f"   {tagged_text(units, placement.word_index, placement.label, language)!r} -> {out / 'one_clip.wav'}")


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    llm = sys.argv[sys.argv.index("--llm") + 1] if "--llm" in sys.argv else "llama-cpp"
    args = [a for a in args if a != llm]
    if not args:
        sys.exit(__doc__)
    speech, out = args[0], Path(args[1] if len(args) > 1 else "paralinguistic_corpus")
    first = read_sources(speech)[0]
    print(f"== the stages on {first.path}")
    one_clip(first.path, first.text, first.language, out / "by_hand", llm)
    print(f"== build_corpus on {speech} -> {out}")
    summary = build_corpus(speech, out / "corpus", llm=llm, vc="default")
    print(f"{summary.clips} clips kept, {summary.rejected} rejected; pass rates: {summary.report['pass_rates']}")
    print((out / "corpus" / "statistics.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
