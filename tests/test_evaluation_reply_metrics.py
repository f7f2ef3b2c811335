"""BLEU and SIM of replies on known strings, with sacrebleu and the packaged sentence-embedding models."""

from __future__ import annotations

import pytest

from emotionlayer.errors import ConfigError
from emotionlayer.evaluation.reply_metrics import (
    ENGLISH_EMBEDDING_MODEL,
    MULTILINGUAL_EMBEDDING_MODEL,
    SENSITIVITY_THRESHOLDS,
    bleu,
    bleu_tokenizer_name,
    clip_language,
    embed,
    embedding_model_for,
    sensitivity_threshold,
    similarity,
)

SORRY = "I am so sorry to hear that. Is there anything I can do to help?"


def test_bleu_of_identical_strings_is_100():
    replies = [SORRY, "That is wonderful news, congratulations!"]
    assert bleu(replies, replies, max_order=1) == 100.0
    assert bleu(replies, replies, max_order=4) == 100.0


def test_bleu_of_partial_and_unrelated_replies():
    half = bleu(["I am so sorry about your phone"], ["I am so glad about your news"], max_order=1)
    assert 0 < half < 100
    assert half == pytest.approx(100 * 5 / 7, abs=0.01)  # 5 of 7 words, same length
    assert bleu(["I am so sorry about your phone"], ["I am so glad about your news"], max_order=4) < half
    assert bleu(["cats sleep"], ["dogs bark loudly today"], max_order=1) == 0.0


def test_chinese_is_tokenised_by_character():
    assert clip_language("我的手机开不了机") == "zh" and clip_language("my phone") == "en"
    assert clip_language("my phone", "zh-CN") == "zh" and clip_language(None, None, "de") == "de"
    assert (
        bleu_tokenizer_name("zh") == "zh" and bleu_tokenizer_name("ja") == "char" and bleu_tokenizer_name("en") == "13a"
    )
    hyp, ref = "我今天很高兴", "我今天很难过"
    assert bleu([hyp], [ref], "zh", max_order=1) == pytest.approx(100 * 4 / 6, abs=0.01)  # 4 of 6 characters
    assert bleu([hyp], [hyp], "zh", max_order=4) == 100.0
    # without character tokenisation the sentence would be one "word", and BLEU-1 0
    assert bleu([hyp], [ref], "en", max_order=1) == 0.0
    # a corpus may mix languages: each sentence is tokenised for its own
    mixed = bleu([hyp, "I hear you"], [ref, "I hear you"], ["zh", "en"], max_order=1)
    assert mixed == pytest.approx(100 * 7 / 9, abs=0.01)


def test_bleu_checks_its_input():
    with pytest.raises(ConfigError, match="pair up"):
        bleu(["a"], ["a", "b"])
    with pytest.raises(ConfigError, match="Nothing"):
        bleu([], [])


def test_models_and_thresholds_per_language():
    assert embedding_model_for("en") == ENGLISH_EMBEDDING_MODEL
    assert embedding_model_for("zh") == embedding_model_for("ur") == MULTILINGUAL_EMBEDDING_MODEL
    assert sensitivity_threshold("en") == SENSITIVITY_THRESHOLDS[ENGLISH_EMBEDDING_MODEL] == 80.0
    assert sensitivity_threshold("zh") == SENSITIVITY_THRESHOLDS[MULTILINGUAL_EMBEDDING_MODEL] == 95.0


def test_sim_of_identical_english_strings_is_100_and_of_different_ones_lower():
    sims = similarity(
        [SORRY, SORRY, SORRY],
        [SORRY, "I'm really sorry to hear that. Can I help?", "That is wonderful news, congratulations!"],
        "en",
    )
    assert sims[0] == pytest.approx(100.0, abs=0.01)
    assert sensitivity_threshold("en") <= sims[1] < 100  # a paraphrase is "the same reply"
    assert sims[2] < 60  # a different answer is not
    vectors = embed(["hello", "world"], "en")
    assert vectors.shape == (2, 384)
    assert (vectors**2).sum(axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)


def test_sim_of_chinese_strings_uses_e5():
    same = "听到这个消息我很难过，有什么我可以帮忙的吗？"
    sims = similarity([same, same], [same, "太好了！真为你高兴。"], "zh")
    assert sims[0] == pytest.approx(100.0, abs=0.01)
    assert sims[1] < sensitivity_threshold("zh")  # a different answer falls below the e5 threshold


def test_multi_reference_bleu_counts_an_ngram_found_in_any_reference():
    from emotionlayer.evaluation.reply_metrics import bleu_from_statistics, bleu_statistics

    hyp = ["I am so sorry about your phone"]
    one = bleu(hyp, ["I am so glad about your news"], max_order=1)
    both = bleu(hyp, [["I am so glad about your news", "sorry about the phone"]], max_order=1)
    assert both == pytest.approx(100 * 7 / 7, abs=0.01) and one < both  # "sorry", "phone" come from the second
    assert bleu(hyp, [[hyp[0], "something else"]], max_order=4) == 100.0
    # summed sentence statistics give the corpus score, so a subset's BLEU needs no recount
    hyps = ["the cat sat on the mat", "a dog barked loudly", "hello there"]
    refs = [["the cat is on the mat", "a cat sat on a mat"], ["the dog barked"], ["hi there", "hello"]]
    stats = bleu_statistics(hyps, refs, max_order=4)
    assert stats.shape == (3, 10)
    assert bleu_from_statistics(stats, 4) == bleu(hyps, refs, max_order=4)
    assert bleu_from_statistics(stats[:2], 4) == bleu(hyps[:2], refs[:2], max_order=4)
    with pytest.raises(ConfigError, match="no reference"):
        bleu(["a"], [[]])
