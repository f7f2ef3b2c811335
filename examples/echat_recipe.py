"""Build the training and test manifests of the packaged E-chat checkpoint, with speaker-locked splits.

    python examples/echat_recipe.py manifests --data path/to/shared/data --generated my-dataset --out echat-work

writes, in --out:

- ``stage1.csv``: speech with its transcript (path, text, emotion, split, speaker) for stage 1: ESD English speaker
  0020, Common Voice training speakers, RAVDESS training actors, LibriSpeech (it comes without text: the
  clips of at most 6 s are transcribed by the packaged whisper tiny.en, the longer ones cut at its word
  timestamps into pieces of at most 6 s, written under ``librispeech-chunks/``; ``--no-chunk-long``
  leaves those out), and the train rows of a dataset made by ``emotionlayer data generate`` (TTS speech
  in several voices and acted styles);
- ``dev_asr.csv``: the stage-1 rows of the development speakers (``DEV``; ``split`` "dev" in stage1.csv, so
  ``--split train`` leaves them out), to choose a stage-1 recipe on;
- ``stage2.jsonl``: speech, its true emotion and a reply for stage 2: the generated dataset's train rows
  (their replies were written by the LLM from the true text and emotion) and the real emotional clips of
  ESD and the RAVDESS training actors, with replies written the same way (``topline.j2``);
- ``test_asr.csv`` (real read speech of Common Voice test speakers), ``test_tts.csv`` (the generated
  dataset's test split, whose voice is held out) and ``test_emotion.csv`` (RAVDESS test actors);
- ``esd_dev.csv``: a development check of replies to words never heard in training: the clips of 30 ESD
  sentences that no stage-2 clip says (speaker 0020 is a training speaker, so it is not a locked test).

``--speech DIR`` adds the clips of the ``speech`` command (synthetic read speech of many training sentences)
to stage 1, and ``--reference-replies`` writes the stage-2 replies with the evaluation's reference writer
(the ``topline``, greedy) instead of sampling them. The packaged v2 checkpoint (docs/echat.md) came from

    python examples/echat_recipe.py speech --texts DATA/styletalk/train.csv --out WORK/tts --limit 2500
    python examples/echat_recipe.py manifests --data DATA --out WORK --speech WORK/tts --reference-replies

and a CTC pre-alignment; v4 adds ``--esd-more`` (every ESD clip of another sentence than those of
``esd_dev.csv`` gets a stage-2 reply: 1,160 rows instead of 388); v1 came from the commands below.

The test speakers are fixed here, before any training (LOCKED_TEST); nothing is chosen on them. The
packaged checkpoint (its model card and docs/echat.md have the figures) was then trained in three runs:

    python examples/echat_recipe.py manifests --data DATA --generated echat-data --out echat-v1 --no-chunk-long
    emotionlayer echat train --stage 1 --manifest echat-v1/stage1.csv --out echat-work/s1 --split train \
        --batch-size 8 --steps 600 --lr 5e-4 --save-every 100
    python examples/echat_recipe.py manifests --data DATA --generated echat-data --out echat-work
    echo '{"train": {"warmup_steps": 15}}' > s1b.json
    emotionlayer echat train --stage 1 --manifest echat-work/stage1.csv --init echat-work/s1 --out echat-work/s1b \
        --split train --batch-size 8 --steps 150 --lr 5e-4 --save-every 25 --config s1b.json
    emotionlayer echat train --stage 2 --manifest echat-work/stage2.jsonl --init echat-work/s1b --out echat-work/s2b \
        --split train --batch-size 8 --steps 200 --lr 5e-4 --save-every 25 --emotion-warmup 2000
    python benchmarks/echat.py --asr-model echat-work/s1b --model echat-work/s2b --work echat-work
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

#: Speakers whose recordings are only ever used to report figures (decided before any training).
LOCKED_TEST = {
    "ravdess-dev": {"ravdess_actor13", "ravdess_actor14", "ravdess_actor15", "ravdess_actor16"},
    "commonvoice-en": {"cv_c22c452a1374", "cv_441a2d9b74a0", "cv_cda14d47fc57"},
}


#: Speakers held out of training to choose the stage-1 recipe on (never the locked ones): two Common Voice
#: speakers with exact text, and every tenth LibriSpeech speaker (by a hash of the name; whisper's text).
DEV = {"commonvoice-en": {"cv_4acac0472277", "cv_6f8426eb924f"}}


def is_dev(row: dict[str, str]) -> bool:
    """Whether a stage-1 row belongs to the development speakers (see :data:`DEV`)."""
    import hashlib

    speaker = row.get("speaker", "")
    if speaker in DEV["commonvoice-en"]:
        return True
    return "librispeech" in row.get("corpus", "").lower() and hashlib.sha256(speaker.encode()).digest()[0] % 10 == 0


#: ESD sentences held out of stage 2 to check replies to words the model never heard (development, not locked).
ESD_DEV_SENTENCES = 30


def esd_dev_rows(esd: list[dict[str, str]], stage2: list[dict[str, str]]) -> list[dict[str, str]]:
    """The clips of :data:`ESD_DEV_SENTENCES` ESD sentences that no stage-2 clip says, each said in at least four
    emotions (the first in alphabetical order, so the choice is fixed before anything is trained)."""
    said = {row["text"] for row in stage2}
    by_text: dict[str, list[dict[str, str]]] = {}
    for row in esd:
        if row["text"] not in said:  # so none of its clips is a stage-2 clip either
            by_text.setdefault(row["text"], []).append(row)
    texts = sorted(t for t, rows in by_text.items() if len({r["emotion"] for r in rows}) >= 4)
    return [row for text in texts[:ESD_DEV_SENTENCES] for row in by_text[text]]


def _rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as handle:
        return [dict(row, path=str((folder / row["path"]).resolve())) for row in csv.DictReader(handle)]


def _seconds(path: str) -> float:
    import soundfile as sf

    return float(sf.info(path).duration)


def _write_csv(path: Path, rows: list[dict[str, str]], fields: tuple[str, ...]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{path}: {len(rows)} rows", file=sys.stderr)


def _transcribe(rows: list[dict[str, str]], cache: Path) -> list[dict[str, str]]:
    """Text for untranscribed clips from the packaged whisper tiny.en (cached in a JSON file)."""
    from tqdm import tqdm

    from emotionlayer import registry
    from emotionlayer.audio import load_audio

    known = json.loads(cache.read_text()) if cache.exists() else {}
    asr = None
    for row in tqdm(rows, desc="transcribing LibriSpeech", disable=len(known) >= len(rows)):
        if row["path"] not in known:
            asr = asr or registry.create("asr", "faster-whisper", model="tiny.en")
            known[row["path"]] = asr.transcribe(load_audio(row["path"], 16000), language="en").text.strip()
            cache.write_text(json.dumps(known))
    return [dict(row, text=known[row["path"]]) for row in rows if known[row["path"]]]


def _chunk(rows: list[dict[str, str]], out: Path, max_seconds: float) -> list[dict[str, str]]:
    """Clips longer than ``max_seconds`` cut at word boundaries into pieces with whisper's own words.

    The packaged whisper tiny.en transcribes each clip with word timestamps (cached in a JSON file); the
    words are grouped greedily into pieces of at most ``max_seconds - 0.5`` s, each cut a little around
    its words and written as FLAC under ``out/librispeech-chunks``. Their text is whisper's (a
    pseudo-transcript), as for the whole short clips.
    """
    import numpy as np
    import soundfile as sf
    from tqdm import tqdm

    from emotionlayer.assets import whisper_ct2_dir
    from emotionlayer.audio import load_audio

    cache = out / "librispeech_words.json"
    known = json.loads(cache.read_text()) if cache.exists() else {}
    folder = out / "librispeech-chunks"
    folder.mkdir(parents=True, exist_ok=True)
    model = None
    pieces: list[dict[str, str]] = []
    for row in tqdm(rows, desc="cutting LibriSpeech", disable=all(r["path"] in known for r in rows)):
        if row["path"] not in known:
            if model is None:
                from faster_whisper import WhisperModel

                model = WhisperModel(str(whisper_ct2_dir("tiny.en")), device="cpu", compute_type="int8")
            samples = load_audio(row["path"], 16000).samples
            segments, _ = model.transcribe(samples, language="en", word_timestamps=True)
            known[row["path"]] = [[w.start, w.end, w.word] for s in segments for w in (s.words or [])]
            cache.write_text(json.dumps(known))
        words = known[row["path"]]
        audio = load_audio(row["path"], 16000).samples
        groups: list[list[list]] = []
        for word in words:
            if groups and word[1] - groups[-1][0][0] <= max_seconds - 0.5:
                groups[-1].append(word)
            else:
                groups.append([word])
        for k, group in enumerate(groups):
            following = groups[k + 1][0][0] if k + 1 < len(groups) else len(audio) / 16000
            start, end = max(0.0, group[0][0] - 0.15), min(following, group[-1][1] + 0.15)
            text = "".join(w[2] for w in group).strip()
            if end - start < 1.0 or len(group) < 3:
                continue
            path = folder / f"{Path(row['path']).stem}_{k:02d}.flac"
            if not path.exists():
                sf.write(path, np.asarray(audio[int(start * 16000) : int(end * 16000)]), 16000)
            pieces.append(dict(row, path=str(path.resolve()), text=text))
    return pieces


def _replies(rows: list[dict[str, str]], cache: Path, variants: int = 6) -> list[dict[str, str]]:
    """A reply per clip from the packaged LLM given the true text and emotion (cached, resumable).

    Such a reply depends only on the words and the emotion, so clips that say the same words in the same
    emotion (RAVDESS actors, for one) share ``variants`` replies written with different seeds.
    """
    from tqdm import tqdm

    from emotionlayer import registry
    from emotionlayer.prompting import PromptRenderer
    from emotionlayer.types import EmotionPrediction

    known = json.loads(cache.read_text()) if cache.exists() else {}
    groups: dict[tuple[str, str], int] = {}
    keys = []
    for row in rows:
        n = groups.get((row["text"], row["emotion"]), 0)
        groups[(row["text"], row["emotion"])] = n + 1
        keys.append(row["path"] if row["path"] in known else f"{row['emotion']}|{n % variants}|{row['text']}")
    llm = renderer = None
    for i, (row, key) in enumerate(tqdm(list(zip(rows, keys, strict=True)), desc="topline replies")):
        if key in known:
            continue
        if llm is None:
            llm = registry.create("llm", "llama-cpp", max_tokens=48, max_sentences=2, temperature=0.7)
            renderer = PromptRenderer(template="topline.j2")
        prompt = renderer.render(row["text"], EmotionPrediction.certain(row["emotion"]))
        known[key] = " ".join(llm.generate(prompt.messages, seed=i).split())
        if i % 10 == 0:
            cache.write_text(json.dumps(known))
    cache.write_text(json.dumps(known))
    return [dict(row, reply=known[key]) for row, key in zip(rows, keys, strict=True) if known[key]]


def _reference_replies(rows: list[dict[str, str]], cache: Path) -> list[dict[str, str]]:
    """A reply per clip from the evaluation's reference writer (``topline.j2``, greedy, told the true text and
    emotion; :func:`emotionlayer.evaluation.references.reference_replies`), one per text and emotion, cached."""
    from emotionlayer.evaluation.references import reference_replies

    known = json.loads(cache.read_text()) if cache.exists() else {}
    todo = [row for row in rows if f"{row['emotion']}|{row['text']}" not in known]
    if todo:
        known.update(reference_replies(todo, progress=True))
        cache.write_text(json.dumps(known, indent=1, ensure_ascii=False))
    return [dict(row, reply=known[f"{row['emotion']}|{row['text']}"]) for row in rows]


def manifests(
    data: Path,
    generated: Path | None,
    out: Path,
    esd_replies: int = 100,
    max_seconds: float = 6.0,
    chunk_long: bool = True,
    speech: Path | None = None,
    reference_replies: bool = False,
    esd_more: bool = False,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stage1: list[dict[str, str]] = []
    emotional: list[dict[str, str]] = []

    esd = [dict(r, split="train") for r in _rows(data / "esd-en-0020")]
    stage1 += esd
    esd_stage2 = esd[:: max(1, len(esd) // esd_replies)]  # an even share of every emotion
    emotional += esd_stage2

    ravdess = _rows(data / "ravdess-dev")
    test_emotion = [r for r in ravdess if r["speaker"] in LOCKED_TEST["ravdess-dev"]]
    train_ravdess = [dict(r, split="train") for r in ravdess if r["speaker"] not in LOCKED_TEST["ravdess-dev"]]
    stage1 += train_ravdess
    emotional += train_ravdess

    commonvoice = _rows(data / "commonvoice-en")
    test_asr = [r for r in commonvoice if r["speaker"] in LOCKED_TEST["commonvoice-en"]]
    stage1 += [
        dict(r, split="train", emotion="") for r in commonvoice if r["speaker"] not in LOCKED_TEST["commonvoice-en"]
    ]

    libri_rows = _rows(data / "librispeech-untranscribed")
    short = [r for r in libri_rows if _seconds(r["path"]) <= max_seconds]
    libri = _transcribe(short, out / "librispeech_text.json")
    if chunk_long:  # the long clips, cut into pieces: 261 speakers instead of the 33 with short clips
        libri += _chunk([r for r in libri_rows if _seconds(r["path"]) > max_seconds], out, max_seconds)
    stage1 += [dict(r, split="train", emotion="") for r in libri]

    generated_replies: list[dict[str, str]] = []
    test_tts: list[dict[str, str]] = []
    if generated is not None:
        with open(generated / "manifest.jsonl", encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
        for row in rows:
            row["path"] = str((generated / (row.get("path") or row["audio"])).resolve())
        stage1 += [dict(r, split="train") for r in rows if r["split"] == "train"]
        # TTS "emotions" are acted pitch/rate styles, not emotional speech: their rows teach replies, and
        # leave the emotion head to the real emotional recordings (emotion left empty).
        generated_replies += [
            dict(r, reply=r["response"], emotion="", split="train")
            for r in rows
            if r["split"] == "train" and r.get("response")
        ]
        test_tts = [r for r in rows if r["split"] == "test"]

    if speech is not None:  # synthetic read speech of many sentences (the `speech` command)
        stage1 += _rows(speech if speech.is_dir() else speech.parent)

    # Long clips cost the frozen LLM most of a CPU step (its input grows with the audio): keep short ones.
    stage1 = [dict(row, split="dev") if is_dev(row) else row for row in stage1 if _seconds(row["path"]) <= max_seconds]
    _write_csv(out / "stage1.csv", stage1, ("path", "text", "emotion", "split", "speaker"))
    _write_csv(out / "dev_asr.csv", [r for r in stage1 if r["split"] == "dev"], ("path", "text", "speaker"))
    _write_csv(out / "test_asr.csv", test_asr, ("path", "text", "speaker"))
    _write_csv(out / "test_tts.csv", test_tts, ("path", "text", "emotion", "voice"))
    _write_csv(out / "test_emotion.csv", test_emotion, ("path", "text", "emotion", "speaker"))

    # Stage 1 can train while the replies for stage 2 are written.
    def with_replies(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        if reference_replies:  # the writer and template of the evaluation's frozen references
            return _reference_replies(rows, out / "reference_replies.json")
        return _replies(rows, out / "replies.json")

    stage2 = generated_replies + with_replies(emotional)
    # ESD sentences no stage-2 clip says: a development check of replies to words never heard in training
    esd_dev = esd_dev_rows(esd, esd_stage2)
    _write_csv(out / "esd_dev.csv", esd_dev, ("path", "text", "emotion"))
    if esd_more:  # every other ESD clip whose sentence is not a development sentence gets a reply too
        dev_texts = {row["text"] for row in esd_dev}
        have = {row["path"] for row in emotional}
        stage2 += with_replies([row for row in esd if row["text"] not in dev_texts and row["path"] not in have])
    with open(out / "stage2.jsonl", "w", encoding="utf-8") as handle:
        for row in stage2:
            keep = {k: row[k] for k in ("path", "text", "emotion", "reply", "split")}
            handle.write(json.dumps(keep, ensure_ascii=False) + "\n")
    print(f"{out / 'stage2.jsonl'}: {len(stage2)} rows", file=sys.stderr)


def speech(texts: Path, columns: list[str], out: Path, limit: int | None = None, seed: int = 0) -> Path:
    """Synthesised read speech of many sentences for stage 1: each sentence of ``columns`` in the CSV ``texts``
    (5-16 words, so most fit the 6 s stage 1 keeps; each once; a leading "A:"/"B:" turn label dropped) spoken
    by one of the default voices (piper and eSpeak NG), rate and pitch jittered.

    Resumable: a clip already written is kept. Writes ``out/manifest.csv`` (path, text, emotion, split, speaker).
    Use only training text (e.g. StyleTalk's train.csv, never its locked eval.csv).
    """
    import hashlib
    import random
    import re

    import numpy as np
    import soundfile as sf
    from tqdm import tqdm

    from emotionlayer import registry
    from emotionlayer.audio import resample
    from emotionlayer.data.generation.voices import default_voices
    from emotionlayer.types import SpeakingStyle

    with open(texts, newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    seen: set[str] = set()
    sentences: list[str] = []
    for row in table:
        for column in columns:
            text = re.sub(r"^[AB]\s*:\s*", "", " ".join(str(row.get(column) or "").split()))
            if 5 <= len(text.split()) <= 16 and text.lower() not in seen:
                seen.add(text.lower())
                sentences.append(text)
    sentences = sentences[:limit] if limit else sentences
    voices = default_voices("en")
    engines: dict[str, object] = {}
    (out / "clips").mkdir(parents=True, exist_ok=True)
    rows = []
    for text in tqdm(sentences, desc="synthesising stage-1 speech"):
        key = hashlib.sha256(text.encode()).hexdigest()[:16]
        rng = random.Random(f"{seed}:{key}")
        voice = voices[rng.randrange(len(voices))]
        path = out / "clips" / f"{key}.flac"
        if not path.exists():
            if voice.name not in engines:
                engines[voice.name] = registry.create("tts", voice.tts, **voice.params)
            rate, pitch = voice.rate_factor * rng.uniform(0.85, 1.15), voice.pitch_offset + rng.uniform(-2, 2)
            style = SpeakingStyle(rate=rate, pitch_semitones=pitch)
            audio = resample(engines[voice.name].synthesize(text, style), 16000)
            sf.write(str(path) + ".part.flac", np.asarray(audio.samples, dtype=np.float32), 16000)
            Path(str(path) + ".part.flac").rename(path)
        rows.append({"path": str(path.resolve()), "text": text, "emotion": "", "split": "train", "speaker": voice.name})
    _write_csv(out / "manifest.csv", rows, ("path", "text", "emotion", "split", "speaker"))
    return out / "manifest.csv"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("manifests", help="write the stage-1, stage-2 and locked test manifests")
    build.add_argument(
        "--data",
        type=Path,
        required=True,
        help="folder with ravdess-dev, esd-en-0020, commonvoice-en, librispeech-untranscribed",
    )
    build.add_argument("--generated", type=Path, help="a dataset folder made by `emotionlayer data generate`")
    build.add_argument(
        "--out", type=Path, required=True, help="where the manifests (and caches of texts and replies) go"
    )
    build.add_argument(
        "--max-seconds", type=float, default=6.0, help="longest stage-1 clip (the LLM's input grows with the audio)"
    )
    build.add_argument(
        "--esd-replies", type=int, default=100, help="ESD clips that get a reply for stage 2 (all go to stage 1)"
    )
    build.add_argument(
        "--no-chunk-long",
        action="store_true",
        help="leave out the LibriSpeech clips longer than --max-seconds instead of cutting them into pieces",
    )
    tts = sub.add_parser("speech", help="synthesise read speech of many training sentences for stage 1")
    tts.add_argument("--texts", type=Path, required=True, help="CSV of sentences, e.g. StyleTalk's train.csv")
    tts.add_argument("--columns", default="curr_text,res_text", help="comma-separated text columns to speak")
    tts.add_argument("--out", type=Path, required=True, help="folder for clips/ and manifest.csv")
    tts.add_argument("--limit", type=int, default=None, help="at most this many sentences")
    build.add_argument(
        "--speech",
        type=Path,
        default=None,
        help="the folder (or its manifest.csv) the `speech` command wrote: its clips join stage1.csv (split train)",
    )
    build.add_argument(
        "--reference-replies",
        action="store_true",
        help="stage-2 replies from the evaluation's reference writer (topline, greedy, one per text and emotion) "
        "instead of sampled ones",
    )
    build.add_argument(
        "--esd-more",
        action="store_true",
        help="every ESD clip whose sentence is not one of the ESD development sentences (esd_dev.csv) also gets a "
        "stage-2 reply, not only --esd-replies of them",
    )
    args = parser.parse_args(argv)
    if args.command == "speech":
        speech(args.texts, args.columns.split(","), args.out, args.limit)
        return 0
    manifests(
        args.data,
        args.generated,
        args.out,
        args.esd_replies,
        args.max_seconds,
        not args.no_chunk_long,
        args.speech,
        args.reference_replies,
        args.esd_more,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
