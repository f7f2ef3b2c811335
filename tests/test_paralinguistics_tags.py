"""The paralinguistic tag parser shared by every TTS backend and the cascade: tags and LLM stage directions."""

from __future__ import annotations

import pytest

from emotionlayer.errors import ConfigError
from emotionlayer.paralinguistics.tags import (
    TAGS,
    TagSegment,
    TextSegment,
    canonical_tag,
    is_stage_direction,
    normalise_cues,
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


# -- stage directions as LLMs write them --------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "label"),
    [
        ("(sigh)", "sigh"),
        ("(Sighs.)", "sigh"),
        ("(sighing)", "sigh"),
        ("*laughs*", "laugh"),
        ("*Laughs softly*", "laugh"),
        ("(chuckles warmly)", "laugh"),
        ("[sighs]", "sigh"),
        ("[SIGHS HEAVILY]", "sigh"),
        ("<laugh>", "laugh"),
        ("<Sigh>", "sigh"),
        ("<gasps.>", "gasp"),
        ("(gasps!)", "gasp"),
        ("*clears throat*", "throat_clearing"),
        ("(clears her throat)", "throat_clearing"),
        ("*takes a deep breath*", "breath"),
        ("(coughs)", "cough"),
        ("*tsk tsk*", "tsk"),
        ("(pauses)", "pause"),
        ("<pause>", "pause"),
        ("(giggles)", "laugh"),
    ],
)
def test_known_cues_in_every_form_and_case_become_events(written, label):
    for text in (f"Well, {written} that is nice.", f"{written} Well.", written):
        tags = [s for s in split_tags(text) if isinstance(s, TagSegment)]
        assert [(t.label, t.known, t.raw) for t in tags] == [(label, True, written)], text
    assert normalise_cues(f"Well, {written} that is nice.") == f"Well, [{label}] that is nice."


@pytest.mark.parametrize(
    "written",
    [
        "(smiles)",
        "(Smiles.)",
        "(SMILES)",
        "(smiling)",
        "*smiles*",
        "*nods*",
        "[nods slowly]",
        "[smiles warmly]",
        "<smiles>",
        "<whispers>",
        "(grins)",
        "(nods, smiling)",
        "(winks)",
        "(softly)",
        "*gently*",
        "(excited)",
        "(in a soothing voice)",
        "*in a calm tone*",
        "(with a smile)",
        "*big grin*",
        "(makes an aggressive face)",
        "(chillin' smile)",
        "(takes a sip of tea)",
        "(looks at you kindly)",
        "(raises an eyebrow)",
        "(applause, smiling)",
        "(still smiling)",
        "(scolding you)",
        "(checking for the correct punctuation)",
        "(taking a cup of water from the sink, wiping down with it)",
        "*checking my notes*",
    ],
)
def test_unknown_cues_in_every_form_are_tags_and_are_dropped(written):
    mid = f"Well, {written} that is nice."
    tags = [s for s in split_tags(mid) if isinstance(s, TagSegment)]
    assert len(tags) == 1 and tags[0].known is False and tags[0].raw == written
    assert normalise_cues(mid) == "Well, that is nice."
    assert normalise_cues(f"{written} That is nice.") == "That is nice."
    assert normalise_cues(written) == ""
    assert strip_tags(f"{written} Hi.")[0] == "Hi."


@pytest.mark.parametrize(
    "text",
    [
        "Sure, see [1] and [sic.] there.",
        "I am so *happy* for you.",
        "That is *really* good.",
        "Let's *face* it, it was hard.",
        "Bring the forms (as I said) tomorrow.",
        "It comes with a bag (optional).",
        "It costs ten pounds (including tax).",
        "I sat outside (with some tea) all day.",
        "Use 2 < 3 > 1 carefully.",
        "I <3 you.",
        "A [[ phoneme ]] block.",
        "You did an *amazing* job.",
        "*Really*, it is fine.",
        "It is cheaper (depending on the day) in the morning.",
    ],
)
def test_emphasis_asides_and_other_brackets_stay_text(text):
    assert normalise_cues(text) == text
    assert all(isinstance(s, TextSegment) for s in split_tags(text))


def test_normalise_cues_writes_known_cues_in_their_canonical_form_and_logs_what_it_drops(caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="emotionlayer.paralinguistics.tags"):
        text = normalise_cues(
            "(sigh) You're just sitting on the porch with some tea. (smiles) Well, *Laughs* ok [pause 0.5s] [long "
            "pause] bye."
        )
    assert (
        text == "[sigh] You're just sitting on the porch with some tea. Well, [laugh] ok [pause 0.5s] [pause 1s] bye."
    )
    assert "(smiles)" in caplog.text and "not read aloud" in caplog.text
    assert normalise_cues("Ha, [laugh] that is great news!") == "Ha, [laugh] that is great news!"
    assert normalise_cues("No cues at all.") == "No cues at all."


def test_is_stage_direction():
    assert (
        is_stage_direction("smiles warmly") and is_stage_direction("Nods.") and is_stage_direction("in a gentle voice")
    )
    assert is_stage_direction("excited") and not is_stage_direction("excited", form="*")
    assert not is_stage_direction("as I said") and not is_stage_direction("with some tea")
    assert not is_stage_direction("smiles at the 3 dogs") and not is_stage_direction(
        "one two three four five six seven smiles"
    )


def test_a_parenthesis_that_opens_a_sentence_is_a_direction_to_the_speaker():
    assert (
        normalise_cues("What happened? (to myself) It is not the end of the world.")
        == "What happened? It is not the end of the world."
    )
    assert normalise_cues("(to myself) Fine.") == "Fine."
    assert normalise_cues("Haley...(quietly now) Well.") == "Haley... Well."
    # the same words inside a sentence are an aside, and between asterisks at its start, emphasis
    assert normalise_cues("I said it (to myself) twice.") == "I said it (to myself) twice."
    assert normalise_cues("*Really* good.") == "*Really* good."
    assert is_stage_direction("to myself", opens_sentence=True) and not is_stage_direction("to myself")
    assert not is_stage_direction("to myself", form="*", opens_sentence=True)
