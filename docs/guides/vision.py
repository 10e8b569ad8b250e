# %% [markdown]
# # Vision: positions on a grid of patches
#
# A Vision Transformer cuts an image into square patches and reads them as a
# sequence of tokens. Attention alone sees that sequence as a bag: shuffle
# the patches and the outputs shuffle with them. So an image model needs
# positions too, and on a grid there are two coordinates, the row and the
# column. This guide shows the problem on the package's built-in images,
# builds the 2-D encodings, trains a small model, draws the picture of the
# ViT paper's figure 7, and then asks the question ViT users ask most: what
# happens when the image size changes?
#
# At the guide's size this takes about a minute on a 2-core CPU;
# `KERAS_POSEMB_GUIDE_SMALL=1` runs it at a tiny size.

# %%
import os
import tempfile

import keras
import matplotlib.pyplot as plt
import numpy as np

import keras_posemb
from keras_posemb import families
from keras_posemb.analysis import viz
from keras_posemb.data import images
from keras_posemb.models import build_image_classifier, resize_image_classifier
from keras_posemb.numerics.resample import resample_table
from keras_posemb.runs.run import Run
from keras_posemb.training.images import ImageTrainConfig, train_images

SMALL = os.environ.get("KERAS_POSEMB_GUIDE_SMALL") == "1"
keras.utils.set_random_seed(0)

# %% [markdown]
# ## An image and its mirror image
#
# Each built-in image holds a square and a cross; the label says whether the
# square is left of the cross. Every image comes with its mirror image, which
# has the other label. Both shapes are symmetric and sit in the middle of
# 8-pixel cells, so cut into 4 x 4 patches the two images are made of exactly
# the same patches, only in other places.

# %%
data = images.shapes_data(seed=0, scale=0.05 if SMALL else 1.0)
pair, pair_labels = data.test.images[:2], data.test.labels[:2]


def patch_bag(image, size=4):
    """The image's patches, sorted: its content without their places."""
    side = image.shape[0] // size
    grid = image[..., 0].reshape(side, size, side, size).transpose(0, 2, 1, 3)
    return sorted(patch.tobytes() for patch in grid.reshape(-1, size, size))


print("same bag of patches:", patch_bag(pair[0]) == patch_bag(pair[1]))
figure, axes = plt.subplots(1, 2, figsize=(6, 3))
for ax, image, label in zip(axes, pair, pair_labels):
    ax.imshow(image[..., 0], cmap="gray")
    ax.set(title=data.class_names[label], xticks=[], yticks=[])
plt.show()

# %% [markdown]
# ## Without positions, a transformer cannot tell them apart
#
# `build_image_classifier` makes a small ViT: patches embedded by a strided
# convolution, a class token first, encoder blocks, a softmax. With
# `position="none"` the two images give the same output whatever the
# weights (here untrained ones), so no training can do better than 50%.
# With a learned 2-D table added to the patches, they differ.

# %%
for position in ("none", "learned_2d"):
    model = build_image_classifier(
        32,
        4,
        2,
        position=position,
        channels=1,
        embed_dim=32,
        num_heads=2,
        ff_dim=32,
        num_layers=1,
    )
    outputs = model.predict(pair, verbose=0)
    print(f"{position}: outputs of image and mirror image differ by "
          f"{np.abs(outputs[0] - outputs[1]).max():.2e}")  # fmt: skip

# %% [markdown]
# ## Rows and columns: the 2-D sine-cosine table
#
# The fixed 2-D encoding of MAE (He et al. 2022) spends half of the channels
# on the row and half on the column, each half the 1-D sinusoidal encoding
# of "Attention Is All You Need" at half the width (by default each half
# has all its sines first, then its cosines, as in timm: the 1-D layer's
# `layout="concatenated"`). Check it against the 1-D layer, then draw ViT's
# figure 7: one small image per patch, showing the
# cosine similarity of that patch's position vector to every other patch's.
# Near patches are similar, and so are patches in the same row or column.

