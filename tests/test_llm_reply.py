"""Reply shaping shared by every LLM backend: role markers, stop strings, sentence limits, option checks."""

from __future__ import annotations

import pytest

from emotionlayer.components.llm import GenerationOptions, ReplyShaper, check_messages
from emotionlayer.components.llm._reply import TokenStreamLLM, shape_stream, shape_text
from emotionlayer.errors import ConfigError


def shaped(tokens: list[str], **options: object) -> list[str]:
    """The non-empty pieces the shaper releases for these token pieces."""
    return [p for p in shape_stream(iter(tokens), GenerationOptions(**options)) if p]


def test_role_marker_at_start_is_removed_even_when_split_over_tokens() -> None:
    pieces = shaped(["Ass", "istant", ":", " Hello", " there", "."])
    assert "".join(pieces) == "Hello there."
    pieces = shaped(["<|im_start|>", "assistant", "\n", "Fine", "."])
    assert "".join(pieces) == "Fine."


def test_words_that_only_look_like_a_role_are_kept() -> None:
    assert "".join(shaped(["A", "I", " is", " useful", "."])) == "AI is useful."
    assert "".join(shaped(["Assistants", " help", "."])) == "Assistants help."


def test_default_stops_end_the_reply_before_an_imagined_next_turn() -> None:
    assert "".join(shaped(["Sure", ".", "\n", "User", ":", " more"])) == "Sure."
    assert "".join(shaped(["Ok", "<|im_", "end|>", "junk"])) == "Ok"
    # a partial stop string is held back, then released when it turns out to be text
    assert "".join(shaped(["a", " <", "3", " b"])) == "a <3 b"


def test_user_stop_string() -> None:
    assert "".join(shaped(["one", " two", " three"], stop=["two"])) == "one"
    assert "".join(shaped(["one", " two"], stop="two")) == "one"


def test_max_sentences_ends_at_a_sentence_boundary() -> None:
    tokens = ["Hi", ".", " How", " are", " you", "?", " I", " am", " fine", "."]
    assert "".join(shaped(tokens, max_sentences=1)) == "Hi."
    assert "".join(shaped(tokens, max_sentences=2)) == "Hi. How are you?"
    assert "".join(shaped(tokens, max_sentences=None)) == "Hi. How are you? I am fine."
    # a decimal point is not a sentence end
    assert "".join(shaped(["Pi", " is", " 3", ".", "14", ".", " Yes", "."], max_sentences=1)) == "Pi is 3.14."


def test_target_tokens_finishes_the_sentence_within_the_grace() -> None:
    words = [" w"] * 8 + ["."] + [" x"] * 20 + ["."]
    # the 5-token target is passed inside the first sentence, which ends within the grace
    assert "".join(shaped(words, target_tokens=5, sentence_grace=10, max_sentences=None)) == ("w" + " w" * 7 + ".")
    # no grace: a hard cap of 5 tokens
    assert "".join(shaped(words, target_tokens=5, sentence_grace=0, max_sentences=None)) == "w w w w w"
    # grace spent without a sentence end: capped at target_tokens + grace
    long = [" y"] * 40
    assert "".join(shaped(long, target_tokens=5, sentence_grace=3, max_sentences=None)).split() == ["y"] * 8


def test_shaper_stops_consuming_the_token_source_once_done() -> None:
    consumed = []

    def source():
        for token in ["Done", ".", " More", " text", " here", "."]:
            consumed.append(token)
            yield token

    assert "".join(shape_stream(source(), GenerationOptions(max_sentences=1))) == "Done."
    assert consumed == ["Done", ".", " More"]  # the space after "." confirms the sentence end


def test_stream_pieces_and_whole_text_agree() -> None:
    text = "Assistant: I hear you. That sounds hard. Tell me more about it. I am listening."
    opts = GenerationOptions(max_sentences=2)
    tokens = [t for t in text.replace(" ", "\0 ").split("\0")]
    assert "".join(shape_stream(iter(tokens), opts)) == shape_text(text, opts) == "I hear you. That sounds hard."


def test_shaper_strips_surrounding_white_space() -> None:
    shaper = ReplyShaper(GenerationOptions())
    out = shaper.feed("  \n Hello") + shaper.feed(" world  \n") + shaper.finish()
    assert out == "Hello world"
    assert shaper.done


@pytest.mark.parametrize(
    "options",
    [{"target_tokens": 0}, {"temperature": -1}, {"top_p": 0}, {"top_p": 1.5}, {"max_sentences": 0}, {"stop": [""]}],
)
def test_invalid_options_raise_config_error(options: dict) -> None:
    with pytest.raises(ConfigError):
        GenerationOptions(**options)


def test_the_old_name_max_tokens_is_read_with_a_deprecation_message() -> None:
    with pytest.warns(FutureWarning, match="'max_tokens' is now 'target_tokens'"):
        assert GenerationOptions().with_overrides({"max_tokens": 5}).target_tokens == 5
    with pytest.warns(FutureWarning):
        assert GenerationOptions.pick({"target_tokens": 64, "max_tokens": 40, "seed": 3}) == GenerationOptions(
            target_tokens=40, seed=3
        )
    assert GenerationOptions.pick({"target_tokens": 30, "max_tokens": None}) == GenerationOptions(target_tokens=30)
    with pytest.raises(ConfigError, match="Give target_tokens only"):
        GenerationOptions.pick({"target_tokens": 30, "max_tokens": 40})


def test_unknown_per_call_option_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="target_tokens"):
        GenerationOptions().with_overrides({"max_new_tokens": 5})


@pytest.mark.parametrize(
    "messages",
    [
        [],
        "hello",
        [{"role": "user"}],
        [{"role": "robot", "content": "hi"}],
        [{"role": "user", "content": 3}],
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
    ],
)
def test_bad_messages_raise_config_error(messages: object) -> None:
    with pytest.raises(ConfigError):
        check_messages(messages)  # type: ignore[arg-type]


def test_good_messages_pass_through() -> None:
    messages = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}]
    assert check_messages(messages) == messages


class ScriptedLLM(TokenStreamLLM):
    """Yields a fixed list of token pieces, at most ``options.token_budget`` of them."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.options = GenerationOptions()
        self.seen: list[tuple[list[dict[str, str]], GenerationOptions]] = []

    def _token_pieces(self, messages, options):  # type: ignore[no-untyped-def]
        self.seen.append((messages, options))
        yield from self.tokens[: options.token_budget]


def test_token_pieces_are_the_raw_unshaped_tokens() -> None:
    tokens = ["Assistant:", " Hi", ".", " Two", ".", " Three", ".", " Four", "."]
    llm = ScriptedLLM(tokens)
    messages = [{"role": "user", "content": "Hi"}]
    assert list(llm.token_pieces(messages)) == tokens  # role prefix kept, no sentence limit
    assert llm.generate(messages) == "Hi. Two. Three."
    assert list(llm.token_pieces(messages, target_tokens=2, sentence_grace=0)) == tokens[:2]
    assert llm.seen[-1][1].token_budget == 2
    with pytest.raises(ConfigError, match="target_tokens"):
        llm.token_pieces(messages, max_token=2)
    with pytest.raises(ConfigError):
        llm.token_pieces([])
    llm.load()  # nothing to load: a no-op
