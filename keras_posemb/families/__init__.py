"""The position families: one registry entry each (`registry`), the
package's own registered here (`builtin`).

    from keras_posemb import families
    families.register(families.PositionFamily(
        name="my_rotary", where="attention", description="rotary, base 500",
        make_layer=lambda settings, **kwargs: RotaryEmbedding(500, **kwargs),
        layer_class=RotaryEmbedding,
    ))
    build_text_classifier(..., position="my_rotary")

A model's family is found by the class of its position layer
(`find_position`): the first registered family whose `layer_class` it is.
"""

from keras_posemb.families.builtin import BUILT_IN, ROTARY_EXTENSIONS
from keras_posemb.families.registry import (
    ATTENTION_ROLES,
    POSITION_LAYER_NAME,
    WHERE,
    ModelPositions,
    PositionFamily,
    PositionSettings,
    check_attention_position,
    covered_positions,
    families,
    find_position,
    get,
    names,
    register,
    unregister,
)

for _family in BUILT_IN:
    register(_family)

__all__ = [
    "ATTENTION_ROLES",
    "POSITION_LAYER_NAME",
    "ROTARY_EXTENSIONS",
    "WHERE",
    "ModelPositions",
    "PositionFamily",
    "PositionSettings",
    "check_attention_position",
    "covered_positions",
    "families",
    "find_position",
    "get",
    "names",
    "register",
    "unregister",
]
