"""Mixed-adapter LoRA for the hf engine: a batch whose rows use different adapters of one `PeftModel`.

- `StackedLoRA` (default, `mixing="stacked"`): every adapter's LoRA in one computation per layer, two matmuls
  whatever the number of adapters (the BGMV idea of Punica and S-LoRA);
- `SegmentedLoRA` (`mixing="segments"`): rows grouped by adapter, each adapter's LoRA applied to its slice;
- peft's own `adapter_names` path (`mixing="peft"`), which gathers and scatters rows in every layer.

All three give the same tokens (fp32 greedy, tests/test_generation.py); they patch LoRA layers' `forward` only
around the engine's forward calls, so the `PeftModel` is otherwise untouched.
"""

from __future__ import annotations

import contextlib

MIXING = ("stacked", "segments", "peft")


def plain_lora_layers(model) -> tuple[list, bool]:
    """The model's LoRA layers, and whether all are plain LoRA linears (no variant such as DoRA, not merged, no
    fan-in-fan-out, no LoRA bias): the only kind the fast paths below reproduce exactly."""
    from peft.tuners.lora import Linear as LoraLinear

    layers = [m for m in model.modules() if hasattr(m, "lora_A") and hasattr(m, "base_layer")]
    supported = bool(layers) and all(
        type(m) is LoraLinear and not m.lora_variant and not getattr(m, "merged", False)
        and not getattr(m, "fan_in_fan_out", False)
        and not any(getattr(m, "lora_bias", {}).values()) for m in layers)
    return layers, supported


@contextlib.contextmanager
def patched_forwards(layers: list, forwards: list):
    """Each layer's `forward` replaced by its entry of `forwards` inside the block (an instance attribute, removed
    after), so the model is untouched outside it."""
    for layer, forward in zip(layers, forwards):
        layer.forward = forward
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward


class SegmentedLoRA:
    """Mixed-adapter LoRA for batches whose rows are grouped by adapter: in every LoRA layer, the base output
    plus, per adapter, `lora_B(lora_A(x[start:end])) * scaling` added to its contiguous slice of rows.

    The same arithmetic as peft's per-adapter forward; peft's `adapter_names` path computes the same, but rebuilds
    index lists and gathers/scatters rows in every layer at every step, which costs more than the LoRA itself on
    small models. Installed around one forward call at a time, so the `PeftModel` is otherwise untouched.
    LoRA dropout (a training setting) is no reason to fall back: in eval mode it is the identity, and the
    engine uses the segments only while the model is in eval mode.
    """

    def __init__(self, model):
        self.layers, self.supported = plain_lora_layers(model)
        self.runs: list[tuple[int, int, str]] = []
        self.forwards = [self._forward(layer) for layer in self.layers] if self.supported else []

    @staticmethod
    def runs_of(names: list[str]) -> list[tuple[int, int, str]]:
        runs, start = [], 0
        for i in range(1, len(names) + 1):
            if i == len(names) or names[i] != names[start]:
                runs.append((start, i, names[start]))
                start = i
        return runs

    def _forward(self, layer):
        import torch.nn.functional as F

        weights = {name: (layer.lora_A[name].weight, layer.lora_B[name].weight, layer.scaling[name])
                   for name in layer.lora_A}
        base_layer = layer.base_layer

        def forward(x, *args, **kwargs):
            result = base_layer(x, *args, **kwargs)
            for start, end, name in self.runs:
                if name not in weights:  # the base, or an adapter that does not target this layer
                    continue
                a, b, scaling = weights[name]
                delta = F.linear(F.linear(x[start:end].to(a.dtype), a), b) * scaling  # peft: LoRA in its dtype
                result[start:end].add_(delta if delta.dtype == result.dtype else delta.to(result.dtype))
            return result

        return forward

    @contextlib.contextmanager
    def applied(self, names: list[str]):
        self.runs = self.runs_of(names)
        if len({name for _, _, name in self.runs}) != len(self.runs):
            raise ValueError("rows of a mixed-adapter batch must be grouped by adapter")
        with patched_forwards(self.layers, self.forwards):
            yield


