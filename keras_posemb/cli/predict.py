"""Predict the classes of raw texts with a trained run.

Prints, for each text, every class with its probability, most likely first.
Works on every Keras backend (set KERAS_BACKEND).

example:
  keras-posemb-predict runs/order_sinusoidal "the dog chased the cat" "the cat chased the dog"
"""

from __future__ import annotations

import json

from keras_posemb import cli
from keras_posemb.run import Run


def _main(argv):
    description, epilog = cli.split_docstring(__doc__)
    parser = cli.Parser(description=description, epilog=epilog)
    parser.add_argument("run_dir", help="a run directory of keras-posemb-train")
    parser.add_argument("texts", nargs="+", help="texts to classify")
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")
    args = parser.parse_args(argv)
    run = Run(args.run_dir)
    if not run.is_complete():
        cli.fail(f"{args.run_dir} is not a finished run of keras-posemb-train.")
    from keras_posemb import predict

    predictions = predict.predict_run(run, args.texts)
    if args.json:
        records = [
            {"text": p.text, "label": p.label, "probabilities": dict(p.classes)}
            for p in predictions
        ]
        print(json.dumps(records, indent=2))
    else:
        print("\n".join(predict.format_predictions(predictions)))


main = cli.main_wrapper(_main)

if __name__ == "__main__":
    main()
