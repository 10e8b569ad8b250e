"""Train the transformer text classifier with a chosen position encoding.

With no arguments: the built-in `order` data set (word order decides the
label), sinusoidal positions, offline, on CPU or GPU. Writes the model, the
raw-text model, vocabulary, metrics.json, TensorBoard logs and plots to
--output-dir. Rerunning an interrupted command resumes it.

examples:
  keras-posemb-train
  keras-posemb-train --position learned
  keras-posemb-train --dataset reviews.tsv    (any .tsv/.csv with text and label columns)
  keras-posemb-train --dataset SST-2/train.tsv --test-file SST-2/dev.tsv    (GLUE's files)
  keras-posemb-train --dataset imdb_reviews --download
"""

from __future__ import annotations

from keras_posemb import cli
from keras_posemb.settings import TrainConfig


def parse_config(
    argv=None,
    doc: str = __doc__,
    defaults: dict | None = None,
    extra=(),
    exclude=(),
    config_class=None,
) -> tuple:
    """`(config, namespace)` from command-line flags, checked.

    Args:
        argv: the arguments (default: `sys.argv[1:]`).
        doc: the module docstring that gives the description and epilog.
        defaults: config defaults to change (for other commands).
        extra: `(flag, kwargs)` arguments besides the config's.
        exclude: config fields that get no flag (another command sets them).
        config_class: the settings' dataclass (default: `TrainConfig`).

    The settings are checked as far as they can be without Keras
    (`check_values`); the trainer checks the rest (`validate`). Exits with
    status 2 and one `error:` line on a bad value.
    """
    config_class = config_class or TrainConfig
    description, epilog = cli.split_docstring(doc)
    parser = cli.Parser(description=description, epilog=epilog)
    for name, options in extra:
        parser.add_argument(name, **options)
    cli.add_config_flags(parser, config_class, defaults, exclude)
    args = parser.parse_args(argv)
    config = cli.config_from_args(config_class, args, defaults)
    config.check_values()
    return config, args


def _run(config):
    from keras_posemb.training import train

    train(config)


main = cli.main_wrapper(
    lambda argv: parse_config(argv)[0],
    _run,
    "interrupted; rerun the same command to resume where it stopped.",
)

if __name__ == "__main__":
    main()
