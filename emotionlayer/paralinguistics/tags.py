"""Paralinguistic tags and stage directions in reply text: the one parser every TTS backend, the cascade
and the event synthesis use.

An LLM reply may carry non-verbal cues such as ``"Oh no [sigh] that sounds hard."`` or
``"(smiles) Well, that's lovely."``. Nothing of the kind may be read aloud as words: a cue the event bank
can play becomes that event (a real sigh, a pause), any other is dropped, and both are logged.

Recognised tags (:data:`TAGS`) are written in square brackets, in any case, with the aliases in
:data:`ALIASES`: ``[laugh]``, ``[laughs]``, ``[laughter]``, ``[sigh]``, ``[gasp]``,
``[throat_clearing]``, ``[clears throat]``, ``[pause]``, ``[tsk]``, ``[cough]``, ``[breath]``, ... The
same words in the other ways LLMs write cues are recognised too: between asterisks (``*sighs*``), in
parentheses (``(laughs)``) and in angle brackets (``<laugh>``). A cue with more words maps to the tag its
words name (``(laughs softly)``, ``*takes a deep breath*``, ``<sighs heavily.>`` are a laugh, a breath and
a sigh). A pause may carry a length: ``[pause 0.5s]``, ``[pause 300ms]``, ``[long pause]``,
``[short pause]``.

A stage direction with no event (``(smiles)``, ``*nods*``, ``[in a soothing voice]``, ``<whispers>``)
becomes a :class:`TagSegment` with ``known=False`` so that it is not spoken either. In square and angle
brackets any short run of words (up to six) counts as one; between asterisks and in parentheses, where
people also write *emphasis* and (asides), only words that describe an action, an expression or a way of
speaking do (:func:`is_stage_direction`: ``(smiles warmly)``, ``(in a gentle voice)``, ``(makes a
face)``, but not ``(as I said)`` or ``so *happy* for you``).
Bracketed text with digits or inner punctuation (``[1]``, ``[sic.]``) stays text.

:func:`normalise_cues` rewrites a reply for speaking: each known cue in its canonical form (``(Laughs.)``
becomes ``[laugh]``), each unknown one removed (and logged).

Example:
    >>> from emotionlayer.paralinguistics.tags import normalise_cues, split_tags, strip_tags
    >>> [getattr(s, "label", None) or s.text for s in split_tags("Oh [laughs] really?")]
    ['Oh', 'laugh', 'really?']
    >>> strip_tags("Oh [laughs] really?")
    ('Oh really?', ['laugh'])
    >>> normalise_cues("(smiles) Well, *chuckles* that is lovely.")
    'Well, [laugh] that is lovely.'
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from ..errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "TAGS",
    "ALIASES",
    "TextSegment",
    "TagSegment",
    "Segment",
    "CUE_NOUNS",
    "CUE_WORDS",
    "EMOTION_CUES",
    "canonical_tag",
    "is_stage_direction",
    "normalise_cues",
    "split_tags",
    "strip_tags",
    "tag_text",
]

#: The canonical paralinguistic tags, in the spelling used everywhere else in emotionlayer.
TAGS: tuple[str, ...] = ("laugh", "sigh", "gasp", "throat_clearing", "pause", "tsk", "cough", "breath")

#: Other spellings of the tags (lower case, words separated by one space) -> canonical tag.
ALIASES: dict[str, str] = {
    "laughs": "laugh",
    "laughing": "laugh",
    "laughter": "laugh",
    "laughed": "laugh",
    "chuckle": "laugh",
    "chuckles": "laugh",
    "chuckling": "laugh",
    "giggle": "laugh",
    "giggles": "laugh",
    "giggling": "laugh",
    "sighs": "sigh",
    "sighing": "sigh",
    "sighed": "sigh",
    "gasps": "gasp",
    "gasping": "gasp",
    "gasped": "gasp",
    "throat clearing": "throat_clearing",
    "clears throat": "throat_clearing",
    "clear throat": "throat_clearing",
    "clearing throat": "throat_clearing",
    "clears her throat": "throat_clearing",
    "clears his throat": "throat_clearing",
    "clears their throat": "throat_clearing",
    "ahem": "throat_clearing",
    "pauses": "pause",
    "pausing": "pause",
    "silence": "pause",
    "long pause": "pause",
    "short pause": "pause",
    "tsks": "tsk",
    "tut": "tsk",
    "tuts": "tsk",
    "tsk tsk": "tsk",
    "coughs": "cough",
    "coughing": "cough",
    "coughed": "cough",
    "breathes": "breath",
    "breathing": "breath",
    "inhale": "breath",
    "inhales": "breath",
    "exhale": "breath",
    "exhales": "breath",
    "deep breath": "breath",
    "takes a breath": "breath",
    "takes a deep breath": "breath",
}

#: Chinese spellings of the tags: ``[笑]``, ``（叹气）``, ``【咳嗽】``, ``*清嗓子*`` are the same events as
#: ``[laugh]``, ``[sigh]``, ``[cough]``, ``[throat_clearing]``. Chinese cues may stand in square, fullwidth
#: (``【】``, ``（）``) or ASCII parentheses, or between asterisks.
ZH_ALIASES: dict[str, str] = {
    **dict.fromkeys(("笑", "笑声", "大笑", "轻笑", "笑了", "笑出声", "哈哈", "哈哈哈", "呵呵", "嘿嘿"), "laugh"),
    **dict.fromkeys(("叹气", "叹息", "叹了口气", "叹一口气", "唉", "轻叹", "长叹"), "sigh"),
    **dict.fromkeys(("倒吸一口气", "倒吸一口凉气", "倒抽一口气", "惊呼", "惊叹"), "gasp"),
    **dict.fromkeys(("清嗓子", "清了清嗓子", "清清嗓子", "清喉咙", "嗯哼"), "throat_clearing"),
    **dict.fromkeys(("停顿", "停顿一下", "沉默", "停一下", "片刻沉默"), "pause"),
    **dict.fromkeys(("啧", "啧啧", "咂嘴", "啧了一声"), "tsk"),
    **dict.fromkeys(("咳嗽", "咳", "咳咳", "咳了一声"), "cough"),
    **dict.fromkeys(("呼吸", "吸气", "呼气", "深呼吸", "吸了口气", "深吸一口气", "喘气"), "breath"),
}
ALIASES.update(ZH_ALIASES)

#: Chinese stage directions no sound stands for (``（微笑）``, ``*点头*``): dropped, never read aloud.
ZH_CUE_WORDS: frozenset[str] = frozenset(
    """
    微笑 笑着 点头 摇头 眨眼 耸肩 拥抱 挥手 皱眉 鼓掌 轻声 小声 低声 温柔地 轻轻地 认真地 开心地 难过地
    兴奋地 激动地 严肃地 安慰地 停下来 思考 想了想 看着你 拍拍你 拍拍肩膀 擦眼泪 流泪 哭 哭泣 抽泣
    """.split()
)

# Pause lengths named by words, in seconds (a plain [pause] has seconds=None: the backend's default).
_PAUSE_WORDS: dict[str, float] = {"short pause": 0.25, "long pause": 1.0}
_PAUSE_LENGTH = re.compile(r"^(?:pause|silence)\s*[=:]?\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|secs|seconds)?$")

#: Words that make a run of words between asterisks or in parentheses a stage direction when it starts
#: with one (``(smiles warmly)``, ``*nods*``, ``(softly)``, ``(takes a sip of tea)``): actions, facial
#: expressions, gestures and ways of speaking. Lower case, with the -s, -ing and -ed forms LLMs write.
CUE_WORDS: frozenset[str] = frozenset(
    """
    smile smiles smiling smiled grin grins grinning beam beams beaming smirk smirks smirking
    laugh laughs laughing laughed chuckle chuckles chuckling giggle giggles giggling snicker snickers
    chortle chortles sigh sighs sighing sighed gasp gasps gasping cough coughs coughing breathes
    breathing inhale inhales inhaling exhale exhales exhaling sniff sniffs sniffing sniffle sniffles
    sob sobs sobbing cry cries crying weep weeps weeping tearfully yawn yawns yawning groan groans
    groaning gulp gulps hum hums humming whistle whistles whistling scoff scoffs snort snorts clears
    clearing ahem tsk tsks tut tuts pauses pausing hesitates hesitating
    nod nods nodding shrug shrugs shrugging wink winks winking waves waving frown frowns frowning
    blush blushes blushing wince winces wincing grimace grimaces shudder shudders shivers
    claps clapping applauds applauding cheers cheering hug hugs hugging pats patting leans leaning looks looking
    gazes glances stares blinks sits sitting stands standing rolls tilts raises points gestures
    makes takes gives puts holds sips pours shakes rubs scratches bows hands offers reaches turns
    walks steps crosses folds wipes
    whisper whispers whispering mutter mutters muttering murmur murmurs murmuring shouts shouting
    softly gently warmly quietly calmly kindly sweetly brightly cheerfully happily sadly nervously
    anxiously excitedly enthusiastically sympathetically soothingly reassuringly playfully teasingly
    sarcastically sternly firmly seriously thoughtfully hesitantly awkwardly
    """.split()
)

#: Emotions written as a cue in parentheses: ``(excited)``, ``(happy tone)``. Between asterisks the same
#: word is usually emphasis (``so *happy* for you``), so there it stays text.
EMOTION_CUES: frozenset[str] = frozenset(
    """
    happy sad angry excited nervous worried concerned surprised shocked calm cheerful sympathetic
    empathetic reassuring soothing gentle warm upbeat enthusiastic
    """.split()
)

#: Words that make a cue of two or more words wherever they stand in it: ``(in a gentle voice)``,
#: ``(with a smile)``, ``*big grin*``, ``(makes a face)``, ``(applause, smiling)``. The -ing forms of
#: :data:`CUE_WORDS` count too.
CUE_NOUNS: frozenset[str] = frozenset(
    """
    smile grin smirk laugh laughter chuckle giggle sigh gasp breath cough sniff sob tears wink nod
    shrug frown hug face voice tone whisper expression gesture eyes eyebrow eyebrows thumbs applause
    """.split()
)

# [anything without brackets, up to 48 chars] | *words* | (words) | <words>. Piper's raw phoneme blocks
# [[ ... ]] and chat-template tokens such as <|im_end|> are left alone.
_WORDS = r"[A-Za-z][A-Za-z ,'_-]{0,78}[.!]?"
# A Chinese cue: up to eight Han characters in fullwidth brackets, ASCII parentheses or asterisks.
_HAN = r"[\u4e00-\u9fff]{1,8}"
_BRACKET = re.compile(
    rf"(?<!\[)\[([^\[\]\n]{{1,48}})\](?!\])|\*({_WORDS})\*|\(({_WORDS})\)|<({_WORDS})>"
    rf"|[【（(*]\s*({_HAN})\s*[】）)*]"
)
# A stage direction: one to twelve words of letters (plus ' - _), maybe commas between them.
_STAGE_DIRECTION = re.compile(r"^[A-Za-z][A-Za-z'_-]*(?:,? [A-Za-z][A-Za-z'_-]*){0,11}$")

# Words ending in -ing that open asides rather than stage directions: (including tax), (depending on...).
_NOT_PARTICIPLES = frozenset(
    """
    including excluding according depending regarding concerning following starting beginning assuming
    considering during pending barring something nothing anything everything morning evening building
    meeting wedding ceiling clothing amazing interesting exciting boring charming annoying confusing
    surprising shocking disappointing missing remaining existing upcoming ongoing
    """.split()
)

# What may stand before a run of words that opens a sentence: nothing, or the end of the last sentence.
_SENTENCE_OPENING = re.compile(r"(?:^\s*|[.!?…:]\s*)$")


@dataclass(frozen=True)
class TextSegment:
    """A run of words to speak.

    Attributes:
        text: The words, stripped of surrounding white space.
    """

    text: str


@dataclass(frozen=True)
class TagSegment:
    """A paralinguistic tag found in the text (never to be spoken as words).

    Attributes:
        label: The canonical tag (one of :data:`TAGS`) when ``known``, else the normalised words of an
            unrecognised stage direction (``"smiles"``).
        raw: The tag exactly as written, brackets included.
        known: Whether ``label`` is one of :data:`TAGS`.
        seconds: For ``pause`` only: the requested length, or ``None`` for the backend's default.
    """

    label: str
    raw: str
    known: bool = True
    seconds: float | None = None


Segment = TextSegment | TagSegment


def _normalise(words: str) -> str:
    return " ".join(words.strip().lower().replace("_", " ").replace("-", " ").split())


def canonical_tag(name: str) -> str | None:
    """The canonical tag for a name or alias (``"Laughs"`` -> ``"laugh"``), or ``None`` if unknown.

    Args:
        name: A tag name without brackets, in any case; ``_``, ``-`` and spaces are interchangeable.
    """
    key = _normalise(name)
    if key.replace(" ", "_") in TAGS:
        return key.replace(" ", "_")
    if key in ALIASES:
        return ALIASES[key]
    if _PAUSE_LENGTH.match(key):
        return "pause"
    return None


def _pause_seconds(key: str) -> float | None:
    if key in _PAUSE_WORDS:
        return _PAUSE_WORDS[key]
    match = _PAUSE_LENGTH.match(key)
    if not match:
        return None
    value = float(match.group(1))
    return value / 1000.0 if match.group(2) == "ms" else value


def _words_of(inner: str) -> str:
    """A cue's words without the sentence punctuation an LLM may put inside it (``Sighs.`` -> ``Sighs``)."""
    return inner.strip().rstrip(".!").strip()