class StackedLoRA:
    """Mixed-adapter LoRA as one computation per layer, whatever the number of adapters in the batch (the BGMV idea
    of Punica and S-LoRA, in two dense matmuls): every adapter's A is stacked into one `A_all` (sum of ranks x in),
    every adapter's B into one `B_all` (out x sum of ranks), and per forward

        result = base(x) + ((x @ A_all.T) * gate) @ B_all.T

    where `gate` (rows x sum of ranks) holds, for each row, its own adapter's scaling on that adapter's rank columns
    and 0 elsewhere; base rows (and adapters that do not target a layer) have no columns. Ranks may differ: an
    adapter occupies as many columns as its rank, so nothing is padded. Rows need not be grouped.

    Work: the LoRA matmuls are as wide as the sum of ranks (6 rank-8 adapters: 48 columns against the base
    layer's thousands), so the per-adapter loop's many small kernels become two matmuls and a multiply per layer.
    The gate is one tensor per set of adapters a layer holds, updated in place (`set_rows`), so a captured decode
    step (static decode) replays with new rows. Eval mode only, like `SegmentedLoRA` (LoRA dropout is the identity).
    The stacked weights are copies: the adapters' memory doubles (a rank-8 all-linear Qwen3-4B adapter is ~33 MB).
    """

    def __init__(self, model):
        import torch

        self.layers, self.supported = plain_lora_layers(model)
        self.adapters = sorted({name for layer in self.layers for name in layer.lora_A})
        self.index = {name: i for i, name in enumerate(self.adapters)}  # a row's adapter -> its columns' owner id
        self.gates: dict[tuple[str, ...], object] = {}  # adapters of a layer -> (rows, columns) gate
        self.columns: dict[tuple[str, ...], tuple[object, object]] = {}  # -> (adapter index, scaling) per column
        self.forwards = []
        if not self.supported:
            return
        for layer in self.layers:
            names = tuple(sorted(layer.lora_A))
            a_all = torch.cat([layer.lora_A[n].weight for n in names], dim=0).detach()
            b_all = torch.cat([layer.lora_B[n].weight for n in names], dim=1).detach()
            if names not in self.columns:
                owner = torch.cat([torch.full((layer.r[n],), self.index[n]) for n in names])
                scale = torch.cat([torch.full((layer.r[n],), float(layer.scaling[n])) for n in names])
                self.columns[names] = (owner.to(a_all.device), scale.to(device=a_all.device, dtype=a_all.dtype))
            self.forwards.append(self._forward(layer, names, a_all, b_all))

    def _forward(self, layer, names, a_all, b_all):
        import torch.nn.functional as F

        base_layer = layer.base_layer

        def forward(x, *args, **kwargs):
            result = base_layer(x, *args, **kwargs)
            gate = self.gates[names]
            hidden = F.linear(x.to(a_all.dtype), a_all)  # (rows, tokens, sum of ranks)
            delta = F.linear(hidden * gate.view(gate.shape[0], *([1] * (hidden.dim() - 2)), gate.shape[1]), b_all)
            return result.add_(delta if delta.dtype == result.dtype else delta.to(result.dtype))

        return forward

    def set_rows(self, names: list[str]) -> None:
        """The gates for rows with these adapters (BASE or any name the model holds), in place when the row count
        is unchanged (the tensors a captured step reads stay the same)."""
        import torch

        owner_device = next(iter(self.columns.values()))[0].device
        rows = torch.tensor([self.index.get(n, -1) for n in names], device=owner_device)
        for key, (owner, scale) in self.columns.items():
            gate = (rows[:, None] == owner[None, :]).to(scale.dtype) * scale
            current = self.gates.get(key)
            if current is not None and current.shape == gate.shape:
                current.copy_(gate)
            else:
                self.gates[key] = gate

    @contextlib.contextmanager
    def installed(self):
        with patched_forwards(self.layers, self.forwards):
            yield
