"""Train every position encoding alike and compare them.

Same data, model and seeds for each encoding (any data set the trainer
accepts; every flag of keras-posemb-train works here too). Writes
comparison.md, comparison.json, accuracy.png and, on the built-in `order`
data set, extrapolation.png: accuracy on sentences longer than any seen in
training (1.5x, 2x, 4x and 8x the longest).

examples:
  keras-posemb-compare --output-dir runs/compare
  keras-posemb-compare --output-dir runs/compare_sst2 --seeds 1 \\
      --dataset SST-2/train.tsv --test-file SST-2/dev.tsv
"""

from __future__ import annotations

import argparse

from keras_posemb import _backend, cli, families
from keras_posemb.cli.train import parse_config
from keras_posemb.data import BUILT_IN

# A 32-row table for 16-word sentences, so that the longer evaluation
# sentences go past it; the data size and learning rate of the
# comparison in docs/results.md (the trainer's defaults when it was measured).
DEFAULTS = {
    "max_length": 32,
    "learning_rate": 1e-3,
    "output_dir": "runs/compare",
    "verbose": 2,
    "plots": False,
}
# Those of the built-in data set, where they apply.
BUILT_IN_DEFAULTS = {"max_words": 16, "order_train_size": 16000}


def _defaults(argv) -> dict:
    """`DEFAULTS`, and with the built-in data set `BUILT_IN_DEFAULTS`."""
    dataset = argparse.ArgumentParser(add_help=False)
    dataset.add_argument("--dataset", default=BUILT_IN)
    built_in = dataset.parse_known_args(argv)[0].dataset == BUILT_IN
    return {**DEFAULTS, **(BUILT_IN_DEFAULTS if built_in else {})}


def _positions(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in families.names()]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list from {', '.join(families.names())}; received {text!r}"
        )
    return tuple(names)


def extra_flags():
    """The flags besides the trainer's (the families registered now)."""
    names = ", ".join(families.names())
    return [
        ("--seeds", {"type": int, "default": 3, "help": "seeds per encoding, from --seed on"}),
        (
            "--positions",
            {
                "type": _positions,
                "default": families.names(),
                "metavar": "A,B,...",
                "help": f"encodings to compare, comma-separated, from {names} (default: all)",
            },
        ),
    ]


def _parse(argv):
    # --positions replaces the trainer's --position.
    defaults = _defaults(argv)
    config, args = parse_config(argv, __doc__, defaults, extra_flags(), exclude=("position",))
    if args.seeds < 1:
        cli.fail(f"argument --seeds: must be a positive int; received --seeds {args.seeds}")
    _backend.require("matplotlib", "The comparison's plots")  # Before hours of training.
    return config, args


def _run(parsed):
    from keras_posemb.training import compare as experiments

    config, args = parsed
    results = experiments.compare_encodings(config, seeds=args.seeds, positions=args.positions)
    written = experiments.write_results(results, config.output_dir)
    print("\n" + experiments.markdown_table(results))
    print(f"Wrote {config.output_dir}/: {', '.join(written)}")


main = cli.main_wrapper(_parse, _run)

if __name__ == "__main__":
    main()