def _label_in(words: str) -> str | None:
    """The tag a cue of several words names (``laughs softly`` -> ``laugh``), or ``None``."""
    label = canonical_tag(words)
    if label is not None:
        return label
    tokens = _normalise(words).split()
    for size in (3, 2, 1):  # the longest alias first: "takes a deep breath" before "breath"
        for i in range(len(tokens) - size + 1):
            label = canonical_tag(" ".join(tokens[i : i + size]))
            if label is not None:
                return label
    return None


def _is_participle(word: str) -> bool:
    return word.endswith("ing") and len(word) >= 6 and word not in _NOT_PARTICIPLES


def is_stage_direction(words: str, form: str = "(", opens_sentence: bool = False) -> bool:
    """Whether ``words`` (the inside of ``(...)`` or ``*...*``) describe an action, expression or manner.

    One to twelve words of letters that

    - start with one of :data:`CUE_WORDS` (``smiles warmly``, ``nods``, ``softly``), or, in parentheses,
      with one of :data:`EMOTION_CUES` (``excited``);
    - or start with an -ing verb (``checking my notes``, ``scolding you``; a lone one only in
      parentheses, since ``*amazing*`` is emphasis; not ``including tax`` and other such asides);
    - or hold one of :data:`CUE_NOUNS` or an -ing cue word among two or more words (``in a gentle
      voice``, ``with a smile``, ``applause, smiling``);
    - or, in parentheses, open a sentence (``opens_sentence``): a reply is spoken, so a parenthesis
      before its first word is a direction to the speaker (``(to myself) It's fine.``).

    Emphasis and asides inside a sentence (``really``, ``as I said``, ``with some tea``) are not.

    Args:
        words: The text inside the delimiters (a final ``.`` or ``!`` is ignored).
        form: ``"("`` for parentheses, ``"*"`` for asterisks.
        opens_sentence: The run stands at the start of the text or right after a sentence end.
    """
    core = _words_of(words)
    if not _STAGE_DIRECTION.match(core):
        return False
    tokens = _normalise(core.replace(",", " ")).split()
    first = tokens[0]
    if first in CUE_WORDS or (form != "*" and first in EMOTION_CUES):
        return True
    if _is_participle(first) and (form != "*" or len(tokens) >= 2):
        return True
    if len(tokens) >= 2 and any(t in CUE_NOUNS or (t.endswith("ing") and t in CUE_WORDS) for t in tokens):
        return True
    return form != "*" and opens_sentence


