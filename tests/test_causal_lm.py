"""Cached decoding: attention over a key/value cache, the causal decoder, generation.

The reference of every cached result is one full causal pass over the whole
sequence (itself checked against float64 NumPy attention in
test_positional_attention.py): token by token, or a prompt prefilled then
extended, the cache must give the same outputs to float32 tolerance.
"""

import keras
import numpy as np
import pytest
from layer_contract import run_layer_test
from reference import compiled, to_numpy

from keras_posemb import PositionalAttention, PositionRangeError, families
from keras_posemb.modeling import DecoderBlock
from keras_posemb.models import CausalLM, build_causal_lm, with_attention_blocks
from keras_posemb.numerics.sampling import sample_next

pytestmark = pytest.mark.all_backends
ATTENTION_FAMILIES = [
    f for f, v in families.families().items() if v.where != "embeddings" and not v.grid
]
FAMILIES = list(families.names())
HEADS, KEY_DIM, LENGTH, CACHE = 2, 4, 7, 9
# Chunks of one sequence: token by token, and a prompt of 4 then 1 then 2.
SPLITS = {"token by token": [1] * LENGTH, "prefill then extend": [4, 1, 2]}


def _chunks(split):
    start = 0
    for size in split:
        yield start, start + size
        start += size


def cached_outputs(call, cache, inputs, split):
    """`inputs` fed to `call(chunk, cache, index) -> (outputs, cache)` chunk by chunk."""
    outputs = []
    for start, end in _chunks(split):
        index = keras.ops.convert_to_tensor(np.int32(start))
        out, cache = call(inputs[:, start:end], cache, index)
        outputs.append(to_numpy(out))
    return np.concatenate(outputs, axis=1)


@pytest.mark.parametrize("split", SPLITS.values(), ids=SPLITS)
@pytest.mark.parametrize("family", ATTENTION_FAMILIES)
def test_cached_attention_equals_one_causal_pass(family, split):
    x = np.random.default_rng(0).normal(size=(2, LENGTH, 6)).astype("float32")
    layer = PositionalAttention(HEADS, KEY_DIM, family, bidirectional=False)
    full = to_numpy(layer(x))

    def call(chunk, cache, index):
        return layer(chunk, cache=cache, cache_update_index=index)

    # torch.compile takes about 30 s per case here; rotary token by token
    # covers the traced index (rotation, cache write, mask) on PyTorch.
    token_by_token = len(split) == LENGTH
    compile_too = keras.backend.backend() != "torch" or (family == "rotary" and token_by_token)
    paths = [("eager", call), ("compiled", compiled(call))][: 2 if compile_too else 1]
    for path, function in paths:
        got = cached_outputs(function, layer.empty_cache(2, CACHE), x, split)
        np.testing.assert_allclose(got, full, atol=2e-6, err_msg=f"{family}, {path}")


@pytest.mark.parametrize("family", ["none", "rotary", "alibi", "t5"])
def test_cached_blockwise_attention_equals_one_causal_pass(family):
    """Blocks of 2 over a cache of 9: the cache's empty slots are masked too."""
    x = np.random.default_rng(1).normal(size=(2, LENGTH, 6)).astype("float32")
    layer = PositionalAttention(HEADS, KEY_DIM, family, bidirectional=False, fused=False)
    full = to_numpy(layer(x))
    layer.attention_block_size = 2

    def call(chunk, cache, index):
        return layer(chunk, cache=cache, cache_update_index=index)

    # torch.compile: rotary alone, as above.
    compile_too = keras.backend.backend() != "torch" or family == "rotary"
    for function in [call, compiled(call)][: 2 if compile_too else 1]:
        got = cached_outputs(
            function, layer.empty_cache(2, CACHE), x, SPLITS["prefill then extend"]
        )
        np.testing.assert_allclose(got, full, atol=2e-6, err_msg=family)


