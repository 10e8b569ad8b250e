# %% [markdown]
# # Why position matters
#
# Attention compares every token with every other token, and nothing in
# that comparison says where a token stands. This guide shows what that
# means: two sentences with the same words in another order look the same
# to attention without positions, and a classifier that must tell them apart
# cannot learn to, until the tokens carry their positions.
#
# Run it with `python docs/guides/why_position_matters.py` (about two
# minutes on a 2-core CPU; `KERAS_POSEMB_GUIDE_SMALL=1` runs it at a tiny size in
# seconds). It uses the public API of `keras_posemb` only.

# %%
import os
import tempfile

import keras
import numpy as np

import keras_posemb
from keras_posemb import training
from keras_posemb.runs.predict import predict_run

SMALL = os.environ.get("KERAS_POSEMB_GUIDE_SMALL") == "1"
keras.utils.set_random_seed(0)
print("Keras", keras.__version__, "on", keras.backend.backend())

# %% [markdown]
# ## Two sentences, one bag of words
#
# "the dog chased the cat" and "the cat chased the dog" have the same
# words, so their token ids are a permutation of each other.

# %%
vocabulary = ["[padding]", "the", "dog", "chased", "cat"]
word_id = {word: i for i, word in enumerate(vocabulary)}
sentences = ["the dog chased the cat", "the cat chased the dog"]
ids = np.array([[word_id[word] for word in sentence.split()] for sentence in sentences])
print(ids)

# %% [markdown]
# Embed the tokens and send them through one self-attention layer, without
# any position information (`position="none"`). Each output row belongs to
# one token; put the second sentence's rows in the first sentence's word
# order (its "cat" at index 1, its "dog" at index 4) and compare.

# %%
embedding = keras.layers.Embedding(len(vocabulary), 16)
attention = keras_posemb.PositionalAttention(num_heads=2, key_dim=8, position="none")
outputs = keras.ops.convert_to_numpy(attention(embedding(ids)))

same_word_order = [0, 4, 2, 3, 1]  # where each word of sentence 1 is in sentence 2
difference = np.abs(outputs[0] - outputs[1][same_word_order]).max()
print(f"largest difference between the two sentences' outputs: {difference:.1e}")

# %% [markdown]
# Every token gets the same output in both sentences: "dog" attends to the
# same set of words whether it is the subject or the object. The difference
# is not exactly zero only because each weighted sum adds the same numbers in
# another order, and float32 addition rounds differently in another order
# (about one unit in the last place, ~1e-8 here). Any pooling over the
# sentence (mean, max) then gives both sentences the same vector, and no
# classifier on top can separate them.
#
# Now add the sinusoidal position encoding to the embeddings first: each
# token's vector now also says where it is.

# %%
encode_positions = keras_posemb.SinusoidalEncoding()
outputs = keras.ops.convert_to_numpy(attention(encode_positions(embedding(ids))))
difference = np.abs(outputs[0] - outputs[1][same_word_order]).max()
print(f"with positions, the largest difference: {difference:.1e}")
pooled = outputs.mean(axis=1)
print(f"difference of the mean-pooled vectors: {np.abs(pooled[0] - pooled[1]).max():.1e}")

# %% [markdown]
# ## Training a classifier both ways
#
# The package's built-in data set (`"order"`) is made for this: sentences
# such as "the dog chased the cat" are labelled by whether the animal that
# acts (the dog) is the larger of the two, and every sentence comes with
# its mirror image, the same words with the animals swapped and the other
# label. Which words occur says nothing; only their order does.
#
# `training.train` trains the package's transformer encoder classifier and
# writes a run directory (the model, its vocabulary, metrics, TensorBoard
# logs). Train it once without positions and once with the sinusoidal
# encoding, everything else equal.

# %%
settings = dict(verbose=0)
if SMALL:  # Short sentences and a small model, which still learn the order.
    settings.update(
        order_train_size=1000, max_words=6, epochs=4, batch_size=32, embed_dim=32,
        num_heads=2, ff_dim=64, num_layers=1, plots=False,
    )  # fmt: skip
# Removed when the guide ends (the folder object is gone).
workspace = tempfile.TemporaryDirectory(prefix="why_position_")
runs = workspace.name
print("run directories in", runs)
metrics = {}
for position in ["none", "sinusoidal"]:
    config = training.TrainConfig(
        position=position, output_dir=os.path.join(runs, position), **settings
    )
    metrics[position] = training.train(config)
    print(f"{position:>10}: test accuracy {metrics[position]['test_accuracy']:.3f}")

# %% [markdown]
# Without positions the model is at chance (50%): it sees each sentence and
# its mirror image as the same input with two labels. With positions it
# classifies almost every test sentence correctly.
#
# The lesson's pair, through both models:

# %%
for position in ["none", "sinusoidal"]:
    print(position)
    for prediction in predict_run(os.path.join(runs, position), sentences):
        label, probability = prediction.classes[0]
        print(f"  {prediction.text!r:28} -> {label} ({probability:.3f})")

# %% [markdown]
# Without positions the two sentences get the same answer (to rounding).
# With positions they get opposite labels.
#
# Next: [the sinusoidal formula and the learned table](sinusoidal_and_learned.py).
