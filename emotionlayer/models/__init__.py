"""End-to-end speech language models (PyTorch modules, configs, training and inference).

* :mod:`emotionlayer.models.echat`: E-chat (Xu et al. 2024), an emotion-sensitive speech LLM.
"""
