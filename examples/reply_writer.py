"""The packaged reply writer (a LoRA adapter on the packaged LLM) and the reply guard, side by side.

Renders the cascade's prompt for a few sentences said in different emotions, then writes the reply with the
bare model, with the adapter, and with the adapter behind the reply guard (which records its tries).

    python examples/reply_writer.py
"""

from emotionlayer import registry
from emotionlayer.config import PipelineConfig
from emotionlayer.prompting import PromptRenderer
from emotionlayer.types import EmotionPrediction

TURNS = [
    ("sad", "My phone won't turn on and I need it today."),
    ("happy", "I finally finished my project!"),
    ("angry", "The bus was late again, for the third time this week."),
]

config = PipelineConfig.default()
renderer = PromptRenderer.from_config(config)
params = {**config.llm.params, "temperature": 0.0}
bare = registry.create("llm", "llama-cpp", **{**params, "adapter": None})
tuned = registry.create("llm", "llama-cpp", **{**params, "adapter": "packaged"})
try:
    guard = registry.create("guard", "default")  # needs the eval extra (sentence embeddings)
except Exception as exc:  # noqa: BLE001 - the example runs without it
    print(f"(no guard: {exc})")
    guard = None

for emotion, words in TURNS:
    prompt = renderer.render(words, EmotionPrediction(emotion, {emotion: 1.0}))
    print(f'\n({emotion}) "{words}"   strategy: {prompt.strategy.name}')
    print(f"  bare:    {bare.generate(prompt.messages)}")
    print(f"  adapter: {tuned.generate(prompt.messages)}")
    if guard is not None:
        checked = guard.write(tuned, prompt, words)
        relevance = ", ".join(f"{s.relevance:.2f}" for s in checked.scores)
        print(f"  guarded: {checked.text}   (tries {checked.tries}, relevance {relevance})")