# %%
rows = cols = 8
width = 64
table = keras.ops.convert_to_numpy(
    keras_posemb.SinusoidalEncoding2D()(np.zeros((1, rows, cols, width), "float32"))
)[0]
one_d = keras.ops.convert_to_numpy(
    keras_posemb.SinusoidalEncoding(layout="concatenated")(
        np.zeros((1, rows, width // 2), "float32")
    )
)[0]
row_half = np.abs(table[:, :, : width // 2] - one_d[:, None, :]).max()
col_half = np.abs(table[:, :, width // 2 :] - one_d[None, :, :]).max()
print("largest difference from the 1-D encoding of row and column:", max(row_half, col_half))
viz.plot_grid_similarity(table, "sinusoidal_2d")

# %% [markdown]
# ## Train a model with a learned grid table
#
# `train_images` is what `keras-posemb-train-images` runs: the same run
# directory, resume and TensorBoard logs as the text trainer. The learned
# table (`learned_2d`, ViT's choice) starts as random noise; after training,
# figure 7 shows that the model has discovered the grid by itself.

# %%
settings = dict(epochs=3)
if SMALL:
    settings = dict(patch_size=8, embed_dim=16, num_heads=2, ff_dim=16, num_layers=1, epochs=1)
# Removed when the guide ends (the folder object is gone).
workspace = tempfile.TemporaryDirectory(prefix="vit_")
run_dir = workspace.name
config = ImageTrainConfig(output_dir=run_dir, position="learned_2d", plots=False, verbose=0,
                          **settings)  # fmt: skip
metrics = train_images(config)
print(f"test accuracy {metrics['test_accuracy']:.3f} after {config.epochs} epochs")
for twin, name in zip(metrics["twin_pair"], ("image", "mirror image")):
    print(f"{name}: label {twin['label']!r}, predicted {twin['predicted']['class']!r} "
          f"({twin['predicted']['probability']:.3f})")  # fmt: skip

model = Run(run_dir).load_model()
family, learned = families.find_position(model)
viz.plot_grid_similarity(learned.resampled_table(learned.grid_size), "learned_2d, trained")

# %% [markdown]
# ## Another image size
#
# A model trained on 32-pixel images meets 48- or 64-pixel ones: more patches
# per side. The learned table has one vector per trained patch, so it is
# resampled to the new grid (bicubic, antialiased when shrinking, as timm's
# `resample_abs_pos_embed` does); `resize_image_classifier` makes the model
# again for another size with every weight copied. Two kinds of test images:
# the same scenes **rescaled** (the shapes grow with the image, so every
# patch shows something it never saw in training), and new scenes on a
# **larger canvas** (the shapes keep their size, only the grid of patches
# grows, so only the positions are new).


# %%
def rescaled(split_images, size):
    """Images at `size` x `size` (bilinear, antialiased)."""
    stacked = split_images[..., 0].transpose(1, 2, 0)  # (rows, cols, images)
    resized = resample_table(stacked, (size, size), "linear").transpose(2, 0, 1)[..., None]
    return resized.astype("float32")


def accuracy(model, split_images, labels):
    predicted = model.predict(split_images, batch_size=256, verbose=0)
    return np.mean(np.argmax(predicted, axis=1) == labels)


test = data.test
for size in [size for size in (16, 24, 32, 48, 64) if size % config.patch_size == 0]:
    resized = resize_image_classifier(model, size, interpolation="bicubic")
    canvas = images.shapes_data(seed=0, image_size=size, scale=0.05 if SMALL else 1.0).test
    grid = resized.grid_size
    print(f"{size:3d} px, {grid[0]} x {grid[1]} patches: accuracy "
          f"{accuracy(resized, rescaled(test.images, size), test.labels):.3f} rescaled, "
          f"{accuracy(resized, canvas.images, canvas.labels):.3f} larger canvas")  # fmt: skip

# %% [markdown]
# The rescaled images fall to chance at every other size: the patch
# embedding learned one size of square and cross, and a shape twice as
# large is a new object to it, whatever the positions say. On the larger
# canvas the resampled table keeps much more: resampling keeps rows in
# order and columns in order, and "left of" needs no more than that. The
# resolution study in docs/vision.md (`benchmarks/resolution_study.py`) asks the
# same of every 2-D family and the 1-D baselines, with three seeds.
#
# ## Rotary positions on a grid
#
# Rotary embeddings (`rotary_2d`) put positions inside attention instead:
# each head's queries and keys turn, half of their channel pairs by the row,
# half by the column (Heo et al. 2024). The score of a query at one patch
# and a key at another then depends only on how far apart the two patches
# are, in rows and in columns, not on where they are. Check it: the same
# query and key vectors at every patch, rotated; scores of patch pairs with
# the same offset must be equal.

# %%
rotary = keras_posemb.RotaryEmbedding2D(grid_size=(rows, cols))
rng = np.random.default_rng(0)
query, key = rng.normal(size=(2, 16)).astype("float32")
queries = keras.ops.convert_to_numpy(rotary(np.tile(query, (1, rows * cols, 1))))[0]
keys = keras.ops.convert_to_numpy(rotary(np.tile(key, (1, rows * cols, 1))))[0]
scores = queries @ keys.T  # (query patch, key patch)
places = [(r, c) for r in range(rows) for c in range(cols)]
by_offset = {}
for i, (r1, c1) in enumerate(places):
    for j, (r2, c2) in enumerate(places):
        by_offset.setdefault((r2 - r1, c2 - c1), []).append(scores[i, j])
spread = max(np.ptp(values) for values in by_offset.values())
print(f"{len(by_offset)} offsets; largest spread of scores with the same offset: {spread:.2e}")
# Each pair's angle one row down (patch (1, 0)) and one column right (patch (0, 1)).
angles = rotary.axial_angles()
viz.plot_grid_rotary(angles[cols], angles[1], "rotary_2d: radians per row and per column")

# %% [markdown]
# With `rotary_mixed` (Heo et al.'s RoPE-Mixed) the frequencies are
# learned, and a pair may turn along a diagonal. Train one with
# `keras-posemb-train-images --position rotary_mixed`; its frequencies are
# drawn per epoch in TensorBoard.
#
# ## What to try next
#
# - `keras-posemb-train-images --position P` for every family (docs/vision.md
#   has the accuracies), and `--task above` for the vertical question.
# - `--dataset cifar10 --download` for real photographs.
