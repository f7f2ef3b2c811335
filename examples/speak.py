"""Speak one reply in several speaking styles with the default TTS, sentence by sentence.

    python examples/speak.py                 # writes speak_<style>.wav in the current folder
    python examples/speak.py --backend espeak-ng

Shows the three things every emotionlayer TTS backend does the same way: it takes a SpeakingStyle
(rate, pitch in semitones, volume, emotion), it streams one chunk per sentence, and it never reads
paralinguistic tags such as [sigh] aloud ([pause] becomes silence; other tags are dropped with a
logged note unless an event renderer supplies their sound).
"""

from __future__ import annotations

import argparse
import logging
import time

from emotionlayer import registry
from emotionlayer.audio import save_audio
from emotionlayer.paralinguistics.tags import strip_tags
from emotionlayer.prompting import style_for
from emotionlayer.types import SpeakingStyle

REPLY = "Oh no, I'm sorry to hear that. [sigh] [pause] Let's try holding the power button for ten seconds."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="piper", help="piper (default), espeak-ng, ...")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    tts = registry.create("tts", args.backend)
    print(f"{tts.name} speaks at {tts.sample_rate} Hz; words it will say: {strip_tags(REPLY)[0]!r}")

    styles = {
        "neutral": SpeakingStyle(),
        "comfort": style_for("sad"),  # how the pipeline answers someone who sounds sad
        "de-escalate": style_for("angry"),  # ... or angry
        "custom": SpeakingStyle("custom", rate=1.15, pitch_semitones=2.0, volume=1.2, emotion="happy"),
    }
    for name, style in styles.items():
        start = time.perf_counter()
        chunks = []
        for chunk in tts.synthesize_stream(REPLY, style):  # one Audio per sentence (or tag)
            if not chunks:
                first = time.perf_counter() - start
            chunks.append(chunk)
        audio = tts.synthesize(REPLY, style)  # the same, as one Audio
        path = save_audio(audio, f"speak_{name}.wav")
        print(f"{path}: {audio.duration:.2f} s, {len(chunks)} chunks, first chunk after {first:.2f} s | {style}")


if __name__ == "__main__":
    main()