def test_the_cache_holds_the_keys_and_values_at_their_positions():
    x = np.random.default_rng(1).normal(size=(1, 3, 6)).astype("float32")
    layer = PositionalAttention(HEADS, KEY_DIM, "rotary", bidirectional=False)
    _, cache = layer(x, cache=layer.empty_cache(1, 5), cache_update_index=1)
    cache = to_numpy(cache)
    value = np.einsum("btf,fhd->bthd", x, to_numpy(layer.value_dense.kernel))
    value += to_numpy(layer.value_dense.bias)
    np.testing.assert_allclose(cache[0, 1, 1:4], value[0], atol=1e-6)
    assert not cache[:, :, [0, 4]].any()  # Untouched positions stay zero.


def test_cached_attention_refuses_what_it_cannot_honour():
    x = np.zeros((2, 3, 6), "float32")
    causal = PositionalAttention(HEADS, KEY_DIM, "alibi", bidirectional=False)
    cache = causal.empty_cache(2, 4)
    with pytest.raises(PositionRangeError, match=r"must lie in \[0, 4\).*positions 2 \.\. 4"):
        causal(x, cache=cache, cache_update_index=2)
    with pytest.raises(ValueError, match=r"`cache` needs `cache_update_index` too"):
        causal(x, cache=cache)
    with pytest.raises(ValueError, match=r"`padding_mask` cannot be combined with `cache`"):
        causal(x, cache=cache, cache_update_index=0, padding_mask=np.ones((2, 3), bool))
    with pytest.raises(ValueError, match=r"cache_update_index.*received cache_update_index=1.5"):
        causal(x, cache=cache, cache_update_index=1.5)
    with pytest.raises(ValueError, match=r"\(2, 2, None, 2, 4\).*cache.shape=\(2, 2, 4, 3, 4\)"):
        causal(x, cache=np.zeros((2, 2, 4, 3, 4), "float32"), cache_update_index=0)
    encoder = PositionalAttention(HEADS, KEY_DIM, "rotary")
    with pytest.raises(ValueError, match=r"bidirectional=True"):
        encoder(x, cache=encoder.empty_cache(2, 4), cache_update_index=0)


def streamed(sequence, sinks, window):
    """StreamingLLM's view of the last token of `sequence` (axis 1): the first
    `sinks` tokens and the last `window`, as one sequence at positions 0 .."""
    if sequence.shape[1] <= sinks + window:
        return sequence
    return np.concatenate([sequence[:, :sinks], sequence[:, -window:]], axis=1)


@pytest.mark.parametrize("family", ATTENTION_FAMILIES)
def test_a_rolling_cache_attends_to_the_sinks_and_the_last_tokens(family):
    """A cache of 2 sinks + a window of 3 over 9 tokens, a prefill of 4 then
    one token at a time: each output is the last output of one pass over
    the first 2 and the last 3 tokens, positioned 0 .. 4 (the reference
    holds for one layer: keys and values depend on the token alone)."""
    x = np.random.default_rng(2).normal(size=(2, 9, 6)).astype("float32")
    layer = PositionalAttention(HEADS, KEY_DIM, family, bidirectional=False)
    want = np.concatenate(
        [to_numpy(layer(streamed(x[:, : t + 1], 2, 3)))[:, -1:] for t in range(9)], axis=1
    )

    def call(chunk, cache, index):
        return layer(chunk, cache=cache, cache_update_index=index, cache_sinks=2)

    compile_too = keras.backend.backend() != "torch" or family == "rotary"
    for function in [call, compiled(call)][: 2 if compile_too else 1]:
        got = cached_outputs(function, layer.empty_cache(2, 5), x, [4] + [1] * 5)
        np.testing.assert_allclose(got, want, atol=2e-6, err_msg=family)


def test_a_rolling_cache_refuses_what_it_cannot_honour():
    x = np.zeros((1, 2, 6), "float32")
    layer = PositionalAttention(HEADS, KEY_DIM, "rotary", bidirectional=False)
    cache = layer.empty_cache(1, 4)
    with pytest.raises(
        ValueError, match=r"`cache_sinks` must be less than the cache's length 4.*cache_sinks=4"
    ):
        layer(x, cache=cache, cache_update_index=0, cache_sinks=4)
    with pytest.raises(
        ValueError, match=r"`cache_sinks` must be an int >= 0; received cache_sinks=-1"
    ):
        layer(x, cache=cache, cache_update_index=0, cache_sinks=-1)
    with pytest.raises(PositionRangeError, match=r"more than one token.*positions 3 \.\. 4"):
        layer(x, cache=cache, cache_update_index=3, cache_sinks=1)
    with pytest.raises(ValueError, match=r"`cache_sinks` is for a `cache`"):
        layer(x, cache_sinks=1)


