"""Our causal decoder against keras_hub's, same size, same backend, same run.

keras_hub's `TransformerDecoder` has no hook for rotary positions; its
rotary decoder is GPT-NeoX's (`GPTNeoXBackbone`: keras_hub's
`RotaryEmbedding` inside its cached attention, LayerNorm, GELU), built
here at the nanoGPT recipe's size with every channel rotated
(`rotary_percentage=1`), and `GPTNeoXCausalLM.generate` for its compiled,
cached sampling loop. Ours: `build_causal_lm(position="rotary")`, the same
width, heads, layers and feed-forward width (GPT-NeoX adds a parallel
residual and biases: the weight counts are printed).

Measured, after a warm-up that compiles: training tokens/s (AdamW, batches
of 12 x 64 characters, `fit` on the same random ids) and greedy cached
generation tokens/s (256 new tokens after an 8-token prompt, batch 1).
Prints a markdown table. Needs `pip install keras-hub` (the `bench` extra).

    KERAS_BACKEND=jax python benchmarks/keras_hub_decoder.py
"""

from __future__ import annotations

import argparse
import platform
import time

import keras
import numpy as np

from keras_posemb.models import build_causal_lm


def compile_for_training(model):
    model.compile(
        keras.optimizers.AdamW(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=keras.backend.backend() != "torch",
    )


def training_rate(model, make_inputs, args) -> float:
    """Training tokens per second, after one warm-up epoch."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, args.vocab_size, (args.batch * args.steps, args.length + 1)).astype(
        "int32"
    )
    inputs, targets = make_inputs(ids[:, :-1]), ids[:, 1:]
    compile_for_training(model)
    model.fit(inputs, targets, batch_size=args.batch, epochs=1, verbose=0)  # compiles
    start = time.perf_counter()
    model.fit(inputs, targets, batch_size=args.batch, epochs=1, verbose=0)
    return ids[:, :-1].size / (time.perf_counter() - start)


def generation_rate(generate, args) -> float:
    """Greedy new tokens per second, after a warm-up call that compiles."""
    prompt = np.random.default_rng(1).integers(0, args.vocab_size, (1, args.prompt)).astype("int32")
    generate(prompt)
    start = time.perf_counter()
    out = generate(prompt)
    seconds = time.perf_counter() - start
    assert out.shape[1] == args.prompt + args.new_tokens, out.shape
    return args.new_tokens / seconds


def ours(args):
    model = build_causal_lm(
        args.vocab_size, args.length, "rotary", args.width, args.heads, 4 * args.width, args.layers
    )
    weights = model.count_params()
    train = training_rate(model, lambda ids: ids, args)
    rate = generation_rate(lambda p: model.generate(p, args.new_tokens), args)
    return weights, train, rate


def keras_hub_model(args):
    import keras_hub

    backbone = keras_hub.models.GPTNeoXBackbone(
        vocabulary_size=args.vocab_size,
        num_layers=args.layers,
        num_heads=args.heads,
        hidden_dim=args.width,
        intermediate_dim=4 * args.width,
        rotary_percentage=1.0,
        max_sequence_length=args.prompt + args.new_tokens,
    )
    model = keras_hub.models.GPTNeoXCausalLM(backbone, preprocessor=None)
    weights = model.count_params()

    def with_mask(ids):
        return {"token_ids": ids, "padding_mask": np.ones_like(ids, dtype=bool)}

    train = training_rate(model, with_mask, args)
    model.compile(sampler="greedy")
    total = args.prompt + args.new_tokens

    def generate(prompt):
        ids = np.zeros((1, total), "int32")
        ids[:, : args.prompt] = prompt
        mask = np.zeros((1, total), bool)
        mask[:, : args.prompt] = True
        out = model.generate({"token_ids": ids, "padding_mask": mask}, stop_token_ids=None)
        return np.asarray(out["token_ids"])

    return weights, train, generation_rate(generate, args)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=65)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--steps", type=int, default=50, help="timed training steps")
    parser.add_argument("--prompt", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=256)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    rows = {"keras_posemb": ours(args), "keras_hub GPT-NeoX": keras_hub_model(args)}
    backend = keras.backend.backend()
    print(f"\n{backend}, Keras {keras.__version__}, {platform.machine()}; {args.layers} layers x "
          f"{args.width}, {args.heads} heads, rotary\n")  # fmt: skip
    print("| model | weights | training tokens/s | cached generation tokens/s |")
    print("|---|---:|---:|---:|")
    for name, (weights, train, rate) in rows.items():
        print(f"| {name} | {weights:,} | {train:,.0f} | {rate:,.1f} |")


if __name__ == "__main__":
    main()
