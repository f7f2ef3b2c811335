"""What the speech LLMs share (emotionlayer.models.common): layers, features, settings, checkpoints,
the training loop's pieces, inference and the system wrapper."""

import ast
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from emotionlayer.components.llm.decoding import sample_token, text_pieces  # noqa: E402
from emotionlayer.errors import ConfigError  # noqa: E402
from emotionlayer.models.common.checkpoint import optimizer_from_files, optimizer_to_files  # noqa: E402
from emotionlayer.models.common.config import TrainConfig, known_fields, train_config_with  # noqa: E402
from emotionlayer.models.common.features import bucketed_batches, shard_batches  # noqa: E402
from emotionlayer.models.common.layers import (  # noqa: E402
    LayerWeightedSum,
    encoder_states,
    load_checked_weights,
)
from emotionlayer.models.common.system import first_sentences  # noqa: E402
from emotionlayer.models.common.training import learning_rate, step_seed  # noqa: E402

COMMON = Path(__file__).resolve().parents[1] / "emotionlayer" / "models" / "common"


def test_common_imports_no_model_package():
    for file in COMMON.glob("*.py"):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                assert not module.startswith(("..echat", "..paralingpt")), f"{file.name} imports {module}"
                assert "models.echat" not in module and "models.paralingpt" not in module, f"{file.name}: {module}"


def test_layer_weighted_sum_is_a_softmax_mix():
    mix = LayerWeightedSum(3)
    assert torch.allclose(mix.weights, torch.full((3,), 1 / 3))
    states = torch.randn(3, 2, 5, 4)
    with torch.no_grad():
        mix.logits.copy_(torch.tensor([0.0, 0.0, 50.0]))
    normed = torch.nn.functional.layer_norm(states[2], (4,))
    assert torch.allclose(mix(states), normed, atol=1e-5)


def _checked(state, **rules):
    params = {"a": torch.zeros(2), "b": torch.zeros(3), "frozen": torch.zeros(1)}
    rules = {"made_for": "another shape", "missing_advice": "Start it with --init.", **rules}
    return params, load_checked_weights(params, state, ["a", "b"], **rules)


def test_load_checked_weights_copies_the_needed_names_and_names_the_odd_ones():
    params, loaded = _checked({"a": torch.ones(2), "b": torch.ones(3)})
    assert loaded == ["a", "b"] and params["a"].tolist() == [1.0, 1.0] and params["frozen"].tolist() == [0.0]
    with pytest.raises(ConfigError, match=r"lacks \(frozen...\).*another shape"):
        _checked({"a": torch.ones(2), "b": torch.ones(3), "frozen": torch.ones(1)})
    with pytest.raises(ConfigError, match=r"needs \(b...\)\. Start it with --init"):
        _checked({"a": torch.ones(2)})
    with pytest.raises(ConfigError, match="has shape"):
        _checked({"a": torch.ones(5), "b": torch.ones(3)})


def test_load_checked_weights_rules_allowed_names_and_partial_checkpoints():
    params, loaded = _checked({"a": torch.ones(2), "frozen": torch.ones(1)}, allowed=["a", "b", "frozen"], partial=True)
    assert loaded == ["a", "frozen"] and params["frozen"].tolist() == [1.0] and params["b"].tolist() == [0.0] * 3


def test_encoder_states_uses_cached_states_or_runs_the_encoder_with_or_without_gradients():
    weight = torch.nn.Parameter(torch.ones(1))

    def encoder(waves):
        return torch.stack(list(waves)) * weight, torch.tensor([w.shape[0] for w in waves])

    cached = torch.zeros(1, 4)
    states, lengths = encoder_states(encoder, cached, torch.tensor([4]), None, caller="x")
    assert states is cached and lengths.tolist() == [4]
    waves = [torch.ones(3), torch.ones(3)]
    frozen, lengths = encoder_states(encoder, None, None, waves, caller="x")
    assert lengths.tolist() == [3, 3] and not frozen.requires_grad
    assert encoder_states(encoder, None, None, waves, caller="x", with_grad=True)[0].requires_grad
    with pytest.raises(ConfigError, match="E-chat needs hidden states or waveforms"):
        encoder_states(encoder, None, None, None, caller="E-chat")


