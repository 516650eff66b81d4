"""The prediction methods: the prompts each source is sampled with, and MetaSFT's training set and meta-model.

- prompts: ObjectSFT (the question alone) and ObjectICL (k train pairs of T as prior turns) prompts per source.
- metasft: the MetaSFT dataset from train_train pairs (stage `meta_shards`) and the meta-model (stage `meta_train`).
"""
