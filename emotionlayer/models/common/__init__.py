"""What the end-to-end speech LLMs share (E-chat and ParalinGPT): backbones, layers, features, settings,
checkpoint folders, the training loop, inference and the dialogue-system wrapper.

Modules: :mod:`.backbones` (speech encoder and LLM loading, devices), :mod:`.layers` (layer-weighted
sums, masks, token sampling), :mod:`.features` (feature cache, manifests, length-bucketed batches),
:mod:`.config` (:class:`TrainConfig`, config files), :mod:`.checkpoint` (model folders and resumable
checkpoints), :mod:`.training` (the accelerate training loop), :mod:`.inference` (``from_pretrained``)
and :mod:`.system` (the registered systems' common part). Nothing here imports a model package.
"""
