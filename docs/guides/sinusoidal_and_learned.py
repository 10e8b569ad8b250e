# %% [markdown]
# # The sinusoidal formula and the learned table
#
# The two classic ways to give a transformer positions both add a vector
# to each token embedding: position `pos` gets row `pos` of a table. In
# "Attention Is All You Need" the table is a fixed formula; in BERT it is a
# weight the model learns. This guide computes the formula by hand, shows
# why it makes relative positions easy to read, and puts a learned table
# beside it.
#
# Run it with `python docs/guides/sinusoidal_and_learned.py` (about two
# minutes on a 2-core CPU; `KERAS_POSEMB_GUIDE_SMALL=1` runs it at a tiny
# size).

# %%
import os
import tempfile

import keras
import matplotlib.pyplot as plt
import numpy as np

import keras_posemb
from keras_posemb import training
from keras_posemb.analysis import plots

SMALL = os.environ.get("KERAS_POSEMB_GUIDE_SMALL") == "1"
keras.utils.set_random_seed(0)

# %% [markdown]
# ## The formula, by hand
#
# For a model of width `d`, position `pos` and channel pair `i`:
#
#     PE(pos, 2i)     = sin(pos / 10000^(2i / d))
#     PE(pos, 2i + 1) = cos(pos / 10000^(2i / d))
#
# Each pair of channels is a sine and a cosine of one frequency
# `w_i = 10000^(-2i / d)`: the first pair turns once every 2*pi (6.3)
# positions, the last one once every ~10000 * 2*pi positions. In NumPy:

