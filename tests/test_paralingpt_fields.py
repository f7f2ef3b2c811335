"""ParalinGPT's serialised fields: writing them, and reading them back from good, garbled and partial text."""

from __future__ import annotations

import pytest

from emotionlayer.models.paralingpt.fields import Fields, parse_fields, reply_pieces, serialise, target_segments


def test_serialise_writes_the_three_fields_and_the_segments_join_to_it():
    line = serialise("sad", "calm", "I'm so  sorry.\nWhat happened?")
    assert line == "emotion: sad | response emotion: calm | reply: I'm so sorry. What happened?"
    assert "".join(target_segments("sad", "calm", "I'm so  sorry.\nWhat happened?")) == line
    assert "".join(target_segments("sad", "calm", "x")[:3]) == "emotion: sad |"  # the forced prefix


def test_a_well_formed_answer_parses_completely():
    fields = parse_fields("emotion: sad | response emotion: calm | reply: I'm sorry. What happened?")
    assert fields == Fields("sad", "calm", "I'm sorry. What happened?", complete=True)
    # case, aliases, '=' and extra spaces are tolerated
    fields = parse_fields("Emotion = Fear |  Response Emotion: Relaxed | Reply:  It will be fine.")
    assert fields == Fields("fearful", "calm", "It will be fine.", complete=True)


@pytest.mark.parametrize(
    ("text", "emotion", "response", "reply"),
    [
        ("emotion: sadd | response emotion: very happy | reply: ok", None, "happy", "ok"),  # misspelt label
        ("emotion: blue | response emotion: ??? | reply: Hello.", None, None, "Hello."),  # no label at all
        ("emotion: angry | response: Calm down, please.", "angry", None, "Calm down, please."),
    ],
)
def test_garbled_fields_fall_back(text, emotion, response, reply):
    fields = parse_fields(text)
    assert (fields.emotion, fields.response_emotion, fields.reply) == (emotion, response, reply)
    assert not fields.complete


@pytest.mark.parametrize(
    ("text", "emotion", "response", "reply"),
    [
        ("I'm sorry to hear that.", None, None, "I'm sorry to hear that."),  # no fields: all of it is the reply
        ("emotion: sad | I'm sorry.", "sad", None, "I'm sorry."),  # reply field missing: the rest of the text
        ("emotion: sad I'm sorry.", "sad", None, "I'm sorry."),  # separator missing too
        ("emotion: sad | response emotion: calm |", "sad", "calm", ""),  # cut off before the reply
        ("", None, None, ""),
    ],
)
def test_partial_answers_keep_what_is_there(text, emotion, response, reply):
    fields = parse_fields(text)
    assert (fields.emotion, fields.response_emotion, fields.reply) == (emotion, response, reply)
    assert not fields.complete


def test_a_second_record_after_the_reply_is_cut_off():
    fields = parse_fields("emotion: sad | response emotion: calm | reply: Hi. | emotion: sad | reply: again")
    assert fields == Fields("sad", "calm", "Hi.", complete=True)


def test_labels_outside_the_set_are_not_accepted():
    assert parse_fields("emotion: calm | reply: hi", labels=("neutral", "sad")).emotion is None
    assert parse_fields("emotion: calm | reply: hi", labels=("neutral", "calm")).emotion == "calm"


def _source(pieces, closed):
    try:
        yield from pieces
    finally:
        closed.append(True)


def test_reply_stream_holds_back_until_the_reply_field_starts():
    closed, headers = [], []
    pieces = [" response", " emotion", ":", " calm", " |", " reply", ":", " I", " am", " here", "."]
    out = list(reply_pieces(_source(pieces, closed), lambda e, r: headers.append((e, r))))
    assert "".join(out) == "I am here."
    assert out[0] == "I"  # nothing of the header leaks into the reply
    assert headers == [(None, "calm")] and closed == [True]


def test_reply_stream_releases_a_bar_inside_the_reply_and_stops_at_a_new_record():
    closed, headers = [], []
    pieces = ["reply: I am", " |", " not", " sure.", " | emo", "tion", ":", " sad", " | reply: more"]
    out = "".join(reply_pieces(_source(pieces, closed), lambda e, r: headers.append((e, r))))
    assert out.strip() == "I am | not sure."
    assert closed == [True] and headers == [(None, None)]


def test_reply_stream_without_a_reply_field_gives_the_rest_at_the_end():
    headers = []
    out = list(reply_pieces(iter(["emotion: happy", " | That is", " great!"]), lambda e, r: headers.append((e, r))))
    assert out == ["That is great!"] and headers == [("happy", None)]


def test_closing_the_reply_stream_closes_the_source():
    closed = []
    stream = reply_pieces(_source(["reply:", " one", " two", " three"], closed), lambda e, r: None)
    assert next(stream) == "one"
    stream.close()
    assert closed == [True]
