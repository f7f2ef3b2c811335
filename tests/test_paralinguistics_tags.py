"""The paralinguistic tag parser shared by every TTS backend."""

from __future__ import annotations

import pytest

from emotionlayer.errors import ConfigError
from emotionlayer.paralinguistics.tags import (
    TAGS,
    TagSegment,
    TextSegment,
    canonical_tag,
    split_tags,
    strip_tags,
    tag_text,
)


def test_every_issue_tag_is_canonical():
    assert set(TAGS) == {"laugh", "sigh", "gasp", "throat_clearing", "pause", "tsk", "cough", "breath"}
    for tag in TAGS:
        assert canonical_tag(tag) == tag
        assert strip_tags(f"Well [{tag}] yes.") == ("Well yes.", [tag])


@pytest.mark.parametrize(
    ("written", "label"),
    [
        ("[laughs]", "laugh"),
        ("[Laughter]", "laugh"),
        ("[throat clearing]", "throat_clearing"),
        ("[clears throat]", "throat_clearing"),
        ("[THROAT-CLEARING]", "throat_clearing"),
        ("[sighs]", "sigh"),
        ("[gasps]", "gasp"),
        ("[coughs]", "cough"),
        ("[deep breath]", "breath"),
        ("[tsk tsk]", "tsk"),
        ("*sighs*", "sigh"),
        ("(laughs)", "laugh"),
    ],
)
def test_aliases_and_forms(written, label):
    segments = split_tags(f"Oh {written} really?")
    assert segments == [TextSegment("Oh"), TagSegment(label, written, True, None), TextSegment("really?")]


def test_split_keeps_order_and_drops_empty_runs():
    segments = split_tags("[sigh][pause] I see [laugh]")
    assert [type(s).__name__ for s in segments] == ["TagSegment", "TagSegment", "TextSegment", "TagSegment"]
    assert [s.label for s in segments if isinstance(s, TagSegment)] == ["sigh", "pause", "laugh"]
    assert split_tags("") == []
    assert split_tags("no tags here") == [TextSegment("no tags here")]


def test_strip_tidies_spaces_before_punctuation():
    assert strip_tags("I see [sigh] , okay [laugh].") == ("I see, okay.", ["sigh", "laugh"])


def test_pause_lengths():
    pauses = split_tags("a [pause] b [pause 0.5s] c [pause 300ms] d [long pause] e [short pause]")
    seconds = [s.seconds for s in pauses if isinstance(s, TagSegment)]
    assert seconds == [None, 0.5, 0.3, 1.0, 0.25]


def test_unknown_stage_directions_are_tags_but_other_brackets_stay_text():
    clean, found = strip_tags("Sure [smiles warmly] see [1] and *this* (as I said).")
    assert clean == "Sure see [1] and *this* (as I said)."
    assert found == ["smiles warmly"]
    unknown = [s for s in split_tags("[smiles]") if isinstance(s, TagSegment)][0]
    assert unknown.known is False


def test_tag_text():
    assert tag_text("clears throat") == "[throat_clearing]"
    with pytest.raises(ConfigError, match="Use one of"):
        tag_text("yodel")
