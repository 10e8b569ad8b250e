"""The registry of position families: one entry per family, and the one
place that answers questions about a model's positions (which family, which
layer, how many positions it covers).

A family says where its positions go (added to the token embeddings, or
inside attention), makes its layer from a model's settings and checks
those settings. What a family looks like in plots and TensorBoard is not
its entry's job: those are views in `keras_posemb.analysis.plots`, keyed by
family name.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from keras_posemb._args import check_choice
from keras_posemb.errors import argument_error

# "embeddings": a layer added to the token embeddings, once per model;
# "attention": a layer inside every attention layer (`PositionalAttention`);
# "none": no position information.
WHERE = ("embeddings", "attention", "none")
# The name of a model's embeddings position layer.
POSITION_LAYER_NAME = "position_encoding"
# What a position layer does inside attention: transform queries and keys
# (rotary), or add to the logits (a bias).
ATTENTION_ROLES = ("queries_and_keys", "logits")


@dataclasses.dataclass(frozen=True)
class PositionSettings:
    """What a family may need of the model it goes into."""

    embed_dim: int = 64
    num_heads: int = 4
    max_length: int = 64
    bidirectional: bool = True
    # An image model's grid of patches and its tokens before the patches.
    grid_size: tuple[int, int] | None = None
    num_prefix_tokens: int = 0

    @property
    def key_dim(self) -> int:
        return self.embed_dim // self.num_heads


@dataclasses.dataclass(frozen=True)
class PositionFamily:
    """One position family.

    Args:
        name: the `position=` name (and the trainers' `--position` choice).
        where: one of `WHERE`.
        description: one line for help texts.
        make_layer: `(PositionSettings, **layer_kwargs) -> layer`: for
            "embeddings", the layer applied to the token embeddings; for
            "attention", a layer with `attention_role` "logits" (an
            `AttentionBias`) or "queries_and_keys" (such as
            `RotaryEmbedding`), made anew for every attention layer.
        layer_class: the class `make_layer` returns: how a model's family
            is found again; or its dotted name (`"package.module.Class"`),
            imported when first needed (`layer_type`).
        learned: whether the family's layer has trained weights.
        grid: whether the family encodes a 2-D grid of image patches (and
            so needs `PositionSettings.grid_size`); sequence tools list
            only the other families (`names()`).
        matches: for families that share a `layer_class`, whether a layer
            of that class is this family's (a family with `matches` is
            preferred to one without, which takes any layer of the class).
        variant_of: the family this one varies (the same layer and
            weights, other settings), or `None`; variants are listed by
            `names(include_variants=True)` only, so that comparisons keep
            one row per family.
    """

    name: str
    where: str
    description: str
    make_layer: Callable[..., Any] | None = None
    layer_class: type | str | None = None
    learned: bool = False
    grid: bool = False
    matches: Callable[[Any], bool] | None = None
    variant_of: str | None = None

    def __post_init__(self):
        check_choice("where", self.where, WHERE)
        if not self.name or not isinstance(self.name, str) or "," in self.name:
            raise argument_error("name", self.name, "a non-empty string without commas")
        if (self.where == "none") != (self.make_layer is None):
            raise argument_error(
                "make_layer",
                self.make_layer,
                f"None exactly when where='none' (where={self.where!r})",
            )

    def layer_type(self) -> type | None:
        """`layer_class`, imported first if it is given by name."""
        if not isinstance(self.layer_class, str):
            return self.layer_class
        module, _, name = self.layer_class.rpartition(".")
        return getattr(importlib.import_module(module), name)

    def check(self, settings: PositionSettings) -> None:
        """Raises `ArgumentError` for settings this family cannot take: its
        layer is made (so its own arguments are checked) and, inside
        attention, asked whether it serves these heads."""
        if self.grid and settings.grid_size is None:
            raise argument_error(
                "position",
                self.name,
                "a sequence family: this one encodes a grid of image patches "
                "(build_image_classifier takes it)",
            )
        if self.make_layer is None:
            return
        layer = self.make_layer(settings)
        if self.where == "attention":
            check_attention_position(layer, settings.num_heads, settings.key_dim)


_FAMILIES: dict[str, PositionFamily] = {}


def register(family: PositionFamily) -> PositionFamily:
    """Adds `family`; its name must be new (see `unregister`)."""
    if family.name in _FAMILIES:
        raise argument_error("name", family.name, "a name not registered yet")
    _FAMILIES[family.name] = family
    return family


def unregister(name: str) -> None:
    get(name)
    del _FAMILIES[name]


def names(include_grid: bool = False, include_variants: bool = False) -> tuple[str, ...]:
    """The registered families' names, in registration order: the sequence
    families, with `include_grid` the grid (image) families too, and with
    `include_variants` the variants of others (such as `rotary_yarn`)."""
    return tuple(
        name
        for name, family in _FAMILIES.items()
        if (include_grid or not family.grid) and (include_variants or family.variant_of is None)
    )


def families() -> Mapping[str, PositionFamily]:
    return MappingProxyType(_FAMILIES)


def get(name: str) -> PositionFamily:
    """The family called `name`; `ArgumentError` naming `position` otherwise."""
    if not isinstance(name, str) or name not in _FAMILIES:
        everything = names(include_grid=True, include_variants=True)
        raise argument_error("position", name, f"one of {everything}")
    return _FAMILIES[name]


@dataclasses.dataclass(frozen=True)
class ModelPositions:
    """A family's positions in one model: what every model builder asks of
    the registry. `for_model` checks the settings first.

    `per_layer`, when given, is one family per attention layer ("inside
    attention" or "none"), such as rotary in every fourth block and no
    positions elsewhere (Llama 4's and SmolLM3's "NoPE" interleaving);
    `family` is then `"none"`: nothing is added to the embeddings.
    """

    family: PositionFamily
    settings: PositionSettings
    per_layer: tuple[PositionFamily, ...] | None = None

    @classmethod
    def for_model(
        cls, position: str | Sequence[str], settings: PositionSettings, num_layers: int = 1
    ) -> ModelPositions:
        """The family `position` (or one per layer: a list of `num_layers`
        names) in a model of `settings`; `ArgumentError` if it cannot take them."""
        if isinstance(position, str):
            family = get(position)
            family.check(settings)
            return cls(family, settings)
        per_layer = tuple(_layer_family(name, position, settings) for name in _as_names(position))
        if len(per_layer) != num_layers:
            raise argument_error(
                "position", list(position), f"one family per layer, {num_layers} in all"
            )
        return cls(get("none"), settings, per_layer)

    def add_to_embeddings(self, x):
        """`x` with the family's embeddings layer applied (named
        `POSITION_LAYER_NAME`), or `x` itself for families elsewhere."""
        if self.family.where != "embeddings":
            return x
        return self.family.make_layer(self.settings, name=POSITION_LAYER_NAME)(x)

    def inside_attention(self, index: int = 0) -> Any:
        """A new position layer for the attention layer of block `index`, or
        "none"; each attention layer gets its own (a T5 table per layer)."""
        family = self.family if self.per_layer is None else self.per_layer[index]
        if family.where != "attention":
            return "none"
        return family.make_layer(self.settings)


def _as_names(position) -> list:
    if not isinstance(position, (list, tuple)) or not position:
        raise argument_error("position", position, "a family's name or a non-empty list of names")
    return list(position)


def _layer_family(name, position, settings) -> PositionFamily:
    family = get(name)
    if family.where == "embeddings":
        raise argument_error(
            "position",
            list(position),
            f"families inside attention or 'none' per layer; {name!r} is added to the token "
            "embeddings once: give it alone, as position=" + repr(name),
        )
    family.check(settings)
    return family


def check_attention_position(layer: Any, num_heads: int, key_dim: int) -> None:
    """Checks that `layer` can be a position layer of attention with these heads."""
    role = getattr(layer, "attention_role", None)
    if role not in ATTENTION_ROLES:
        raise argument_error(
            "position",
            layer,
            "a position layer for attention: an `attention_role` of 'logits' (an AttentionBias "
            "such as AlibiBias) or 'queries_and_keys' (such as RotaryEmbedding)",
        )
    layer.check_attention(num_heads, key_dim)


def _layers(model) -> Iterator[Any]:
    """Every layer of `model`: nested models' and blocks' layers, and the
    position layers inside attention (`position_layers`)."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _layers(layer)
        attention = getattr(layer, "attention", layer)  # A DecoderBlock's, or itself.
        yield from getattr(attention, "position_layers", [])


def find_position(model: Any) -> tuple[PositionFamily, Any]:
    """`(family, layer)` of a model's first position layer, or `(get("none"), None)`."""
    for layer in _layers(model):
        candidates = [
            family
            for family in _FAMILIES.values()
            if family.layer_class is not None and isinstance(layer, family.layer_type())
        ]
        for family in sorted(candidates, key=lambda family: family.matches is None):
            if family.matches is None or family.matches(layer):
                return family, layer
    return get("none"), None


def covered_positions(model: Any) -> float:
    """How many positions `model`'s positions encode: the position layer's
    `max_position` (a learned table's rows, the exact tables' 262,144),
    `inf` for a model without a limit (no positions, or biases)."""
    _, layer = find_position(model)
    limit = getattr(layer, "max_position", None)
    return math.inf if limit is None else limit
