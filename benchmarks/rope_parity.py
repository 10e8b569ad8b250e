"""Our RoPE variants against Hugging Face's rope functions, where `transformers` installs.

For configurations of real models (LLaMA 2 with linear and dynamic scaling,
Llama 3.1, Qwen2.5/Mistral-style YaRN, DeepSeek-style YaRN with mscale,
Phi-3's LongRoPE, GPT-NeoX's partial rotary), the inverse frequencies and the
attention factor of `keras_posemb.numerics.rope_scaling.rope_frequencies` against
`transformers.modeling_rope_utils.ROPE_INIT_FUNCTIONS` (which computes in
float32: differences of about 1e-7 relative are its rounding).

    python benchmarks/rope_parity.py
"""

from __future__ import annotations

import numpy as np

from keras_posemb.numerics.rope_scaling import check_rope_scaling, rope_frequencies

PHI3_SHORT = list(np.linspace(1.0, 1.2, 48))
PHI3_LONG = list(np.linspace(1.0, 40.0, 48))
PHI3 = {
    "rope_type": "longrope",
    "factor": 32.0,
    "original_max_position_embeddings": 4096,
    "short_factor": PHI3_SHORT,
    "long_factor": PHI3_LONG,
}
# (name, head_dim, rope_theta, partial_rotary_factor, max_position_embeddings,
#  rope_parameters without theta, sequence length).
CASES = [
    ("LLaMA 2, linear x4", 128, 1e4, 1.0, 16384, {"rope_type": "linear", "factor": 4.0}, None),
    (
        "LLaMA 2, dynamic x2 at 8192",
        128,
        1e4,
        1.0,
        4096,
        {"rope_type": "dynamic", "factor": 2.0},
        8192,
    ),
    (
        "LLaMA 2, dynamic x2 at 2048",
        128,
        1e4,
        1.0,
        4096,
        {"rope_type": "dynamic", "factor": 2.0},
        2048,
    ),
    (
        "Llama 3.1",
        128,
        5e5,
        1.0,
        131072,
        {
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
        },
        None,
    ),
    (
        "YaRN x4 (Qwen2.5)",
        128,
        1e6,
        1.0,
        131072,
        {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768},
        None,
    ),
    (
        "YaRN x40, mscale (DeepSeek)",
        64,
        1e4,
        1.0,
        163840,
        {
            "rope_type": "yarn",
            "factor": 40.0,
            "original_max_position_embeddings": 4096,
            "beta_fast": 32,
            "beta_slow": 1,
            "mscale": 1.0,
            "mscale_all_dim": 1.0,
        },
        None,
    ),
    (
        "LongRoPE short (Phi-3)",
        96,
        1e4,
        1.0,
        131072,
        PHI3,
        2048,
    ),
    (
        "LongRoPE long (Phi-3)",
        96,
        1e4,
        1.0,
        131072,
        PHI3,
        8192,
    ),
    ("GPT-NeoX partial 0.25", 128, 1e4, 0.25, 2048, {"rope_type": "default"}, None),
]


def hugging_face(head_dim, theta, partial, max_positions, parameters, length):
    from transformers import LlamaConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    config = LlamaConfig(
        hidden_size=head_dim * 4,
        num_attention_heads=4,
        head_dim=head_dim,
        max_position_embeddings=max_positions,
        rope_parameters={**parameters, "rope_theta": theta, "partial_rotary_factor": partial},
    )
    kind = parameters["rope_type"]
    if kind == "default":  # Not in the table: the plain formula.
        dim = int(head_dim * partial)
        return 1.0 / theta ** (np.arange(0, dim, 2) / dim), 1.0
    frequencies, factor = ROPE_INIT_FUNCTIONS[kind](config, "cpu", length)
    return frequencies.double().numpy(), float(factor)


def main():
    try:
        import transformers
    except ImportError:
        print("transformers is not installed: nothing to compare (pip install transformers).")
        return
    print(f"transformers {transformers.__version__}\n")
    print("| configuration | max relative difference, frequencies | attention factor: ours, HF |")
    print("|---|---|---|")
    for name, head_dim, theta, partial, max_positions, parameters, length in CASES:
        theirs, their_factor = hugging_face(head_dim, theta, partial, max_positions, parameters, length)  # fmt: skip
        scaling = check_rope_scaling({**parameters, "max_position_embeddings": max_positions})
        scaling = None if scaling["rope_type"] == "default" else scaling
        ours, our_factor = rope_frequencies(scaling, int(head_dim * partial), theta, length)
        difference = np.max(np.abs(ours - theirs) / theirs)
        print(f"| {name} | {difference:.1e} | {our_factor:.6f}, {their_factor:.6f} |")


if __name__ == "__main__":
    main()
