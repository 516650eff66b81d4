"""Models: the tiny world and its pretraining, LoRA fine-tuning, model loading, chat templates and manifests.

- world: the persona world (pretraining corpus with known latent structure), advice and judge documents.
- tiny: the embedded `tiny` base model: tokenizer and small Qwen3 pretrained on the world (stage `pretrain_base`).
- training: the LoRA SFT recipe (trl + peft) shared by ObjectSFT and MetaSFT.
- finetune: ObjectSFT, one adapter per train domain (stage `finetune`).
- loading: base model, tokenizer and adapters from a hub id or a local folder; torch threads and device.
- chat: chat-template rendering every stage shares, and templates for base models that ship none.
- manifest: model-folder manifests, written last and checked before loading (`python -m metasft.models.manifest`).
- random: randomly initialised models and adapters of a given shape, for benchmarks and tests.
"""
