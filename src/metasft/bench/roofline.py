"""The bandwidth roofline of a decode step, for the generation benchmark (`python -m metasft.bench.generation`).

A decode step of a batch reads at least every weight once and, for each row, the keys and values of every cached
position it attends over; at the card's memory bandwidth that takes `bytes / bandwidth` seconds, the floor a
step's measured time is compared with (`roofline_fraction`). FLOPs are not counted: at several hundred rows the
matmuls of a 4B model take about as long as reading its weights on an H100 (docs/generation.md, "On a GPU"), so a fraction
below 1 is not all waste.
"""

from __future__ import annotations


def model_bytes(engine) -> dict:
    """What one decode step must read at least: every weight once (the input embedding only where it is not tied to
    the output layer: a lookup reads a few rows), and per cached position its keys and values in every layer."""
    model = engine.base_model
    config = model.config.get_text_config(decoder=True)
    weights = sum(p.numel() * p.element_size() for p in engine.model.parameters())
    embeddings = model.get_input_embeddings().weight
    if not getattr(config, "tie_word_embeddings", False):
        weights -= embeddings.numel() * embeddings.element_size()
    heads = config.num_key_value_heads or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    kv = 2 * config.num_hidden_layers * heads * head_dim * embeddings.element_size()
    return {"weight_bytes": weights, "kv_bytes_per_position": kv}


# Peak memory bandwidth (bytes/s) of the cards the roofline fraction knows by name (vendor data sheets, SXM parts);
# --bandwidth-gbs gives any other device's.
BANDWIDTH = {"H200": 4.8e12, "H100": 3.35e12, "A100": 2.0e12, "L40S": 0.864e12, "A10": 0.6e12}


def device_bandwidth(override_gbs: float | None) -> float | None:
    import torch

    if override_gbs:
        return override_gbs * 1e9
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name()
        return next((value for key, value in BANDWIDTH.items() if key in name), None)
    return None


def decode_figures(result: dict, bandwidth: float | None) -> dict:
    """ms per decode step and, with a bandwidth, the fraction of the bandwidth roofline reached: the step's bytes
    (weights + the KV positions its rows attend over) over the bandwidth, divided by the measured step time."""
    steps = result.get("decode_steps") or 0
    if not steps:
        return {}
    ms = 1000 * result["decode_seconds"] / steps
    step_bytes = result["weight_bytes"] + result["kv_position_reads"] / steps * result["kv_bytes_per_position"]
    figures = {"ms_per_decode_step": ms, "rows_per_decode_step": result["row_steps"] / steps,
               "bytes_per_decode_step": step_bytes}
    if bandwidth:
        figures["roofline_ms_per_decode_step"] = 1000 * step_bytes / bandwidth
        figures["roofline_fraction"] = figures["roofline_ms_per_decode_step"] / ms
    return figures
