"""Evaluation: shared classification metrics (:mod:`.metrics`) and one evaluator per task (``ser``, ``asr``, ...).

Import the submodule you need (``from emotionlayer.evaluation.ser import evaluate_ser``); this package
imports nothing heavy.
"""