def _tag_for(match: re.Match[str], opens_sentence: bool = False) -> TagSegment | None:
    raw = match.group(0)
    square, star, paren, angle, han = match.groups()
    inner = next(g for g in match.groups() if g is not None)
    if han is not None or (square is not None and re.fullmatch(_HAN, inner.strip())):
        return _chinese_tag(inner.strip(), raw)
    core = _words_of(inner)
    cue_like = bool(_STAGE_DIRECTION.match(core))
    form = "*" if star is not None else "("
    if core == inner.strip() or cue_like:  # "[sic.]" is text; "(Sighs.)" and "[laughs softly]" are cues
        label = canonical_tag(core)
        if label is None and cue_like and (square is not None or angle is not None or is_stage_direction(core, form)):
            label = _label_in(core)
        if label is not None:
            seconds = _pause_seconds(_normalise(core)) if label == "pause" else None
            return TagSegment(label=label, raw=raw, known=True, seconds=seconds)
    if not cue_like:
        return None
    if square is not None and core == inner.strip():
        return TagSegment(label=_normalise(core.replace(",", " ")), raw=raw, known=False)
    if angle is not None or is_stage_direction(core, form, opens_sentence):
        return TagSegment(label=_normalise(core.replace(",", " ")), raw=raw, known=False)
    return None  # *emphasis*, (an aside), [1], [sic.]: ordinary text


