"""Predict classes with a finished run: raw texts for a text classifier
(keras-posemb-train), image files for an image classifier
(keras-posemb-train-images).

Prints, for each text or image, every class with its probability, most
likely first. Images (PNG, JPEG, BMP, GIF, ...) are converted to the
model's channels and resized to its image size. Works on every Keras
backend (set KERAS_BACKEND).

examples:
  keras-posemb-predict runs/order_sinusoidal "the dog chased the cat" "the cat chased the dog"
  keras-posemb-predict runs/images_shapes_learned_2d drawing.png photo.jpg
"""

from __future__ import annotations

import json

from keras_posemb import cli
from keras_posemb.runs.run import IMAGE_CLASSIFIER, TEXT_CLASSIFIER, Run


def _parse(argv):
    description, epilog = cli.split_docstring(__doc__)
    parser = cli.Parser(description=description, epilog=epilog)
    parser.add_argument("run_dir", help="a run directory of keras-posemb-train or -train-images")
    parser.add_argument(
        "inputs", nargs="+", metavar="text_or_image",
        help="texts to classify, or for an image classifier, image files",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")
    return parser.parse_args(argv)


def _run(args):
    run = Run(args.run_dir)
    images = run.kind() == IMAGE_CLASSIFIER
    run.check_kind(IMAGE_CLASSIFIER if images else TEXT_CLASSIFIER)
    from keras_posemb.runs import predict

    if images:
        predictions = predict.predict_images(run, args.inputs)
    else:
        predictions = predict.predict_run(run, args.inputs)
    if args.json:
        records = [
            {
                "image" if images else "text": p.text,
                "label": p.label,
                "probabilities": dict(p.classes),
            }
            for p in predictions
        ]
        print(json.dumps(records, indent=2))
    else:
        print("\n".join(predict.format_predictions(predictions)))


main = cli.main_wrapper(_parse, _run)

if __name__ == "__main__":
    main()
