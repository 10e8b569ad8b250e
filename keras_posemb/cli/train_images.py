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


def _main(argv):
    from keras_posemb.training.images import ImageTrainConfig, train_images

    config, _ = parse_config(argv, __doc__, config_class=ImageTrainConfig)
    train_images(config)


main = cli.main_wrapper(_main, "interrupted; rerun the same command to resume where it stopped.")

if __name__ == "__main__":
    main()