def _chinese_tag(words: str, raw: str) -> TagSegment | None:
    """A Chinese cue: a known event (``笑`` -> laugh), a known soundless direction (``微笑``: dropped), or
    ``None`` (ordinary text in brackets, kept)."""
    label = ZH_ALIASES.get(words)
    if label is not None:
        return TagSegment(label=label, raw=raw, known=True, seconds=None)
    if words in ZH_CUE_WORDS:
        return TagSegment(label=words, raw=raw, known=False)
    return None


def _tidy(text: str) -> str:
    text = " ".join(text.split())
    text = re.sub(r"\s+([,.;:!?，。；：！？、])", r"\1", text)
    # Chinese is written without spaces: none is left between two characters where a cue was taken out.
    return re.sub(r"(?<=[\u4e00-\u9fff，。；：！？、])\s+(?=[\u4e00-\u9fff])", "", text)


def split_tags(text: str) -> list[Segment]:
    """Split text into the words to speak and the tags between them, in order.

    Empty text runs are left out, so two adjacent tags give two adjacent :class:`TagSegment` s. Spaces
    are tidied inside each text run (a tag removed before a comma leaves no ``" ,"``).

    Args:
        text: Reply text that may contain tags.

    Returns:
        A list of :class:`TextSegment` and :class:`TagSegment`.
    """
    segments: list[Segment] = []
    position = 0
    pending = ""
    for match in _BRACKET.finditer(text):
        tag = _tag_for(match, opens_sentence=bool(_SENTENCE_OPENING.search(text[: match.start()])))
        if tag is None:
            continue
        pending += text[position : match.start()]
        position = match.end()
        words = _tidy(pending)
        if words:
            segments.append(TextSegment(words))
        pending = ""
        segments.append(tag)
    words = _tidy(pending + text[position:])
    if words:
        segments.append(TextSegment(words))
    return segments