def test_sample_token_is_greedy_at_zero_temperature_and_keeps_the_nucleus():
    logits = torch.tensor([0.0, 3.0, 1.0, -2.0])
    assert sample_token(logits, 0.0, 1.0, None) == 1
    generator = torch.Generator().manual_seed(0)
    assert {sample_token(logits, 1.0, 0.5, generator) for _ in range(20)} == {1}  # only the top token is in the nucleus


class ByteTokenizer:
    """Token id = one UTF-8 byte (256: a special token), decoded like a byte-level BPE tokenizer."""

    def decode(self, ids, skip_special_tokens=True):
        data = bytes(i for i in ids if i < 256 or not skip_special_tokens)
        return data.decode("utf-8", errors="replace")


def test_text_pieces_hold_back_half_characters_and_skip_empty_additions():
    ids = list(b"Hi ") + [256] + list("é你".encode())
    pieces = list(text_pieces(iter(ids), ByteTokenizer()))
    assert "".join(pieces) == "Hi é你"
    assert pieces == ["H", "i", " ", "é", "你"]  # no piece for the special token; each character whole


def test_bucketed_batches_are_repeatable_and_length_sorted():
    lengths = [float(i % 7) for i in range(40)]
    a = bucketed_batches(lengths, 4, seed=0, epoch=0, bucket_size=5)
    assert a == bucketed_batches(lengths, 4, seed=0, epoch=0, bucket_size=5)
    assert a != bucketed_batches(lengths, 4, seed=0, epoch=1, bucket_size=5)
    assert sorted(i for batch in a for i in batch) == list(range(40))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in a) / len(a)
    plain = bucketed_batches(lengths, 4, seed=0, epoch=0, bucket_size=1)
    assert spread < sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in plain) / len(plain)
    shards = [shard_batches(a, r, 3) for r in range(3)]
    assert len({len(s) for s in shards}) == 1 and not set(map(tuple, shards[0])) & set(map(tuple, shards[1]))


@pytest.mark.parametrize(
    ("kwargs", "hint"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"max_steps": 0}, "max_steps"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"mixed_precision": "fp8"}, "mixed_precision"),
        ({"llm_dtype": "int4"}, "llm_dtype"),
    ],
)
def test_bad_train_settings_say_how_to_fix(kwargs, hint):
    with pytest.raises(ConfigError, match=hint):
        TrainConfig(**kwargs)


def test_known_fields_name_the_unknown_ones_and_train_config_with_skips_none():
    with pytest.raises(ConfigError, match=r"Unknown ParalinGPT train setting\(s\) \['batch'\]"):
        known_fields(TrainConfig, {"batch": 3}, "train", "ParalinGPT")
    with pytest.raises(ConfigError, match="must be a JSON object"):
        known_fields(TrainConfig, [1], "train")
    assert train_config_with(TrainConfig(seed=3), max_steps=None, batch_size=4) == TrainConfig(seed=3, batch_size=4)


def test_the_old_train_key_emotion_warmup_steps_is_read_with_a_deprecation_message(tmp_path):
    from emotionlayer.models.common.config import read_config_file
    from emotionlayer.models.echat.checkpoint import FOLDER as ECHAT
    from emotionlayer.models.echat.config import EChatConfig
    from emotionlayer.models.paralingpt.config import ParalinGPTConfig

    assert "emotion_warmup_steps" not in TrainConfig().to_dict()
    old = {"model": {"stage": 2}, "train": {"batch_size": 4, "emotion_warmup_steps": 7}}
    file = tmp_path / "old.json"
    file.write_text(json.dumps(old))
    with pytest.warns(FutureWarning, match="emotion_warmup_steps moved"):
        model, train = read_config_file(file, EChatConfig, "E-chat", {})
    assert model == {"stage": 2, "emotion_warmup_steps": 7} and train == {"batch_size": 4}
    file.write_text(json.dumps({"train": old["train"]}))
    with pytest.raises(ConfigError, match="Remove it"):
        read_config_file(file, ParalinGPTConfig, "ParalinGPT", {})
    file.write_text(json.dumps({"train": {"emotion_warmup_steps": 0}}))  # what older runs of any model saved
    with pytest.warns(FutureWarning, match="no longer read"):
        assert read_config_file(file, ParalinGPTConfig, "ParalinGPT", {}) == ({}, {})

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"format": ECHAT.format, **old}))
    with pytest.warns(FutureWarning):
        model_config, train_config = ECHAT.read_config(folder)
    assert model_config.emotion_warmup_steps == 7 and train_config == TrainConfig(batch_size=4)