def test_a_compiled_cache_overflow_is_nan_not_a_clamped_write():
    """Inside a compiled step the index is a tensor: nothing can raise on JAX
    or XLA, and dynamic_update_slice would clamp the write to the end."""
    layer = PositionalAttention(HEADS, KEY_DIM, "none", bidirectional=False)
    x = np.ones((1, 2, 6), "float32")
    layer(x)  # Built eagerly: torch.compile cannot build layers.

    def call(chunk, cache, index):
        return layer(chunk, cache=cache, cache_update_index=index)[0]

    step = compiled(call)
    assert np.isfinite(to_numpy(step(x, layer.empty_cache(1, 4), keras.ops.convert_to_tensor(2)))).all()  # fmt: skip
    try:
        out = to_numpy(step(x, layer.empty_cache(1, 4), keras.ops.convert_to_tensor(3)))
    except Exception as error:  # TensorFlow's graph assertion.
        assert "must lie in [0, 4)" in str(error)
    else:
        assert np.isnan(out).all()


def test_the_decoder_block_meets_the_layer_contract(tmp_path):
    x = np.random.default_rng(2).normal(size=(2, 5, 8)).astype("float32")
    run_layer_test(
        lambda: DecoderBlock(num_heads=2, ff_dim=16, position="t5", dropout=0.1),
        x, tmp_path=tmp_path, mixed_tolerance={"mixed_bfloat16": 0.1},
    )  # fmt: skip


def _tiny_lm(family, max_length=16):
    return build_causal_lm(11, max_length, family, embed_dim=16, num_heads=2, num_layers=2)


TOKENS = np.random.default_rng(3).integers(0, 11, size=(2, LENGTH)).astype("int32")


@pytest.mark.parametrize("family", FAMILIES)
def test_the_causal_lm_decodes_with_its_cache_as_in_one_pass(family, tmp_path):
    model = _tiny_lm(family)
    full = to_numpy(model(TOKENS))
    # Causal: a later token changes no earlier logits.
    changed = TOKENS.copy()
    changed[:, 4:] = (changed[:, 4:] + 1) % 11
    np.testing.assert_array_equal(to_numpy(model(changed))[:, :4], full[:, :4])
    for split in SPLITS.values():
        got = cached_outputs(model.call_with_cache, model.empty_cache(2, CACHE), TOKENS, split)
        np.testing.assert_allclose(got, full, atol=2e-5, err_msg=family)
    model.save(tmp_path / "lm.keras")
    loaded = keras.saving.load_model(tmp_path / "lm.keras", safe_mode=True)
    assert isinstance(loaded, CausalLM)
    np.testing.assert_array_equal(to_numpy(loaded(TOKENS)), full)


@pytest.mark.parametrize("family", ["t5", "rotary"])
def test_a_trained_causal_lm_reloads_with_its_optimizer(family, tmp_path):
    """A T5 table is a layer the builder hands to each block: the reloaded
    block must track it in the same order, or the optimizer's slots are
    assigned to the wrong variables (a shape error on loading)."""
    model = _tiny_lm(family)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.AdamW(1e-3), loss)
    model.fit(TOKENS, TOKENS, verbose=0)
    model.save(tmp_path / "lm.keras")
    loaded = keras.saving.load_model(tmp_path / "lm.keras")
    shapes = [[tuple(v.shape) for v in m.trainable_variables] for m in (loaded, model)]
    assert shapes[0] == shapes[1]
    for got, want in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(to_numpy(got), to_numpy(want))
    np.testing.assert_array_equal(to_numpy(loaded(TOKENS)), to_numpy(model(TOKENS)))


