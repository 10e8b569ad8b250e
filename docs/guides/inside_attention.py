# %% [markdown]
# # Inside attention: rotary, ALiBi and T5
#
# The sinusoidal and learned encodings are added to the tokens before
# attention, and attention has to work out offsets from them. The relative
# methods put position where it is used, in the attention scores
# `score(i, j) = q_i . k_j / sqrt(d)` of query `i` and key `j`:
#
# - **rotary** (RoPE) turns each query and key by an angle proportional to
#   its position, so their dot product depends on `j - i`;
# - **ALiBi** adds `-m |i - j|`, a penalty growing with distance, with a
#   slope `m` per head;
# - **T5** adds a learned number per head and per (bucketed) offset.
#
# This guide draws what each does to the scores, and shows why the
# simplest ALiBi cannot tell a sentence from its mirror image. Run it with
# `python docs/guides/inside_attention.py` (seconds).

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np

import keras_posemb
from keras_posemb.layers import relative_position_buckets

keras.utils.set_random_seed(0)
length, heads, head_dim = 16, 4, 32

# %% [markdown]
# ## Rotary: the same query and key, at every position
#
# Take one query vector and one key vector and put copies of them at every
# position. Without positions every score is the same number. After
# `RotaryEmbedding` rotates them (inputs `(batch, sequence, heads,
# head_dim)`), the score of query `i` and key `j` changes with `j - i`
# only: the matrix is constant along every diagonal.

# %%
q = np.random.default_rng(0).normal(size=head_dim)
k = np.random.default_rng(1).normal(size=head_dim)
queries = np.tile(q, (1, length, 1, 1)).astype("float32")  # (1, length, 1, head_dim)
keys = np.tile(k, (1, length, 1, 1)).astype("float32")

rotary = keras_posemb.RotaryEmbedding()
rotated_q = keras.ops.convert_to_numpy(rotary(queries))[0, :, 0]
rotated_k = keras.ops.convert_to_numpy(rotary(keys))[0, :, 0]
scores = rotated_q @ rotated_k.T / np.sqrt(head_dim)

diagonals_constant = all(
    np.allclose(np.diag(scores, offset), np.diag(scores, offset)[0], atol=1e-4)
    for offset in range(-length + 1, length)
)
print("score without rotation:", round(float(q @ k / np.sqrt(head_dim)), 4))
print("rotated scores constant along each diagonal:", diagonals_constant)

plt.figure(figsize=(5, 4.2), layout="constrained")
plt.imshow(scores, cmap="RdBu")
plt.xlabel("key position j")
plt.ylabel("query position i")
plt.title("rotary: q_i . k_j,\nthe same q and k at every position")
plt.colorbar(label="score")
plt.show()

# %% [markdown]
# ## ALiBi: a penalty by distance
#
# `AlibiBias` adds its bias to scores of shape `(batch, heads, query,
# key)`. Given zeros, it returns the bias itself. Each head has its own
# slope: steep heads look at their neighbours, shallow ones far away.

# %%
alibi = keras_posemb.AlibiBias()
bias = keras.ops.convert_to_numpy(alibi(np.zeros((1, heads, length, length), "float32")))[0]
print("slopes:", keras_posemb.layers.alibi_slopes(heads))
# One colour scale for every head, so that their slopes can be compared.
slopes = keras_posemb.layers.alibi_slopes(heads)
figure, axes = plt.subplots(1, heads, figsize=(3 * heads + 1, 3.2), layout="constrained")
for head, axis in enumerate(axes):
    image = axis.imshow(bias[head], cmap="viridis", vmin=bias.min(), vmax=0)
    axis.set(title=f"head {head}: slope {slopes[head]:.3g}", xlabel="key j", ylabel="query i")
figure.colorbar(image, ax=axes, label="bias added to the score")
plt.show()

# %% [markdown]
# ## Why symmetric ALiBi cannot tell a sentence from its mirror image
#
# `-m |i - j|` says how far a key is, not on which side. Reverse a
# sentence: token `i` moves to `n - 1 - i`, and every distance
# `|i - j|` stays the same. So attention with this bias gives the reversed
# sentence exactly the reversed outputs, and a pooled sentence vector is the
# same for both. "the dog chased the cat" read backwards is
# "cat the chased dog the"; on the package's built-in data set, where the
# label says whether the animal before the verb is the larger one, such a
# model cannot do better than chance.

