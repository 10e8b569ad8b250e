"""What each trainer can be told: its settings dataclass, whose fields are
its command-line flags, and their checks.

Nothing here imports Keras or TensorFlow (the position families are named
by the registry, which makes layers only when asked): the command line
checks its flags (`check_values`) before Keras loads, so that a mistyped
flag is refused at once. `validate` adds the checks that make a layer.
"""

from keras_posemb.settings.images import ImageTrainConfig
from keras_posemb.settings.language_model import LanguageModelConfig
from keras_posemb.settings.run_settings import (
    RunSettings,
    field_choices,
    field_help,
    field_types,
    fields_in_flag_order,
    setting,
)
from keras_posemb.settings.text import TrainConfig

__all__ = [
    "ImageTrainConfig",
    "LanguageModelConfig",
    "RunSettings",
    "TrainConfig",
    "field_choices",
    "field_help",
    "field_types",
    "fields_in_flag_order",
    "setting",
]
