"""Plot what a trained model's positions are: tables, biases or rotations.

PATH is a saved `.keras` model (the raw-text `text_model.keras` too) or a
run directory of keras-posemb-train, -lm or -train-images. Writes the PNGs
of the model's position family to --output-dir, by family:

  sinusoidal, learned  the table: heatmap (a learned table next to the
                       sinusoidal table of the same shape), cosine
                       similarity between positions, similarity by offset,
                       a 2-D PCA trajectory, and the spectrum of each
                       dimension over positions (position_heatmaps.png,
                       _similarity, _offset_similarity, _pca, _spectrum)
  alibi, t5            the bias each head adds to the attention logits, by
                       offset key - query (position_bias_by_offset.png)
  rotary, rotary_*     the wavelength of each feature pair, and the cosine
                       a query-key pair gets from it by offset
                       (position_rotary.png)
  sinusoidal_2d,       the cosine similarity of each patch's vector with
  learned_2d           every other's, on the grid (ViT's figure 7;
                       position_grid_similarity.png)
  rotary_2d,           the frequencies each head turns by along rows and
  rotary_mixed         columns (position_grid_rotary.png)
  none                 nothing to plot (an error says so)

example:
  keras-posemb-plot runs/order_learned --output-dir plots
"""

from __future__ import annotations

import os

from keras_posemb import cli, families
from keras_posemb.numerics.angles import MAX_POSITION
from keras_posemb.runs.run import Run, load_keras_file

# Positions (or offsets) drawn for a model that records no length.
DEFAULT_LENGTH = 64


def load(path):
    """The model at PATH, the positions its run trained on and the longest
    training example in tokens (each `None` if unknown)."""
    if os.path.isdir(path):
        run = Run(path)
        if not run.path(Run.MODEL).exists():
            cli.fail(f"{path} holds no {Run.MODEL}; expected a .keras model or a run directory.")
        settings = run.read_settings()
        metrics = run.read_metrics() if run.path(Run.METRICS).exists() else None
        max_length = settings and settings["settings"].get("max_length")
        return run.load_model(), max_length, metrics and metrics.get("longest_train_tokens")
    if not os.path.isfile(path):
        cli.fail(f"{path} does not exist; expected a .keras model or a run directory.")
    return load_keras_file(path), None, None


def _parse(argv):
    description, epilog = cli.split_docstring(__doc__)
    parser = cli.Parser(description=description, epilog=epilog)
    parser.add_argument("path", help="a .keras model or a run directory")
    parser.add_argument("--output-dir", default="plots", help="where the PNGs go")
    parser.add_argument(
        "--length",
        type=int,
        default=None,
        help="positions (or offsets, for relative positions) to plot (default: a learned "
        f"table's own length; otherwise the run's --max-length, or {DEFAULT_LENGTH})",
    )
    args = parser.parse_args(argv)
    if os.path.exists(args.output_dir) and not os.path.isdir(args.output_dir):
        parser.error(f"argument --output-dir: {args.output_dir} is a file; expected a directory")
    if args.length is not None and not 1 <= args.length <= MAX_POSITION:
        parser.error(
            f"argument --length: must be an int in [1, {MAX_POSITION:,}] (the most positions the "
            f"position layers encode); received --length {args.length}"
        )
    return args


def _run(args):
    from keras_posemb.analysis import plots

    model, run_length, trained_length = load(args.path)
    family, _ = families.find_position(model)
    view = plots.view_of(family)
    if not view.plots:
        cli.fail(f"{args.path} holds a model with no position information (position='none'?).")
    length = args.length
    learned_table = family.learned and view.table is not None
    if length is None and not learned_table:  # A learned table is drawn whole.
        length = run_length or DEFAULT_LENGTH
    paths, learned = plots.write_position_plots(model, args.output_dir, length, trained_length)
    if not learned:
        print(
            f"This model's {family.name} positions are fixed: nothing was learned; the plots show them."
        )
    print("Wrote " + ", ".join(paths))


main = cli.main_wrapper(_parse, _run)

if __name__ == "__main__":
    main()
