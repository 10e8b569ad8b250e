# %% [markdown]
# # Decoders: a language model, cached generation, and longer contexts
#
# The encodings of the earlier guides also drive causal language models,
# where each position sees only itself and the ones before it. This guide
# trains a small character-level model, generates text with a key/value
# cache (and checks that the cache changes nothing), then asks what happens
# when the model reads more text than it was trained on, and what RoPE's
# context extensions (position interpolation, NTK, YaRN) do about it.
#
# At the guide's size this takes about 3 minutes on a 2-core CPU;
# `KERAS_POSEMB_GUIDE_SMALL=1` runs it at a tiny size.

# %%
import os
import tempfile

import keras
import matplotlib.pyplot as plt
import numpy as np

from keras_posemb.analysis import extrapolation
from keras_posemb.layers import RotaryEmbedding
from keras_posemb.runs.run import Run
from keras_posemb.training import language_model

SMALL = os.environ.get("KERAS_POSEMB_GUIDE_SMALL") == "1"
keras.utils.set_random_seed(0)

# %% [markdown]
# ## Train a character-level model
#
# `train_language_model` is what `keras-posemb-lm` runs. Without a text
# file it trains on text the package writes itself (sentences of the
# built-in data set, one per line), so this runs offline. The model sees
# windows of `max_length` characters and learns to predict each next one;
# rotary positions, the default, as in LLaMA.

# %%
settings = dict(steps=600, eval_interval=200, max_length=32, embed_dim=64, num_layers=2)
if SMALL:
    settings = dict(steps=4, eval_interval=2, max_length=8, embed_dim=16, num_heads=2, num_layers=1)
# Removed when the guide ends (the folder object is gone).
workspace = tempfile.TemporaryDirectory(prefix="lm_")
run_dir = workspace.name
config = language_model.LanguageModelConfig(output_dir=run_dir, verbose=0, plots=False, **settings)
metrics = language_model.train_language_model(config)
print(f"validation loss {metrics['val_loss']:.3f} nats per character "
      f"(perplexity {metrics['val_perplexity']:.2f}); a uniform guess: "
      f"{np.log(metrics['vocabulary_size']):.3f}")  # fmt: skip

# %% [markdown]
# ## Generate, with and without a cache
#
# A decoder generates one token at a time. Recomputing every earlier
# position at each step is wasteful: their keys and values do not change.
# `generate` keeps them in a cache and runs each new token alone. The
# cache must give exactly what a full pass gives; check it on one prompt.

# %%
run = Run(run_dir)
model, vocabulary = run.load_model(), run.read_tokens()
prompt = vocabulary.encode("the dog ")[None]
print("greedy: ", repr(vocabulary.decode(model.generate(prompt, max_new_tokens=40)[0])))
sampled = model.generate(prompt, 40, temperature=0.8, top_k=10, seed=1)
print("sampled:", repr(vocabulary.decode(sampled[0])))

ids = model.generate(prompt, max_new_tokens=12)
full = keras.ops.convert_to_numpy(model(ids))
cache = model.empty_cache(batch_size=1, cache_length=ids.shape[1])
logits, cache = model.call_with_cache(ids[:, :8], cache, 0)  # the prompt at once
steps = [keras.ops.convert_to_numpy(logits)]
for position in range(8, ids.shape[1]):  # then one token per call
    logits, cache = model.call_with_cache(ids[:, position : position + 1], cache, position)
    steps.append(keras.ops.convert_to_numpy(logits))
cached = np.concatenate(steps, axis=1)
print("cached against full pass, largest difference:", float(np.abs(cached - full).max()))

# %% [markdown]
# ## Longer than the training context
#
# Score the held-out text in windows of 1x, 2x, 4x and 8x the training
# context. Rotary positions work at any length, but past the training
# context the model meets rotation angles it never saw. The extensions
# change the angles at evaluation time only, with factor = length /
# context: **linear** interpolation divides every angle by the factor
# (Chen et al. 2023); **NTK** raises the base, so fast rotations stay and
# slow ones are interpolated; **YaRN** keeps the fast pairs, interpolates
# the slow ones with a ramp between, and sharpens attention a little
# (Peng et al. 2023).

# %%
context = config.max_length
validation = language_model.load_text(config).validation
rows = {"rotary as trained": extrapolation.extrapolation_losses(model, validation, context)}
for kind in ("linear", "ntk", "yarn"):
    rows[f"+ {kind}"] = {}
    for factor in extrapolation.FACTORS[1:]:
        scaling = {"rope_type": kind, "factor": float(factor)}
        if kind == "yarn":  # its ramp is over wavelengths relative to the context
            scaling["original_max_position_embeddings"] = context
        scaled = extrapolation.with_rope_scaling(model, scaling)
        rows[f"+ {kind}"][str(factor)] = extrapolation.window_loss(
            scaled, validation, factor * context
        )
print(f"{'':20}" + "".join(f"{f}x".rjust(8) for f in extrapolation.FACTORS))
for name, losses in rows.items():
    cells = [
        f"{losses[str(f)]:8.3f}" if losses.get(str(f)) else " " * 8 for f in extrapolation.FACTORS
    ]
    print(f"{name:20}" + "".join(cells))

# %% [markdown]
# On real text (Tiny Shakespeare, the study in docs/decoders.md) the same table, with
# every family and three seeds, is what `benchmarks/lm_extrapolation.py`
# prints.
#
# ## What the extensions do to the angles
#
# Each rotated pair of channels turns by `frequency x position`. Drawn per
# pair, for a factor of 4: linear moves every frequency down by 4; NTK
# moves the slow ones down by up to 4 and leaves the fast ones; YaRN keeps
# the fastest, divides the slowest by 4, and ramps between.

# %%
head_dim = config.embed_dim // config.num_heads


def angles_per_position(rope_scaling):
    rotary = RotaryEmbedding(rope_scaling=rope_scaling)
    rotary.build((None, None, 1, head_dim))  # (batch, sequence, heads, head_dim)
    return rotary.frequencies()[0]


plt.figure(figsize=(6, 3.5))
for kind in ("linear", "ntk", "yarn"):
    scaling = {"rope_type": kind, "factor": 4.0}
    if kind == "yarn":
        scaling["original_max_position_embeddings"] = context
    plt.plot(angles_per_position(scaling), marker=".", label=kind)
plt.plot(angles_per_position(None), "k--", label="as trained")
plt.yscale("log")
plt.xlabel("channel pair")
plt.ylabel("angle per position (radians)")
plt.legend()
plt.show()

# %% [markdown]
# ## The full study
#
# Every family, three seeds, nanoGPT's recipe on Tiny Shakespeare:
#
#     python benchmarks/lm_extrapolation.py --set download=shakespeare
#
# and the same trainer from the command line, then text from the run:
#
#     keras-posemb-lm --download shakespeare --position alibi
#     keras-posemb-generate runs/lm_shakespeare_alibi "ROMEO:"
