"""The range of positions the exact sinusoid and rotary tables encode.

A position is split as `p = BLOCK * high + low` so that both parts index a
small float64 table (`keras_posemb.layers._angles`); two blocks of `BLOCK`
positions each give `MAX_POSITION`. It lives here, without Keras, so that
the trainers' settings can check a length before Keras loads.
"""

BLOCK = 512
MAX_POSITION = BLOCK * BLOCK