# %%
length, d = 64, 32
pos = np.arange(length)[:, None]  # (length, 1)
i = np.arange(d // 2)[None, :]  # (1, d / 2)
angles = pos / 10000 ** (2 * i / d)  # (length, d / 2)
table = np.zeros((length, d))
table[:, 0::2] = np.sin(angles)
table[:, 1::2] = np.cos(angles)

# %% [markdown]
# `keras_posemb.SinusoidalEncoding` adds the same table to its input. Given
# zeros, it returns the table itself (`add_to_inputs=False` would too):

# %%
layer = keras_posemb.SinusoidalEncoding()
from_layer = keras.ops.convert_to_numpy(layer(np.zeros((1, length, d), "float32")))[0]
print(f"largest difference from the NumPy formula: {np.abs(from_layer - table).max():.1e}")

# %% [markdown]
# The table as an image: position down, channel across. Left channels
# change fast with position, right ones slowly, like the hands of a clock.

# %%
plt.figure(figsize=(6, 4))
plt.imshow(table, cmap="RdBu", aspect="auto", vmin=-1, vmax=1)
plt.xlabel("channel")
plt.ylabel("position")
plt.colorbar()
plt.title("sinusoidal position table")
plt.show()

# %% [markdown]
# ## Relative positions are a rotation
#
# For one frequency `w`, the pair `(sin(w pos), cos(w pos))` is a point on
# a circle. Moving `k` positions on turns it by the angle `w k`, whatever
# `pos` is:
#
#     sin(w (pos + k)) =  cos(w k) sin(w pos) + sin(w k) cos(w pos)
#     cos(w (pos + k)) = -sin(w k) sin(w pos) + cos(w k) cos(w pos)
#
# So one fixed matrix `M(k)`, a 2x2 rotation for every pair, maps the
# encoding of every position to the encoding `k` positions later: a linear
# map, which a layer of the model can learn, tells "k words later" at any
# place in the sentence. Check it for `k = 5`:


# %%
def rotation(k, d=d):
    m = np.zeros((d, d))
    for pair in range(d // 2):
        w = 10000 ** (-2 * pair / d)
        c, s = np.cos(w * k), np.sin(w * k)
        m[2 * pair : 2 * pair + 2, 2 * pair : 2 * pair + 2] = [[c, s], [-s, c]]
    return m


k = 5
moved = table[:-k] @ rotation(k).T  # M(k) applied to PE(pos), for every pos
print(f"largest difference of M(5) PE(pos) from PE(pos + 5): {np.abs(moved - table[k:]).max():.1e}")

# %% [markdown]
# A consequence: the dot product of two positions' vectors depends only on
# their offset, `PE(p) . PE(p + k) = sum_i cos(w_i k)`. From three starting
# positions the curves are the same curve, and it falls off with distance:
# nearby positions look alike.

# %%
offsets = np.arange(0, 40)
plt.figure(figsize=(6, 3.5))
for start in [0, 10, 20]:
    plt.plot(offsets, [table[start] @ table[start + k] for k in offsets], label=f"p = {start}")
plt.xlabel("offset k")
plt.ylabel("PE(p) . PE(p + k)")
plt.legend()
plt.show()
for start in [0, 10, 20]:
    print(start, np.round([table[start] @ table[start + k] for k in [0, 1, 5, 20]], 6))

# %% [markdown]
# ## A learned table
#
# `keras_posemb.PositionEmbedding(max_length)` holds one trainable vector
# per position, as BERT does. It knows nothing at first; training decides
# what each row means. Train the package's classifier with it on the
# built-in data set (word order decides each label), then read the table
# out of the trained model.

# %%
max_words = 12  # The built-in data set's default: sentences of 5 to 12 words.
settings = dict(max_words=max_words, max_length=32, verbose=0)
if SMALL:
    settings.update(
        order_train_size=320, epochs=2, batch_size=32, embed_dim=16, num_heads=2, ff_dim=32,
        num_layers=1, plots=False,
    )  # fmt: skip
# Removed when the guide ends (the folder object is gone).
workspace = tempfile.TemporaryDirectory(prefix="learned_table_")
run_dir = workspace.name
metrics = training.train(training.TrainConfig(position="learned", output_dir=run_dir, **settings))
print(f"test accuracy with a learned table: {metrics['test_accuracy']:.3f}")

model = keras.saving.load_model(os.path.join(run_dir, "model.keras"))
family, learned = plots.position_table(model)
print(family, learned.shape)

# %% [markdown]
# The table has `max_length = 32` rows, but no training sentence is longer
# than `max_words` words: the rows after that were never used, so they kept
# their random initial values (the dashed line). A learned table cannot
# say anything about positions it never saw; the formula can.

# %%
width = learned.shape[1]
sinusoidal = keras.ops.convert_to_numpy(
    keras_posemb.SinusoidalEncoding()(np.zeros((1, learned.shape[0], width), "float32"))
)[0]
figure, axes = plt.subplots(1, 2, figsize=(10, 4))
for axis, (title, values) in zip(axes, [("learned", learned), ("sinusoidal", sinusoidal)]):
    limit = np.abs(values).max()
    axis.imshow(values, cmap="RdBu", aspect="auto", vmin=-limit, vmax=limit)
    axis.set(title=f"{title} table", xlabel="channel", ylabel="position")
axes[0].axhline(max_words - 0.5, color="black", linestyle="--")
plt.show()

# %% [markdown]
# The cosine similarity between the trained rows shows what the model made
# of the positions. Nothing told it that position 3 is next to position 4,
# yet a trained table usually has a bright band along the diagonal
# (neighbours alike) and dark corners (distant positions unlike): it learned
# an order, from the task alone. The sinusoidal table has that structure by
# construction (its 64 channels include many slow ones, so every pair of
# positions is fairly alike).


# %%
def cosine_similarity(rows):
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return unit @ unit.T


figure, axes = plt.subplots(1, 2, figsize=(10, 4))
for axis, (title, values) in zip(axes, [("learned", learned), ("sinusoidal", sinusoidal)]):
    axis.imshow(cosine_similarity(values[:max_words]), cmap="viridis", vmin=-1, vmax=1)
    axis.set(title=f"{title}: cosine similarity", xlabel="position", ylabel="position")
plt.show()
similarity = cosine_similarity(learned[:max_words])
print(
    f"learned table, mean similarity of neighbours: {np.diag(similarity, 1).mean():.2f}, "
    f"of positions 8 apart: {np.diag(similarity, 8).mean():.2f}"
)

# %% [markdown]
# Next: [inside attention: rotary, ALiBi and T5](inside_attention.py).
