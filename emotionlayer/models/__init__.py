"""End-to-end speech language models (PyTorch modules, configs, training and inference).

* :mod:`emotionlayer.models.echat`: E-chat (Xu et al. 2024), an emotion-sensitive speech LLM.
* :mod:`emotionlayer.models.paralingpt`: ParalinGPT (Lin et al. 2024), the baseline E-chat is compared against.
* :mod:`emotionlayer.models.common`: what both share (backbones, features, checkpoints, training, inference).
"""
