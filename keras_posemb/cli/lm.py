"""Train a causal language model with a chosen position encoding.

Character level by default (--level byte: UTF-8 bytes). With no --text-file,
text made from the built-in data set's sentences, offline. The defaults are
nanoGPT's CPU recipe for Tiny Shakespeare. Writes the model, tokens.json,
metrics.json (with the validation loss at 1x, 2x, 4x and 8x the training
context), TensorBoard logs and plots to --output-dir. Rerunning an
interrupted command resumes it.

examples:
  keras-posemb-lm
  keras-posemb-lm --download shakespeare --position alibi
  keras-posemb-generate runs/lm_shakespeare_alibi "ROMEO:"
  keras-posemb-lm --text-file any_text.txt --level byte
"""

from __future__ import annotations

from keras_posemb import cli
from keras_posemb.cli.train import parse_config
from keras_posemb.settings import LanguageModelConfig


def _parse(argv):
    return parse_config(argv, __doc__, config_class=LanguageModelConfig)[0]


def _run(config):
    from keras_posemb.training.language_model import train_language_model

    train_language_model(config)


main = cli.main_wrapper(
    _parse, _run, "interrupted; rerun the same command to resume where it stopped."
)

if __name__ == "__main__":
    main()
