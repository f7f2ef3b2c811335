"""The reply writer's data, fine-tuning and adapter files, on a tiny random Llama built from transformers' classes."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from emotionlayer.data.styletalk import STYLE_EMOTIONS, earlier_exchanges, parse_context, read_styletalk, split_dev
from emotionlayer.errors import ConfigError, ModelNotFoundError

pytestmark = pytest.mark.usefixtures("one_thread")

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
ROWS = [
    # diag_id, context, curr_audio_id, curr_text, curr_emotion, res_text
    ("book_1", "A : I finished the book. B : Was it good? A : It was wonderful.", "book_1/c_0.wav",
     "B: I will read it too.  ", "neutral", "  Great, tell me what you think!"),
    ("book_1", "A : I finished the book. B : Was it good? A : It was wonderful.", "book_1/c_2.wav",
     "B: I will read it too.  ", "sad", "  Oh, is something wrong?"),
    ("food_2", "A : Let's cook tonight. B : Sure, what? A : Pasta.", "food_2/c_1.wav",
     "B: I love pasta.  ", "friendly", "  Me too, I'll get the sauce."),
]  # fmt: skip


def write_styletalk(path: Path) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["diag_id", "context", "curr_audio_id", "curr_text", "curr_emotion", "res_text"])
        writer.writerows(ROWS)
    return path


def test_styletalk_rows_become_turns(tmp_path):
    rows = read_styletalk(write_styletalk(tmp_path / "train.csv"))
    assert [r.id for r in rows] == ["book_1/c_0", "book_1/c_2", "food_2/c_1"]
    first = rows[0]
    assert first.text == "I will read it too." and first.reply == "Great, tell me what you think!"
    assert (rows[1].emotion, rows[2].emotion) == ("sad", STYLE_EMOTIONS["friendly"]) == ("sad", "calm")
    history = first.history()
    assert [(t.transcript.text, t.response.text) for t in history] == [
        ("", "I finished the book."),
        ("Was it good?", "It was wonderful."),
    ]
    assert first.emotion_prediction().probabilities["neutral"] == 1.0
    assert first.last_answer == "It was wonderful."


def test_context_parsing_and_the_dev_split(tmp_path):
    assert parse_context("A : Hi there. B : Hello! A : How are you?") == (
        ("A", "Hi there."), ("B", "Hello!"), ("A", "How are you?"),
    )  # fmt: skip
    rows = read_styletalk(write_styletalk(tmp_path / "train.csv")) * 30
    rows = [r.__class__(**{**r.__dict__, "dialogue": f"{r.dialogue}-{i // 3}"}) for i, r in enumerate(rows)]
    train, dev = split_dev(rows, 0.3)
    assert len(train) + len(dev) == len(rows) and 0 < len(dev) < len(rows)
    assert not {r.dialogue for r in train} & {r.dialogue for r in dev}
    assert split_dev(rows, 0.3) == (train, dev)


def test_earlier_exchanges_become_rows_of_their_own_once_per_dialogue(tmp_path):
    rows = read_styletalk(write_styletalk(tmp_path / "train.csv"))
    extra = earlier_exchanges(rows)
    # book_1 has two rows (two styles) but one context: its exchange is taken once
    assert [(r.id, r.text, r.reply) for r in extra] == [
        ("book_1/earlier-1", "Was it good?", "It was wonderful."),
        ("food_2/earlier-1", "Sure, what?", "Pasta."),
    ]
    first = extra[0]
    assert first.context == (("A", "I finished the book."),) and first.dialogue == "book_1"
    assert (first.style, first.emotion) == ("neutral", "neutral")
    assert [(t.transcript.text, t.response.text) for t in first.history()] == [("", "I finished the book.")]
    assert earlier_exchanges([]) == []


def test_a_file_that_is_not_styletalk_says_what_is_missing(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("diag_id,text\nx,y\n")
    with pytest.raises(ConfigError, match="curr_text"):
        read_styletalk(bad)
    with pytest.raises(ConfigError, match="not found"):
        read_styletalk(tmp_path / "missing.csv")


@pytest.fixture(scope="module")
def tiny_chat_llm(tiny_models, tmp_path_factory) -> Path:
    """The tiny Llama with a ChatML template on its tokenizer (a copy; the shared one is read-only)."""
    import shutil

    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("chat-llm")
    shutil.copytree(tiny_models.llm(initializer_range=0.2), folder, dirs_exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = CHATML
    tokenizer.save_pretrained(folder)
    return folder


def examples():
    from emotionlayer.models.reply_writer.finetune import ReplyExample

    pairs = [("the cat sat", "hello world"), ("good morning", "the dog ran"), ("hello", "good night")]
    return [
        ReplyExample(f"e{i}", ({"role": "system", "content": "be kind"}, {"role": "user", "content": u}), r)
        for i, (u, r) in enumerate(pairs)
    ]


def test_only_the_reply_and_its_end_of_turn_are_learned(tiny_chat_llm):
    from transformers import AutoTokenizer

    from emotionlayer.models.reply_writer.finetune import tokenize_example

    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_llm)
    example = examples()[0]
    ids, prompt = tokenize_example(tokenizer, example)
    wanted = tokenizer.apply_chat_template(list(example.messages), tokenize=False, add_generation_prompt=True)
    assert tokenizer.decode(ids[:prompt]) == tokenizer.decode(tokenizer(wanted).input_ids)
    learned = tokenizer.decode(ids[prompt:]).replace(" ", "")
    assert learned.startswith("helloworld") and "im_end" in learned


def tune(out: Path, model: Path, steps: int = 40, **kw):
    from emotionlayer.models.reply_writer.finetune import ReplyTuner, TuneConfig

    config = TuneConfig(steps=steps, batch_size=3, rank=8, alpha=16, dropout=0.0, train_layers=1,
                        learning_rate=3e-2, warmup=2, save_every=5)  # fmt: skip
    return ReplyTuner(out, config, model_path=model, progress=False, **kw).run(examples())


def test_the_adapters_learn_the_replies_and_are_written_in_both_forms(tiny_chat_llm, tmp_path):
    import gguf
    from safetensors.torch import load_file

    from emotionlayer.components.llm.adapters import GGUF_FILE, PEFT_CONFIG, PEFT_WEIGHTS, permute_rows

    result = tune(tmp_path / "run", tiny_chat_llm, steps=60)
    assert result.examples == 3
    assert np.mean(result.losses[-3:]) < 0.2 * np.mean(result.losses[:3])
    for name in (GGUF_FILE, PEFT_CONFIG, PEFT_WEIGHTS, "training.json"):
        assert (result.out / name).is_file()
    import json

    assert json.loads((result.out / PEFT_CONFIG).read_text())["base_model_name_or_path"] == tiny_chat_llm.name
    reader = gguf.GGUFReader(str(result.out / GGUF_FILE))
    assert bytes(reader.fields["general.type"].parts[-1]).decode() == "adapter"
    assert float(reader.fields["adapter.lora.alpha"].parts[-1][0]) == 16.0
    tensors = {t.name: np.asarray(t.data) for t in reader.tensors}
    # Only the top layer (of two) has adapters; q's lora_b rows are permuted as llama.cpp permutes q.
    assert {n.split(".")[1] for n in tensors} == {"1"} and len(tensors) == 14
    peft = {k: v.float().numpy() for k, v in load_file(str(result.out / PEFT_WEIGHTS)).items()}
    b_q = next(v for k, v in peft.items() if "q_proj.lora_B" in k)
    assert np.allclose(tensors["blk.1.attn_q.weight.lora_b"], permute_rows(b_q, 4), atol=1e-3)


def test_states_past_float16_are_kept_in_bfloat16_and_overflowed_ones_are_recomputed(tmp_path):
    import torch

    from emotionlayer.models.reply_writer.finetune import HiddenStateCache, _compact

    small = torch.tensor([[1.5, -2.0], [3.0, 0.25]])
    assert _compact(small).dtype == torch.float16
    big = torch.tensor([[1.5, -2.0], [3.0, 2.0e5]])  # Gemma-like: past float16's 65,504
    kept = _compact(big)
    assert kept.dtype == torch.bfloat16 and torch.isfinite(kept).all() and kept.float()[1, 1] > 1.9e5
    cache = HiddenStateCache(tmp_path, "model", 1)
    cache.put([1, 2], big.to(torch.float16))  # what the cache held before the check: inf
    assert cache.get([1, 2]) is None and not cache.has([1, 2])  # so it is computed again
    cache.put([1, 2], kept)
    assert torch.equal(cache.get([1, 2]), kept) and cache.has([1, 2])


def test_a_loss_that_is_not_a_number_stops_training_and_writes_no_adapter(tiny_chat_llm, tmp_path, monkeypatch):
    import torch

    from emotionlayer.errors import TrainingError
    from emotionlayer.models.reply_writer.finetune import ReplyTuner

    original = ReplyTuner.loss
    calls = {"n": 0}

    def goes_nan_at_step_7(self, data, indices):
        calls["n"] += 1
        loss = original(self, data, indices)
        return loss * torch.tensor(float("nan")) if calls["n"] == 7 else loss

    monkeypatch.setattr(ReplyTuner, "loss", goes_nan_at_step_7)
    with pytest.raises(TrainingError, match="step 7.*--resume"):
        tune(tmp_path / "run", tiny_chat_llm, steps=12)
    assert not (tmp_path / "run" / "adapter.gguf").exists()
    assert (tmp_path / "run" / "checkpoints").is_dir()  # the step-5 checkpoint is there to resume from


def test_a_killed_run_resumes_to_the_same_losses(tiny_chat_llm, tmp_path, monkeypatch):
    from emotionlayer.models.reply_writer.finetune import ReplyTuner

    whole = tune(tmp_path / "whole", tiny_chat_llm, steps=12)
    calls = {"n": 0}
    original = ReplyTuner.loss

    def dies_at_step_8(self, data, indices):
        calls["n"] += 1
        if calls["n"] == 8:
            raise KeyboardInterrupt
        return original(self, data, indices)

    monkeypatch.setattr(ReplyTuner, "loss", dies_at_step_8)
    with pytest.raises(KeyboardInterrupt):
        tune(tmp_path / "killed", tiny_chat_llm, steps=12)
    monkeypatch.setattr(ReplyTuner, "loss", original)
    with pytest.raises(ConfigError, match="--resume"):
        tune(tmp_path / "killed", tiny_chat_llm, steps=12)
    resumed = tune(tmp_path / "killed", tiny_chat_llm, steps=12, resume=True)
    assert resumed.resumed_from == 5
    assert np.allclose(resumed.losses, whole.losses, rtol=1e-4, atol=1e-5)


def test_the_transformers_backend_applies_an_adapter(tiny_chat_llm, tmp_path):
    from emotionlayer.components.llm.hf_transformers import TransformersLLM

    run = tune(tmp_path / "run", tiny_chat_llm, steps=60)
    messages = [{"role": "system", "content": "be kind"}, {"role": "user", "content": "the cat sat"}]
    options = {"temperature": 0.0, "target_tokens": 6, "max_sentences": None}
    bare = TransformersLLM(model_path=str(tiny_chat_llm), **options)
    tuned = TransformersLLM(model_path=str(tiny_chat_llm), adapter=str(run.out), **options)
    assert "adapter" in tuned.name
    assert tuned.generate(messages).replace(" ", "").startswith("hellowor")  # the learned reply
    assert tuned.generate(messages) != bare.generate(messages)


def test_a_missing_adapter_says_what_to_give():
    from emotionlayer.components.llm.adapters import gguf_adapter, resolve_adapter

    assert resolve_adapter(None) is None and resolve_adapter("none") is None
    with pytest.raises(ModelNotFoundError, match="emotionlayer llm finetune"):
        gguf_adapter("no/such/adapter")


class EchoLLM:
    """Answers with the user's words (any options accepted): a stand-in writer for the evaluation's plumbing."""

    def __init__(self, **options) -> None:
        self.name = "echo"

    def generate(self, messages, **options) -> str:
        return "You said: " + messages[-1]["content"]

    def stream_generate(self, messages, **options):
        yield self.generate(messages)


def test_the_styletalk_evaluation_scores_variants_and_resumes_from_its_cache(tmp_path):
    from emotionlayer.evaluation.dialogue import ReplyCache
    from emotionlayer.evaluation.styletalk import (
        evaluate_styletalk,
        markdown_table,
        styletalk_clips,
        variants,
        write_replies,
    )  # fmt: skip
    from emotionlayer.registry import registered

    rows = read_styletalk(write_styletalk(tmp_path / "eval.csv"))
    clips = styletalk_clips(rows)
    assert clips[0].text == clips[1].text != clips[2].text  # one dialogue's sentence, keyed with its dialogue
    assert clips[1].references == ("Oh, is something wrong?",)
    with registered("llm", "echo-test", EchoLLM):
        chosen = variants({"llm": {"backend": "echo-test", "params": {}}}, guards=["none"])
        assert [v.name for v in chosen] == ["guard=none"] and chosen[0].config.llm.params["temperature"] == 0.0
        scores, _, replies = evaluate_styletalk(rows, chosen, cache=tmp_path / "cache", progress=False)
    assert replies["guard=none"][2].reply == "You said: (sounding calm) I love pasta."
    assert scores["guard=none"].n == 3 and scores["guard=none"].discrimination_clips == 2
    assert "guard=none" in markdown_table(scores, [])

    class Fails:
        def __init__(self, config):
            raise AssertionError("every reply should come from the cache")

    with ReplyCache(tmp_path / "cache") as cache:
        again = write_replies(rows, chosen[0], cache, progress=False, writer_factory=Fails)
    assert [r.reply for r in again] == [r.reply for r in replies["guard=none"]]


def test_sample_rows_keeps_every_rare_style_row(tmp_path):
    from emotionlayer.models.reply_writer.finetune import examples_from_styletalk, sample_rows

    rows = read_styletalk(write_styletalk(tmp_path / "train.csv"))
    assert [r.id for r in sample_rows(rows, 1)] == ["book_1/c_2"]  # the sad row, not a common style
    assert len(sample_rows(rows, 2)) == 2 and sample_rows(rows, 2) == sample_rows(rows, 2)
    example = examples_from_styletalk(rows[1:2])[0]
    assert example.reply == "Oh, is something wrong?"
    assert example.messages[-1]["content"] == "(sounding sad) I will read it too."


def test_the_cli_fine_tunes_on_the_configs_prompt_and_evaluates(tiny_chat_llm, tmp_path):
    import json

    from typer.testing import CliRunner

    from emotionlayer.cli.llm import app
    from emotionlayer.registry import registered

    data = write_styletalk(tmp_path / "train.csv")
    (tmp_path / "short.j2").write_text("{% block user %}{{ transcript }}{% endblock %}")
    config = tmp_path / "short.yaml"
    config.write_text(f"prompt: {{template: short.j2, template_dirs: [{tmp_path}], few_shot: false}}\n")
    out = tmp_path / "writer"
    args = f"finetune {data} --out {out} --config {config} --model-path {tiny_chat_llm} --steps 2 --batch-size 2"
    args += " --train-layers 1 --dev-share 0"
    tuned = CliRunner().invoke(app, args.split())
    assert tuned.exit_code == 0, tuned.output
    assert "Adapter written" in tuned.output and (out / "adapter.gguf").is_file()
    more = CliRunner().invoke(app, (args.replace(str(out), str(tmp_path / "more")) + " --earlier-turns").split())
    assert more.exit_code == 0, more.output
    assert json.loads((tmp_path / "more" / "training.json").read_text())["examples"] == 5  # 3 rows + 2 earlier
    echo = tmp_path / "echo.yaml"
    echo.write_text("llm: {backend: echo-test, params: {}}\n")
    report = tmp_path / "report.json"
    with registered("llm", "echo-test", EchoLLM):
        scored = CliRunner().invoke(app, ["evaluate", str(data), "--config", str(echo), "--out", str(report)])
    assert scored.exit_code == 0, scored.output
    assert "| config | 3 |" in scored.output
    assert json.loads(report.read_text())["scores"]["config"]["n"] == 3
    # the strategy's openers off and on, as two variants scored on the same rows
    with registered("llm", "echo-test", EchoLLM):
        both = CliRunner().invoke(
            app, ["evaluate", str(data), "--config", str(echo), "--opener", "off", "--opener", "on"]
        )
    assert both.exit_code == 0, both.output
    assert "| opener=off | 3 |" in both.output and "| opener=on | 3 |" in both.output, both.output
    with registered("llm", "echo-test", EchoLLM):
        wrong = CliRunner().invoke(app, ["evaluate", str(data), "--config", str(echo), "--opener", "maybe"])
    assert wrong.exit_code == 2 and "on or off" in wrong.output
    # the speaking rate and loudness left out of the prompt and put in it, as two variants
    with registered("llm", "echo-test", EchoLLM):
        said = CliRunner().invoke(
            app, ["evaluate", str(data), "--config", str(echo), "--prosody", "off", "--prosody", "on"]
        )
        loud = CliRunner().invoke(app, ["evaluate", str(data), "--config", str(echo), "--prosody", "loud"])
    assert said.exit_code == 0, said.output
    assert "| prosody=off | 3 |" in said.output and "| prosody=on | 3 |" in said.output, said.output
    assert loud.exit_code == 2 and "on or off" in loud.output


def test_speaking_rate_and_loudness_go_into_training_and_evaluation_prompts_when_asked(tmp_path):
    from dataclasses import replace

    from emotionlayer.config import PipelineConfig
    from emotionlayer.evaluation.styletalk import evaluate_styletalk, variants
    from emotionlayer.models.reply_writer.finetune import examples_from_styletalk
    from emotionlayer.registry import registered

    rows = read_styletalk(write_styletalk(tmp_path / "train.csv"))
    rows[1] = replace(rows[1], speed="slow", volume="quiet")
    on = {"prompt": {"prosody": True}}
    assert examples_from_styletalk(rows[1:2])[0].messages[-1]["content"] == "(sounding sad) I will read it too."
    said = examples_from_styletalk(rows[1:2], on)[0].messages[-1]["content"]
    assert said == "(sounding sad, speaking slowly and quietly) I will read it too."
    # the option is off by default and leaves the config's hash (and so every cached reply) as it was
    assert "prosody" not in PipelineConfig.coerce(None).to_dict()["prompt"]
    assert PipelineConfig.coerce(on).to_dict()["prompt"]["prosody"] is True
    with registered("llm", "echo-test", EchoLLM):
        chosen = variants({"llm": {"backend": "echo-test", "params": {}}}, prosody=["off", "on"])
        assert [v.name for v in chosen] == ["prosody=off", "prosody=on"]
        _, _, replies = evaluate_styletalk(rows, chosen, cache=tmp_path / "cache", progress=False)
        with pytest.raises(ConfigError, match="prosody setting is on or off"):
            variants({"llm": {"backend": "echo-test", "params": {}}}, prosody=["loud"])
    assert replies["prosody=off"][1].reply == "You said: (sounding sad) I will read it too."
    assert replies["prosody=on"][1].reply == "You said: (sounding sad, speaking slowly and quietly) I will read it too."
    assert replies["prosody=on"][0].reply == replies["prosody=off"][0].reply  # a normal row renders as before
