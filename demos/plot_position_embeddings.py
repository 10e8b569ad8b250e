"""Plot the position vectors of a trained classifier.

PATH is a saved `.keras` model or a run directory of train_text_classifier.py.
Writes PNGs to --output-dir: heatmap of the position table next to the
sinusoidal table of the same shape, cosine similarity between positions,
similarity by offset, a 2-D PCA trajectory, and the spectrum of each
dimension over positions (does the learned table find periodic structure?).

    python demos/plot_position_embeddings.py runs/order_learned --output-dir plots
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import keras_posemb  # noqa: E402, F401  (registers the layers for loading)
from keras_posemb import viz  # noqa: E402


def model_path_and_length(path):
    """The `.keras` file of PATH and the run's max_length, if recorded."""
    if os.path.isdir(path):
        metrics = os.path.join(path, "metrics.json")
        length = None
        if os.path.exists(metrics):
            with open(metrics, encoding="utf-8") as file:
                length = json.load(file)["config"]["max_length"]
        return os.path.join(path, "model.keras"), length
    return path, None


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("path", help="a .keras model or a run directory of train_text_classifier.py")
    parser.add_argument("--output-dir", default="plots", help="where the PNGs go")
    parser.add_argument("--length", type=int, default=None,
                        help="positions to plot (default: the learned table's length, or the run's --max-length, or 64)")
    args = parser.parse_args(argv)
    model_file, run_length = model_path_and_length(args.path)
    if not os.path.exists(model_file):
        sys.exit(f"error: {model_file} does not exist; expected a .keras model or a run directory holding model.keras.")
    model = keras.saving.load_model(model_file, safe_mode=True)
    try:
        paths, learned = viz.write_position_plots(model, args.output_dir, args.length or run_length or 64)
    except ValueError as error:
        sys.exit(f"error: {error}")
    if not learned:
        print("This model uses the fixed sinusoidal encoding: nothing was learned, so the plots show its table.")
    print("Wrote " + ", ".join(paths))


if __name__ == "__main__":
    main()
