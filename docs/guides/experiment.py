# %% [markdown]
# # Experiment: compare the encodings, and go past the training length
#
# The earlier guides showed what each encoding is. This one asks which
# works, with numbers: train the package's classifier once per encoding on
# the built-in data set (word order decides every label), compare test
# accuracy, then test each model on sentences longer than any it saw in
# training. Press et al. ("Train Short, Test Long", 2022) asked the second
# question of language models; here it is asked of a small classifier.
#
# At the guide's size this takes about 6 minutes on a 2-core CPU (one
# seed per encoding, short sentences); `KERAS_POSEMB_GUIDE_SMALL=1` runs it at a
# tiny size, and the last cell says how to run the full study.

# %%
import os
import tempfile

import keras

from keras_posemb import families, training
from keras_posemb.training import compare as experiments

SMALL = os.environ.get("KERAS_POSEMB_GUIDE_SMALL") == "1"
keras.utils.set_random_seed(0)
# The six classic families; `families.names()` lists every registered one
# (KERPLE and FIRE too), which `compare_encodings` compares by default.
ENCODINGS = ("sinusoidal", "learned", "rotary", "alibi", "t5", "none")
print("compared:", ", ".join(ENCODINGS))
print("registered:", ", ".join(families.names()))

# %% [markdown]
# ## One config for every run
#
# Every run shares a `TrainConfig`; only the encoding (and the seed)
# changes. Sentences have at most `max_words` words in training, and the
# learned table has `max_length` rows: enough for the training sentences,
# but not for the longer ones tested later.

# %%
settings = dict(max_words=16, max_length=32, verbose=0)
if SMALL:
    settings.update(
        max_words=8, max_length=16, order_train_size=320, epochs=2, batch_size=32, embed_dim=16,
        num_heads=2, ff_dim=32, num_layers=1, plots=False,
    )  # fmt: skip
# Removed when the guide ends (the folder object is gone).
workspace = tempfile.TemporaryDirectory(prefix="compare_")
comparison_dir = workspace.name
config = training.TrainConfig(output_dir=comparison_dir, **settings)
print(f"training sentences: 5 to {config.max_words} words; results in {comparison_dir}")

# %% [markdown]
# `experiments.compare_encodings` trains one run per encoding and seed into
# the comparison folder, then evaluates each trained model on sentence
# lengths in bands: up to the training length, then up to 1.5x, 2x, 4x and
# 8x of it (fresh sentences each).

# %%
results = experiments.compare_encodings(config, seeds=1, positions=ENCODINGS)
print(experiments.markdown_table(results))

# %% [markdown]
# What to look for:
#
# - **none** stays at chance: without positions the model cannot tell a
#   sentence from its mirror image (guide 1).
# - The others learn the task at the training lengths.
# - Past the training length the **learned** table has rows that were
#   never trained (up to its 32 rows), then none: the model refuses those
#   sentences (`PositionRangeError`, "error" in the table) instead of
#   inventing positions.
# - The **sinusoidal** formula gives every position a vector, but vectors
#   the model never saw: accuracy falls fast past the training length, and
#   can even fall below chance (the model is then consistently wrong).
# - The relative encodings (rotary, ALiBi, T5) only see offsets, many of
#   which were seen in training. ALiBi, whose penalty simply keeps growing
#   with distance, degrades least, as Press et al. found for language
#   models.
#
# At this size, with one seed, numbers move by several points from run to
# run (the learned table is the most sensitive to the seed); the full study
# below uses three seeds and reports the spread.
# `write_results` writes the table, the raw numbers and two plots into the
# comparison folder:

# %%
written = experiments.write_results(results, comparison_dir)
print(written)
experiments.plot_comparison(results)

# %%
experiments.plot_extrapolation(results)

# %% [markdown]
# ## The full study
#
# The numbers in docs/results.md come from the command-line front end of the same
# function, three seeds per encoding at the default size (tens of minutes
# on a 2-core CPU):
#
#     keras-posemb-compare --output-dir runs/compare
#
# and `tensorboard --logdir runs/compare` shows every run's training
# curves and position vectors side by side. Change one setting to ask
# another question: `--max-words 32` (longer training sentences), `--seeds
# 5`, `--positions rotary,alibi`, or a data set of your own with
# `--dataset path/to/train.tsv` (there, word order may matter less, and the
# encodings come closer together).
