"""Roles of tensors in formats that store a flat name -> tensor map (PyTorch state dicts,
safetensors, GGUF, Keras/HDF5, npz), read from the names and shapes the frameworks write.

The names are the frameworks' own conventions, not guesses about a model:
- PyTorch modules register `weight`/`bias` parameters and, for batch norms, the buffers
  `running_mean`, `running_var`, `num_batches_tracked` (torch.nn.modules.batchnorm); recurrent
  layers name their biases `bias_ih_l0`/`bias_hh_l0`, attention `in_proj_bias`. Every layer whose
  `weight` is one-dimensional is a per-channel scale: the norms (BatchNorm, LayerNorm,
  GroupNorm, InstanceNorm, RMSNorm) and PReLU (whose module name says so); Linear, Conv,
  Embedding and recurrent weights have two dimensions or more.
- Keras saves `kernel`, `bias`, `gamma`/`beta` and `moving_mean`/`moving_variance` for
  BatchNormalization (layer `batch_normalization_N`), `alpha` for PReLU (layer `p_re_lu_N`),
  each as `NAME:0` (HDF5 paths separated by `/`).
- llama.cpp's GGUF names norms `attn_norm`, `ffn_norm`, `output_norm`, ... (`*_norm.weight`).
- Quantised checkpoints keep scales and zero points beside the weights (`weight_scale`,
  `input_scale`, `scales`, `qzeros`, `weight_zero_point`; compressed-tensors, GPTQ, AWQ), and
  microscaling formats store their shared scales as F8_E8M0.

Only a tensor the reader calls `weight` is refined; what a reader read from structure (a
TorchScript buffer, optimizer state: `constant`) is kept.
"""

from __future__ import annotations

import re

from weightops.model.formats.base import BIAS, BUFFER, NORM, QUANT, SLOPE, WEIGHT

_BUFFERS = {"running_mean", "running_var", "num_batches_tracked", "moving_mean", "moving_variance"}
_QUANT = {"scale", "scales", "zero_point", "zeros", "qzeros", "g_idx", "weight_scale", "input_scale",
          "output_scale", "weight_zero_point", "input_zero_point", "weight_global_scale",
          "input_global_scale", "k_scale", "v_scale"}
# Module names of normalisation layers as PyTorch, Hugging Face, timm, Keras and llama.cpp spell
# them: bn1, norm2, ln_f, layernorm, LayerNorm, batch_normalization, attn_norm, post_attention_layernorm.
_NORM_MODULE = re.compile(r"(^|[._])(bn|gn|ln|norm|layernorm|layer_norm|batchnorm|batch_norm|groupnorm|"
                          r"group_norm|instancenorm|instance_norm|rmsnorm|rms_norm|batch_normalization|"
                          r"layer_normalization|group_normalization)(_?\d+)*(_[a-z]{1,2})?(_?\d+)*$|norm$", re.IGNORECASE)
_SLOPE_MODULE = re.compile(r"prelu|p_re_lu", re.IGNORECASE)


def _parts(name: str) -> list[str]:
    """A tensor name split into its path components, Keras' `:0` suffix dropped."""
    return [p for p in re.split(r"[./]", re.sub(r":\d+$", "", name)) if p]


def name_role(name: str, shape: tuple[int, ...], dtype: str, role: str = WEIGHT) -> str:
    """The role of tensor `name` (shape slowest dimension first, dtype code such as `F32`) that
    its reader called `role`: `buffer`, `quant`, `slope`, `norm`, `bias`, or `role` unchanged.
    Pure; see the module doc for the naming conventions it follows."""
    if role != WEIGHT:
        return role
    parts = _parts(name)
    if not parts:
        return role
    leaf, module = parts[-1], parts[-2] if len(parts) > 1 else ""
    low = leaf.lower()
    if low in _BUFFERS:
        return BUFFER
    if dtype == "F8_E8M0" or low in _QUANT or low.endswith(("_scale", "_zero_point")):
        return QUANT
    if _SLOPE_MODULE.search(module) and (low == "alpha" or (low == "weight" and len(shape) <= 1)):
        return SLOPE
    if _NORM_MODULE.search(module) and low in ("weight", "bias", "scale", "gamma", "beta"):
        return NORM
    if low == "bias" or low.startswith("bias_") or low.endswith("_bias"):
        return BIAS
    if low == "weight" and len(shape) <= 1:
        return NORM   # one scale per channel: a normalisation layer (see the module doc)
    return role