def test_the_feature_cache_folder_is_shared_and_an_old_one_is_still_read(tmp_path, monkeypatch):
    from emotionlayer.models.common.features import CACHE_FOLDER, feature_cache_dir

    monkeypatch.setenv("EMOTIONLAYER_CACHE", str(tmp_path))
    assert feature_cache_dir("~/x") == Path("~/x").expanduser()
    assert feature_cache_dir() == tmp_path / CACHE_FOLDER != tmp_path / "echat-features"
    (tmp_path / "echat-features").mkdir()
    assert feature_cache_dir() == tmp_path / "echat-features"
    (tmp_path / CACHE_FOLDER).mkdir()
    assert feature_cache_dir() == tmp_path / CACHE_FOLDER


def test_optimizer_state_round_trips_without_pickle():
    param = torch.nn.Parameter(torch.randn(3, 2))
    optimizer = torch.optim.AdamW([param], lr=0.1)
    param.grad = torch.ones_like(param)
    optimizer.step()
    tensors, plain = optimizer_to_files(optimizer.state_dict())
    json.dumps(plain)
    fresh = torch.optim.AdamW([torch.nn.Parameter(param.detach().clone())], lr=0.1)
    fresh.load_state_dict(optimizer_from_files(tensors, json.loads(json.dumps(plain))))
    assert torch.equal(fresh.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])


def test_learning_rate_warms_up_then_decays():
    config = TrainConfig(learning_rate=1.0, warmup_steps=4)
    rates = [learning_rate(s, 20, config) for s in range(20)]
    assert rates[0] == 0.25 and rates[3] == 1.0
    assert all(a >= b for a, b in zip(rates[3:], rates[4:], strict=False)) and rates[-1] >= 0.1


def test_step_seeds_differ_by_step_and_run():
    assert step_seed(1, 0) != step_seed(1, 1) != step_seed(2, 1)
    assert 0 <= step_seed(10**9, 10**6) < 2**31 - 1


def test_first_sentences_stops_the_source():
    closed = []

    def source():
        try:
            yield from ["One. ", "Two", ". Three. ", "Four."]
        finally:
            closed.append(True)

    assert "".join(first_sentences(source(), 2)) == "One. Two."
    assert closed == [True]
    assert "".join(first_sentences(iter(["a. b. c."]), 0)) == "a. b. c."


def test_first_sentences_is_the_llm_backends_sentence_cap_a_line_break_ends_a_sentence():
    from emotionlayer.components.llm import GenerationOptions
    from emotionlayer.components.llm._reply import shape_text

    # A model often ends a spoken line without punctuation. The cap of the speech LLMs once counted only
    # punctuated ends ("Hi\nThere. Again." for two); it now agrees with the LLM backends' replies.
    pieces = ["Hi", "\n", "There", ". ", "Again", ". ", "More."]
    assert "".join(first_sentences(iter(pieces), 2)) == "Hi\nThere."
    assert shape_text("Hi\nThere. Again. More.", GenerationOptions(max_sentences=2, temperature=0)) == "Hi\nThere."
    assert "".join(first_sentences(iter(["你好。", "我很好！", "谢谢"]), 1)) == "你好。"


def test_no_sentence_limit_is_none_and_the_old_zero_is_read_with_a_deprecation_message():
    from emotionlayer.models.common.system import SpeechLLMSystem

    class System(SpeechLLMSystem):
        name = "speech-llm"

    assert System(None, None, None, 8, None, 0.0).max_sentences is None
    with pytest.warns(FutureWarning, match="max_sentences=None"):
        assert System(None, None, None, 8, 0, 0.0).max_sentences is None
    with pytest.raises(ConfigError, match="None for no sentence limit"):
        System(None, None, None, 8, -1, 0.0)
