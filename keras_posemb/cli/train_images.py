"""Train a Vision Transformer image classifier with a chosen position encoding.

With no --dataset, the built-in shapes (offline, generated): is the square
left of the cross? Every image comes with its mirror image, so a model
without positions scores 50%. Also mnist and cifar10 (tensorflow-datasets,
with --download). Writes the model, classes.json, metrics.json and
TensorBoard logs to --output-dir. Rerunning an interrupted command resumes it.

examples:
  keras-posemb-train-images
  keras-posemb-train-images --position rotary_2d
  keras-posemb-train-images --dataset cifar10 --download --epochs 30
"""

from __future__ import annotations

from keras_posemb import cli
from keras_posemb.cli.train import parse_config
from keras_posemb.settings import ImageTrainConfig


def _parse(argv):
    return parse_config(argv, __doc__, config_class=ImageTrainConfig)[0]


def _run(config):
    from keras_posemb.training.images import train_images

    train_images(config)


main = cli.main_wrapper(
    _parse, _run, "interrupted; rerun the same command to resume where it stopped."
)

if __name__ == "__main__":
    main()
