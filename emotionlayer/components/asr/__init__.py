"""asr backends; importing this package registers them.

=====================  ==========================================================================
name                   backend
=====================  ==========================================================================
``faster-whisper``     whisper on CTranslate2; default, offline with the packaged tiny.en / base
``openai-whisper``     the reference ``whisper`` package; checkpoints by name or path
``transformers``       a transformers ``automatic-speech-recognition`` pipeline from a local folder
=====================  ==========================================================================
"""

from . import faster_whisper, hf_transformers, openai_whisper  # noqa: F401