@pytest.mark.parametrize("family", ["none", "rotary", "alibi", "t5", "learned"])
def test_a_sliding_window_hides_the_tokens_before_it(family, tmp_path):
    """One block with a window of 3: the logits at position t see tokens
    t-2 .. t alone, so changing token 1 changes positions 1 to 3 and no
    other; the window is saved with the model."""
    model = build_causal_lm(11, 16, family, embed_dim=16, num_heads=2, num_layers=1,
                            sliding_window=3)  # fmt: skip
    full = to_numpy(model(TOKENS))
    changed = TOKENS.copy()
    changed[:, 1] = (changed[:, 1] + 1) % 11
    moved = np.abs(to_numpy(model(changed)) - full).max(axis=(0, 2)) > 0
    np.testing.assert_array_equal(moved, [False, True, True, True, False, False, False])
    model.save(tmp_path / "lm.keras")
    loaded = keras.saving.load_model(tmp_path / "lm.keras", safe_mode=True)
    np.testing.assert_array_equal(to_numpy(loaded(changed)), to_numpy(model(changed)))


@pytest.mark.parametrize("family", ["rotary", "t5"])
def test_a_copy_with_attention_blocks_gives_the_same_logits(family):
    model = _tiny_lm(family)
    blocked = with_attention_blocks(model, 3)
    blocks = [layer for layer in blocked.layers if isinstance(layer, DecoderBlock)]
    assert [block.attention.attention_block_size for block in blocks] == [3, 3]
    np.testing.assert_allclose(to_numpy(blocked(TOKENS)), to_numpy(model(TOKENS)), atol=2e-5)
    with pytest.raises(ValueError, match="attention_block_size=0"):
        with_attention_blocks(model, 0)


@pytest.mark.parametrize("family", list(families.ROTARY_EXTENSIONS))
def test_rope_extension_families_run_in_every_execution_path(family):
    """Lengths below and beyond max_length through predict (TensorFlow traces
    it for any length after two), compiled or not, evaluate, fit and
    generate: every path gives the eager logits, or trains and generates."""
    model = _tiny_lm(family, max_length=8)
    rng = np.random.default_rng(4)
    batches = [rng.integers(0, 11, size=(2, n)).astype("int32") for n in (5, 20, 33)]
    eager = [to_numpy(model(ids)) for ids in batches]
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    # TensorFlow's graphs with and without XLA; JAX compiles, PyTorch runs eagerly.
    for jit_compile in (False, True) if keras.backend.backend() == "tensorflow" else ("auto",):
        model.compile(optimizer="sgd", loss=loss, jit_compile=jit_compile)
        for ids, want in zip(batches, eager):
            got = to_numpy(model.predict_on_batch(ids))
            np.testing.assert_allclose(got, want, atol=2e-5, err_msg=f"{family} {ids.shape}")
    longest = batches[-1]
    assert np.isfinite(model.evaluate(longest[:, :-1], longest[:, 1:], verbose=0))
    assert np.isfinite(model.fit(longest[:, :-1], longest[:, 1:], verbose=0).history["loss"][0])
    generated = model.generate(batches[0][:, :3], max_new_tokens=12)
    assert generated.shape == (2, 15) and generated.min() >= 0 and generated.max() < 11


def greedy_by_recomputation(model, prompt, steps):
    """Greedy decoding the slow way: a full causal pass per token over the
    prefix, zero-filled to the final length so that every pass has one shape
    (eager JAX compiles each operation anew for each new shape); the logits
    at the prefix's last token cannot see the zeros after it."""
    batch, length = prompt.shape
    ids = np.zeros((batch, length + steps), "int32")
    ids[:, :length] = prompt
    for end in range(length, length + steps):
        ids[:, end] = to_numpy(model(ids))[:, end - 1].argmax(-1)
    return ids


@pytest.mark.parametrize("family", ["learned", "alibi"])
def test_greedy_generation_equals_recomputing_the_prefix(family):
    model = _tiny_lm(family)
    got = model.generate(TOKENS[:, :3], max_new_tokens=6)
    np.testing.assert_array_equal(got, greedy_by_recomputation(model, TOKENS[:, :3], 6))
    np.testing.assert_array_equal(model.generate(TOKENS[:, :3], 6), got)
    np.testing.assert_array_equal(model.generate(TOKENS[:, :3], 0), TOKENS[:, :3])
    # Sampled: one trace for the prompt, one for the step, whatever the
    # number of tokens; greedy: one for the whole loop.
    again = model.generate(TOKENS[:, :3], max_new_tokens=6, temperature=1.0, seed=5)
    if keras.backend.backend() != "torch":  # PyTorch runs eagerly.
        assert model._keras_posemb_generator.traces == 2
        assert model._keras_posemb_generator.greedy_traces == 1
    np.testing.assert_array_equal(again, model.generate(TOKENS[:, :3], 6, 1.0, seed=5))


