"""Sentence splitting and reply cleaning, shared by the LLM, the TTS and the dialogue systems."""

from __future__ import annotations

from emotionlayer.text import (
    SENTENCE_OR_LINE_END,
    clean_reply,
    could_be_role_marker,
    join_sentences,
    pop_clause,
    pop_sentences,
    split_sentences,
    strip_role_prefix,
)


def test_split_sentences():
    assert split_sentences("Hi there. How are you? Fine!  Good") == ["Hi there.", "How are you?", "Fine!", "Good"]
    assert split_sentences("你好。我很好！谢谢") == ["你好。", "我很好！", "谢谢"]
    assert split_sentences('He said "stop." Then left.') == ['He said "stop."', "Then left."]
    assert split_sentences("  ") == []


def test_chinese_and_japanese_split_with_or_without_spaces():
    assert split_sentences("别担心。我们一起想办法！好吗？") == ["别担心。", "我们一起想办法！", "好吗？"]
    assert split_sentences("别担心。 我们一起想办法！ 好吗？") == ["别担心。", "我们一起想办法！", "好吗？"]
    assert split_sentences("大丈夫ですか？一緒に考えましょう。") == ["大丈夫ですか？", "一緒に考えましょう。"]
    # a closing quote or bracket stays with its sentence
    assert split_sentences("他说：“好。”然后走了。") == ["他说：“好。”", "然后走了。"]
    assert split_sentences("（真的吗？）当然。") == ["（真的吗？）", "当然。"]


def test_mixed_latin_and_cjk():
    assert split_sentences("OK. 好的。Thanks!") == ["OK.", "好的。", "Thanks!"]


def test_a_decimal_point_does_not_end_a_sentence():
    assert split_sentences("It costs 3.5 dollars. Fine.") == ["It costs 3.5 dollars.", "Fine."]


def test_pop_sentences_keeps_the_unfinished_tail():
    done, rest = pop_sentences("Hello there! How are you? I am")
    assert done == ["Hello there!", "How are you?"] and rest == "I am"
    # streaming: a Latin full stop waits for white space, a CJK one for the next character
    assert pop_sentences("Hello there.") == ([], "Hello there.")
    assert pop_sentences("你好。") == ([], "你好。")
    assert pop_sentences("你好。我") == (["你好。"], "我")
    assert pop_sentences("他说：“好。") == ([], "他说：“好。")


def test_streamed_pieces_give_the_same_sentences_as_the_whole_text():
    text = "别担心。我们一起想办法！好吗？Take a breath. We'll fix it."
    for size in (1, 2, 3, 7):
        buffer, out = "", []
        for i in range(0, len(text), size):
            buffer += text[i : i + size]
            done, buffer = pop_sentences(buffer)
            out += done
        out += split_sentences(buffer)
        assert out == split_sentences(text), size


def test_line_breaks_end_sentences_in_llm_output():
    ends = [m.end() for m in SENTENCE_OR_LINE_END.finditer("Hi there\nNext one. ok")]
    assert ends == [8, 18]


def test_role_prefixes_are_removed_once():
    assert strip_role_prefix("Assistant: Hello") == "Hello"
    assert strip_role_prefix("<|im_start|>assistant\nHello") == "Hello"
    assert strip_role_prefix("You: hi") == "hi"
    assert strip_role_prefix("Modelling clay is fun.") == "Modelling clay is fun."
    assert clean_reply('answer:  "Hello   there"') == "Hello there"
    assert could_be_role_marker("assis") and could_be_role_marker("<|im_") and not could_be_role_marker("Hello")


def test_join_sentences_spaces_latin_but_not_cjk():
    assert join_sentences(["Hi there.", "How are you?"]) == "Hi there. How are you?"
    assert join_sentences(["你好。", "我很好！", "OK."]) == "你好。我很好！OK."
    assert join_sentences(["他说：“好。”", "Then left."]) == "他说：“好。”Then left."
    assert join_sentences([]) == ""


def test_pop_clause_needs_enough_words_before_a_clause_end():
    assert pop_clause("Oh no, I am so", 4) == (None, "Oh no, I am so")
    assert pop_clause("Oh no, I am so sorry, that", 4) == ("Oh no, I am so sorry,", "that")
    assert pop_clause("That is hard - really", 3) == ("That is hard -", "really")
    assert pop_clause("Well-known facts, yes", 1) == ("Well-known facts,", "yes")
    assert pop_clause("1,000 people", 1) == (None, "1,000 people")  # no space after the comma
    assert pop_clause("我很难过，因为今天", 2) == ("我很难过，", "因为今天")