def strip_tags(text: str) -> tuple[str, list[str]]:
    """Remove every tag from text.

    Args:
        text: Reply text that may contain tags.

    Returns:
        ``(clean_text, tags_found)``: the text with tags removed and spaces tidied, and the labels of the
        removed tags in order (canonical names for known tags, normalised words for unknown ones).
    """
    pieces: list[str] = []
    found: list[str] = []
    for segment in split_tags(text):
        if isinstance(segment, TagSegment):
            found.append(segment.label)
        else:
            pieces.append(segment.text)
    return _tidy(" ".join(pieces)), found


def normalise_cues(text: str) -> str:
    """Rewrite a reply for speaking: every cue in its canonical tag form, every unknown stage direction gone.

    ``(Laughs.)``, ``*chuckles*`` and ``<laugh>`` become ``[laugh]``; ``[pause 0.5s]`` stays;
    ``(smiles)`` and ``*nods*`` are removed, with a log line, since no sound stands for them. Text
    without cues comes back unchanged (apart from tidied spaces around a removed cue).

    Args:
        text: A reply (or one sentence of it) as the LLM wrote it.

    Returns:
        The text a TTS backend should get: words, and tags it can render.
    """
    if not _BRACKET.search(text):
        return text
    pieces: list[str] = []
    changed = False
    for segment in split_tags(text):
        if isinstance(segment, TextSegment):
            pieces.append(segment.text)
            continue
        if not segment.known:
            logger.info(
                "Dropped the stage direction %s from the reply: no sound stands for it, and it is not read aloud.",
                segment.raw,
            )
            changed = True
            continue
        written = f"[{segment.label}]"
        if segment.label == "pause" and segment.seconds is not None:
            written = f"[pause {segment.seconds:g}s]"
        changed = changed or written != segment.raw
        pieces.append(written)
    if not changed:
        return text
    return _tidy(" ".join(pieces))


def tag_text(label: str) -> str:
    """The canonical written form of a tag, e.g. ``tag_text("clears throat") == "[throat_clearing]"``.

    Raises:
        ConfigError: if ``label`` is not a known tag or alias.
    """
    canonical = canonical_tag(label)
    if canonical is None:
        raise ConfigError(f"Unknown paralinguistic tag {label!r}. Use one of: {', '.join(TAGS)}.")
    return f"[{canonical}]"