def test_positions_per_layer_place_each_family_in_its_block_and_save(tmp_path):
    per_layer = ["rotary", "none", "t5"]
    model = build_causal_lm(11, 16, per_layer, embed_dim=16, num_heads=2, num_layers=3)
    found = [
        [type(p).__name__ for p in model.get_layer(f"decoder_block_{i}").attention.position_layers]
        for i in range(3)
    ]
    assert found == [["RotaryEmbedding"], [], ["RelativePositionBias"]]
    np.testing.assert_array_equal(
        model.generate(TOKENS[:, :3], max_new_tokens=4),
        greedy_by_recomputation(model, TOKENS[:, :3], 4),
    )
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(to_numpy(loaded(TOKENS)), to_numpy(model(TOKENS)), atol=1e-6)


@pytest.mark.parametrize(
    "position, match",
    [
        (["rotary", "none"], r"one family per layer, 3 in all; received position=\['rotary', 'none'\]"),
        (["rotary", "learned", "none"], r"'learned' is added to the token embeddings once"),
        (["rotary", "nope", "none"], r"`position` must be one of .*; received position='nope'"),
        ([], r"a family's name or a non-empty list of names; received position=\[\]"),
    ],
)  # fmt: skip
def test_positions_per_layer_are_checked_before_anything_is_built(position, match):
    with pytest.raises(ValueError, match=match):
        build_causal_lm(11, 16, position, embed_dim=16, num_heads=2, num_layers=3)


def test_generation_refuses_more_positions_than_the_learned_table_has():
    model = _tiny_lm("learned", max_length=8)
    assert model.generate(TOKENS[:, :3], max_new_tokens=5).shape == (2, 8)
    with pytest.raises(PositionRangeError, match=r"need 9 positions.*'learned' positions cover 8"):
        model.generate(TOKENS[:, :3], max_new_tokens=6)
    with pytest.raises(ValueError, match=r"prompt_ids"):
        model.generate(np.zeros((2, 0), "int32"), max_new_tokens=1)
    with pytest.raises(ValueError, match=r"top_p.*\(0, 1\]"):
        model.generate(TOKENS[:, :3], max_new_tokens=1, temperature=1.0, top_p=0.0)


def greedy_streamed(model, prompt, steps, sinks, window):
    """Greedy decoding by a full pass, per token, over the first `sinks` and
    the last `window` tokens so far (StreamingLLM's recomputation)."""
    ids = prompt
    for _ in range(steps):
        logits = to_numpy(model(streamed(ids, sinks, window)))[:, -1]
        ids = np.concatenate([ids, logits.argmax(-1)[:, None].astype("int32")], axis=1)
    return ids


@pytest.mark.parametrize("family", ["rotary", "alibi", "t5"])
def test_a_rolling_cache_generates_ten_times_its_length_as_streaming_recomputes(family):
    """One block (where StreamingLLM's recomputation is the exact reference),
    a prompt of 7 longer than the cache of 2 sinks + a window of 3, and 80
    new tokens, over 10x the context of 8: greedy and sampled decoding keep
    a cache of 5 tokens."""
    model = build_causal_lm(11, 8, family, embed_dim=16, num_heads=2, num_layers=1)
    lengths = []
    empty_cache = model.empty_cache
    model.empty_cache = lambda batch, length: lengths.append(length) or empty_cache(batch, length)
    prompt = TOKENS
    got = model.generate(prompt, 80, cache="sinks", window=3, sinks=2)
    np.testing.assert_array_equal(got, greedy_streamed(model, prompt, 80, sinks=2, window=3))
    sampled = model.generate(prompt, 80, temperature=1.0, seed=2, cache="sinks", window=3, sinks=2)
    assert sampled.shape == (2, 87) and (sampled[:, :7] == prompt).all()
    assert lengths == [5, 5]


