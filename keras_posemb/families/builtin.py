"""The package's own families: the eight sequence families, the RoPE
extensions as variants of rotary, and the four grid families."""

from __future__ import annotations

from keras_posemb.families.registry import PositionFamily

_LAYERS = "keras_posemb.layers."


def _layers():
    """`keras_posemb.layers`, imported when a family first makes a layer:
    the registry loads without Keras, so that the command line checks
    `--position` before Keras loads."""
    from keras_posemb import layers

    return layers


def _alibi_layer(settings, **kwargs):
    # float32 like the logits it is added to, also under mixed precision.
    kwargs.setdefault("dtype", "float32")
    kwargs.setdefault("split_heads", settings.bidirectional)
    return _layers().AlibiBias(bidirectional=settings.bidirectional, **kwargs)


def _t5_layer(settings, **kwargs):
    kwargs.setdefault("dtype", "float32")
    return _layers().RelativePositionBias(
        settings.num_heads, bidirectional=settings.bidirectional, **kwargs
    )


def _kerple_layer(settings, **kwargs):
    kwargs.setdefault("dtype", "float32")
    return _layers().KerpleBias(bidirectional=settings.bidirectional, **kwargs)


def _fire_layer(settings, **kwargs):
    kwargs.setdefault("dtype", "float32")
    kwargs.setdefault("threshold", settings.max_length)
    return _layers().FireBias(bidirectional=settings.bidirectional, **kwargs)


SEQUENCE_FAMILIES = (
    PositionFamily(
        name="sinusoidal",
        where="embeddings",
        description="fixed sines and cosines added to the token embeddings (Vaswani et al.)",
        make_layer=lambda settings, **kwargs: _layers().SinusoidalEncoding(**kwargs),
        layer_class=_LAYERS + "SinusoidalEncoding",
    ),
    PositionFamily(
        name="learned",
        where="embeddings",
        description="one trained vector per position, added to the token embeddings (BERT)",
        make_layer=lambda settings, **kwargs: _layers().PositionEmbedding(
            settings.max_length, **kwargs
        ),
        layer_class=_LAYERS + "PositionEmbedding",
        learned=True,
    ),
    PositionFamily(
        name="rotary",
        where="attention",
        description="queries and keys rotated by position inside attention (RoPE)",
        make_layer=lambda settings, **kwargs: _layers().RotaryEmbedding(**kwargs),
        layer_class=_LAYERS + "RotaryEmbedding",
    ),
    PositionFamily(
        name="alibi",
        where="attention",
        description="a distance penalty per head on the attention logits (ALiBi)",
        make_layer=_alibi_layer,
        layer_class=_LAYERS + "AlibiBias",
    ),
    PositionFamily(
        name="t5",
        where="attention",
        description="a learned bias per head and offset bucket on the attention logits (T5)",
        make_layer=_t5_layer,
        layer_class=_LAYERS + "RelativePositionBias",
        learned=True,
    ),
    PositionFamily(
        name="kerple",
        where="attention",
        description="a learned log-distance penalty per head on the attention logits (KERPLE)",
        make_layer=_kerple_layer,
        layer_class=_LAYERS + "KerpleBias",
        learned=True,
    ),
    PositionFamily(
        name="fire",
        where="attention",
        description="a learned function of the normalized distance per head on the logits (FIRE)",
        make_layer=_fire_layer,
        layer_class=_LAYERS + "FireBias",
        learned=True,
    ),
    PositionFamily(name="none", where="none", description="no position information"),
)


# Rotary extended beyond the model's `max_length` (L0) by a context extension
# with factor length / L0 (`rope_scaling`'s dynamic variants): below L0 the
# same rotation as `rotary`, so the same training; {family: (rope_type, what)}.
ROTARY_EXTENSIONS = {
    "rotary_linear": ("dynamic_linear", "position interpolation (Chen et al.)"),
    "rotary_ntk": ("dynamic", "NTK-aware scaling (dynamic NTK)"),
    "rotary_yarn": ("dynamic_yarn", "YaRN (Peng et al.)"),
    "rotary_llama3": ("dynamic_llama3", "Llama 3.1's frequency-dependent scaling"),
}


def _extension_scaling(rope_type, original_length):
    scaling = {"rope_type": rope_type, "original_max_position_embeddings": original_length}
    if rope_type == "dynamic":  # Hugging Face's: its factor 1 makes the scale length / L0.
        scaling["factor"] = 1.0
    return scaling


def _rotary_extension(name) -> PositionFamily:
    rope_type, what = ROTARY_EXTENSIONS[name]

    def make_layer(settings, **kwargs):
        return _layers().RotaryEmbedding(
            rope_scaling=_extension_scaling(rope_type, settings.max_length), **kwargs
        )

    def matches(layer):
        scaling = layer.rope_scaling or {}
        wanted = _extension_scaling(rope_type, scaling.get("original_max_position_embeddings"))
        return all(scaling.get(key) == value for key, value in wanted.items())

    return PositionFamily(
        name=name,
        where="attention",
        description=f"rotary; beyond max_length, {what} sized to the sequence",
        make_layer=make_layer,
        layer_class=_LAYERS + "RotaryEmbedding",
        matches=matches,
        variant_of="rotary",
    )


def _grid_arguments(settings):
    return {"grid_size": settings.grid_size, "num_prefix_tokens": settings.num_prefix_tokens}


GRID_FAMILIES = (
    PositionFamily(
        name="sinusoidal_2d",
        where="embeddings",
        description="fixed sines and cosines of the row and the column, added to the patches (MAE)",
        make_layer=lambda settings, **kwargs: _layers().SinusoidalEncoding2D(
            **_grid_arguments(settings), **kwargs
        ),
        layer_class=_LAYERS + "SinusoidalEncoding2D",
        grid=True,
    ),
    PositionFamily(
        name="learned_2d",
        where="embeddings",
        description="one trained vector per patch of the grid, resampled for other grids (ViT)",
        make_layer=lambda settings, **kwargs: _layers().PositionEmbedding2D(
            **_grid_arguments(settings), **kwargs
        ),
        layer_class=_LAYERS + "PositionEmbedding2D",
        learned=True,
        grid=True,
    ),
    PositionFamily(
        name="rotary_2d",
        where="attention",
        description="queries and keys rotated by row and by column inside attention (RoPE-Axial)",
        make_layer=lambda settings, **kwargs: _layers().RotaryEmbedding2D(
            **_grid_arguments(settings), **kwargs
        ),
        layer_class=_LAYERS + "RotaryEmbedding2D",
        grid=True,
        matches=lambda layer: not layer.mixed,
    ),
    PositionFamily(
        name="rotary_mixed",
        where="attention",
        description="queries and keys rotated by learned mixes of row and column (RoPE-Mixed)",
        make_layer=lambda settings, **kwargs: _layers().RotaryEmbedding2D(
            **_grid_arguments(settings), mixed=True, **kwargs
        ),
        layer_class=_LAYERS + "RotaryEmbedding2D",
        learned=True,
        grid=True,
        matches=lambda layer: layer.mixed,
    ),
)

BUILT_IN = (
    *SEQUENCE_FAMILIES,
    *(_rotary_extension(name) for name in ROTARY_EXTENSIONS),
    *GRID_FAMILIES,
)
