"""The E-chat recipe's ESD development sentences: never said in stage 2, fixed before training, and kept out of
the wider stage-2 manifest (``--esd-more``)."""

from __future__ import annotations


def _esd(sentences: dict[str, list[str]]) -> list[dict[str, str]]:
    return [
        {"path": f"{i}-{emotion}.flac", "text": text, "emotion": emotion}
        for i, (text, emotions) in enumerate(sentences.items())
        for emotion in emotions
    ]


def test_dev_sentences_are_new_words_in_four_or_more_emotions(monkeypatch, repo_script):
    recipe = repo_script("examples/echat_recipe.py")
    monkeypatch.setattr(recipe, "ESD_DEV_SENTENCES", 2)
    five = ["angry", "happy", "neutral", "sad", "surprised"]
    esd = _esd(
        {
            "Zebra sentence.": five,
            "Apple sentence.": five[:4],
            "Mango sentence.": five,
            "Banana in three emotions only.": five[:3],
            "Also said in stage two.": five,
        }
    )
    stage2 = [row for row in esd if row["text"] == "Also said in stage two."][:1]

    dev = recipe.esd_dev_rows(esd, stage2)

    # the first two qualifying sentences alphabetically, every clip of each
    assert [row["text"] for row in dev] == ["Apple sentence."] * 4 + ["Mango sentence."] * 5
    # a sentence stage 2 says is never a development sentence, even in its other emotions
    assert not {row["text"] for row in dev} & {row["text"] for row in stage2}
    # and the choice does not depend on the order of the rows
    reordered = recipe.esd_dev_rows(list(reversed(esd)), stage2)
    assert reordered == sorted(reordered, key=lambda row: row["text"])
    assert {row["path"] for row in reordered} == {row["path"] for row in dev}