@pytest.mark.parametrize("family", ["rotary", "learned"])
def test_a_window_cache_generates_as_sliding_window_attention(family):
    """Two blocks and cache="window": every token saw the last 4 tokens alone
    when its keys were cached, which is a full pass of the same weights with
    sliding_window=4 (positions inside a window keep their distances)."""
    model = _tiny_lm(family, max_length=32)
    windowed = build_causal_lm(11, 32, family, embed_dim=16, num_heads=2, num_layers=2,
                               sliding_window=4)  # fmt: skip
    windowed.set_weights(model.get_weights())
    got = model.generate(TOKENS[:, :5], 20, cache="window", window=4)
    np.testing.assert_array_equal(got, greedy_by_recomputation(windowed, TOKENS[:, :5], 20))
    if family == "learned":  # A table at the embeddings limits every token's position.
        with pytest.raises(PositionRangeError, match=r"the new tokens need 33 positions"):
            model.generate(TOKENS[:, :5], 28, cache="window", window=4)


def test_generation_refuses_bad_cache_settings():
    model = _tiny_lm("rotary")
    prompt = TOKENS[:, :3]
    for settings, message in [
        (dict(cache="rolling"), r"`cache` must be one of 'full', 'window', 'sinks'.*='rolling'"),
        (dict(window=4), r"`window` must be left out with cache='full'.*window=4"),
        (dict(cache="window"), r"`window` must be a positive int with cache='window'.*=None"),
        (dict(cache="window", window=0), r"`window` must be a positive int; received window=0"),
        (dict(cache="window", window=4, sinks=2), r"`sinks` must be left out with cache="),
        (dict(cache="sinks", window=4, sinks=0), r"`sinks` must be a positive int; .*sinks=0"),
    ]:
        with pytest.raises(ValueError, match=message):
            model.generate(prompt, 4, **settings)


class TestSampling:
    """`sample_next` against hand-worked distributions (NumPy only)."""

    LOGITS = np.log(np.array([[0.1, 0.4, 0.2, 0.3]]))

    def frequencies(self, draws=20000, **options):
        rng = np.random.default_rng(0)
        logits = np.repeat(self.LOGITS, draws, axis=0)
        return np.bincount(sample_next(logits, rng, **options), minlength=4) / draws

    def test_temperature_zero_is_the_first_largest_logit(self):
        assert sample_next([[1.0, 3.0, 3.0], [5.0, 0.0, 1.0]], np.random.default_rng(0)).tolist() == [1, 0]  # fmt: skip

    def test_temperature_one_draws_from_the_softmax(self):
        np.testing.assert_allclose(
            self.frequencies(temperature=1.0), [0.1, 0.4, 0.2, 0.3], atol=0.01
        )

    def test_temperature_two_flattens_it(self):
        expected = np.sqrt([0.1, 0.4, 0.2, 0.3])
        np.testing.assert_allclose(self.frequencies(temperature=2.0), expected / expected.sum(), atol=0.01)  # fmt: skip

    def test_top_k_keeps_the_k_most_likely(self):
        np.testing.assert_allclose(self.frequencies(temperature=1.0, top_k=2), [0, 4 / 7, 0, 3 / 7], atol=0.01)  # fmt: skip

    def test_top_p_keeps_the_smallest_set_that_reaches_p(self):
        # 0.4 + 0.3 = 0.7 >= 0.65: two tokens; 0.7 < 0.75 needs the third.
        np.testing.assert_allclose(self.frequencies(temperature=1.0, top_p=0.65), [0, 4 / 7, 0, 3 / 7], atol=0.01)  # fmt: skip
        np.testing.assert_allclose(self.frequencies(temperature=1.0, top_p=0.75), [0, 4 / 9, 2 / 9, 3 / 9], atol=0.01)  # fmt: skip

    def test_the_same_seed_draws_the_same_tokens(self):
        def draw(seed):
            return sample_next(np.zeros((50, 7)), np.random.default_rng(seed), temperature=1.0)

        assert draw(3).tolist() == draw(3).tolist() != draw(4).tolist()
