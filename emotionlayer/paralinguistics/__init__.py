"""Paralinguistics: non-verbal sounds in speech such as [laugh], [sigh], [cough], made and found.

Modules:

* :mod:`.tags` - the one parser of tags such as ``[laugh]``, ``*sighs*`` or ``[pause 0.5s]`` in text,
  shared by every TTS backend and the event synthesis.
* :mod:`.dsp` - level, silence trimming and pitch of short audio (NumPy, librosa for pitch).
* :mod:`.bank` - :class:`~.bank.EventBank`: per-label folders of event clips, the packaged bank
  (``emotionlayer/assets/events/``) plus user folders, rendered to match the speech around them.
* :mod:`.synthesis` - formant synthesis of the laugh, sigh, gasp, throat-clearing and tsk clips of the
  packaged bank (``python -m emotionlayer.paralinguistics.synthesis DIR`` regenerates them).
* :mod:`.insertion` - :func:`~.insertion.synthesize_with_events` (tagged text -> speech with events
  inserted and their exact times) and :func:`~.insertion.event_renderer` (a TTS ``event_renderer``).
* :mod:`.dataset` - writing paralinguistic-speech datasets with a ``manifest.jsonl`` of exact events.
* :mod:`.curation` - cutting recordings into bank clips and rebuilding the packaged bank
  (``python -m emotionlayer.paralinguistics.curation``).
* :mod:`.detection` - the event detector: window features, the window classifier, detection, training.

Nothing here depends on a particular TTS: a TTS is passed in as any object with
``synthesize(text, style) -> Audio``. Importing this package imports none of its modules.
"""