# %%
tokens = keras.random.normal((1, 7, 64), seed=0)  # any sentence of 7 tokens
mirror = keras.ops.flip(tokens, axis=1)


def pooled_difference(position):
    attention = keras_posemb.PositionalAttention(heads, 16, position=position)
    original = keras.ops.convert_to_numpy(attention(tokens))
    reversed_ = keras.ops.convert_to_numpy(attention(mirror))
    return np.abs(original.mean(axis=1) - reversed_.mean(axis=1)).max()


for name, position in [
    ("symmetric ALiBi", keras_posemb.AlibiBias()),
    ("ALiBi, heads split left/right", keras_posemb.AlibiBias(split_heads=True)),
    ("rotary", "rotary"),
]:
    difference = pooled_difference(position)
    print(f"{name:>30}: pooled outputs of sentence and mirror image differ by {difference:.1e}")

# %% [markdown]
# Up to float32 rounding, symmetric ALiBi gives the two orders the same
# vector. With `split_heads=True` (what the package's `"alibi"` family uses
# in encoders) half of the heads see only keys to the left and half only
# keys to the right, which gives direction back; rotary angles also have a
# sign.

# %%
alibi_split = keras_posemb.AlibiBias(split_heads=True)
bias = keras.ops.convert_to_numpy(alibi_split(np.zeros((1, heads, length, length), "float32")))[0]
masked = np.ma.masked_less(bias, -1e8)  # keys on the other side: -1e9, drawn grey
figure, axes = plt.subplots(1, heads, figsize=(3 * heads + 1, 3.2), layout="constrained")
for head, axis in enumerate(axes):
    image = axis.imshow(
        masked[head], cmap=plt.get_cmap("viridis").with_extremes(bad="lightgrey"),
        vmin=masked.min(), vmax=0,
    )  # fmt: skip
    side = "left" if head < heads // 2 else "right"
    axis.set(title=f"split head {head}: looks {side}", xlabel="key j", ylabel="query i")
figure.colorbar(image, ax=axes, label="bias added to the score")
plt.show()

# %% [markdown]
# ## T5: a learned number per offset bucket
#
# T5's `RelativePositionBias` learns one scalar per head for each bucket of
# the offset `j - i`. Small offsets get a bucket each; larger ones share
# buckets whose width grows logarithmically, up to `max_distance`, after
# which every offset is in the last bucket. Which bucket each distance
# falls into (one direction, 32 buckets split between the two):

# %%
buckets = relative_position_buckets(num_buckets=32, max_distance=128)
plt.figure(figsize=(6, 3))
plt.step(np.arange(len(buckets)), buckets, where="post")
plt.xlabel("distance |j - i|")
plt.ylabel("bucket")
plt.show()
print("distances 0-10:", buckets[:11], " 64:", buckets[64], " 128:", buckets[128])

# %% [markdown]
# The values start random (they are weights) and are learned with the
# model. Untrained, a layer's bias over offsets, per head:

# %%
t5 = keras_posemb.RelativePositionBias(num_heads=heads)
bias = keras.ops.convert_to_numpy(t5(np.zeros((1, heads, length, length), "float32")))[0]
plt.figure(figsize=(6, 3))
for head in range(heads):
    # The last query sees offsets -(length - 1) .. 0, the first one 1 .. length - 1.
    by_offset = np.concatenate([bias[head, -1], bias[head, 0, 1:]])
    plt.plot(np.arange(-length + 1, length), by_offset, label=f"head {head}")
plt.xlabel("offset j - i")
plt.ylabel("bias")
plt.legend()
plt.show()

# %% [markdown]
# In a model, each of these is one argument: `PositionalAttention(num_heads,
# key_dim, position="rotary")` (or `"alibi"`, `"t5"`, or layers you
# configure yourself), and `build_text_classifier(..., position="t5")` for
# the package's classifier.
#
# Next: [experiment: compare the encodings](experiment.py).
