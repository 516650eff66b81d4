"""Answer generation: requests and sampling settings, seeded sampling, the hf and vllm engines, the sampling stage.

- requests: what an engine is asked (`SamplingSettings`, `GenerationRequest`), backend checks, prompt encoding.
- sampling: the hf engine's batch planning and per-row seeded token sampling.
- hf: `HFEngine` (many adapters in one pass); the overview of both backends.
- lora: the engine's mixed-adapter LoRA paths (`StackedLoRA`, one computation per layer; `SegmentedLoRA`).
- static: `generation.static_decode`, preallocated cache and fixed-shape (CUDA-graph) decode steps.
- likelihood: answers' log-probabilities after prompts (inverse prediction).
- vllm: `VLLMEngine`, the optional CUDA backend (imported only when configured).
- engines: `load_engine`, the engine the config names.
- answers: the sampling stage of golden, predict_icl and predict_metasft (one answer table per chunk).
"""
