"""The streaming study: StreamingLLM's experiment (Xiao et al. 2023) at this package's size.

Trains one character-level decoder per position family with
`keras-posemb-lm`'s trainer (the extrapolation study's recipe: context 64),
then feeds --streams stretches of the validation text, each --factor times
the context long, one token at a time, and scores every next token with:

- full: a key/value cache of every token (positions go past the context);
- window: a rolling cache of the last --window tokens;
- sinks: --sinks attention sinks and a rolling window of the rest of
  --window (StreamingLLM keeps 4);
- recompute: a full pass over the last --window tokens for each token
  (StreamingLLM's "sliding window with re-computation" baseline).

Prints the mean loss (nats per character) over the first context and
beyond it, and tokens/s of each way; writes summary.json, summary.md and
streaming.png (the loss by position in the stream, averaged over the
streams). Each family's run directory and results/ file are kept: a rerun
reads them back.

    python benchmarks/streaming.py --set download=shakespeare
    python benchmarks/streaming.py --text any_text.txt --factor 64 --streams 8
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import keras
import numpy as np
from _common import settings_from_pairs, trained_language_model

from keras_posemb import files
from keras_posemb.analysis import extrapolation
from keras_posemb.training import language_model

FAMILIES = ("rotary", "alibi", "t5", "none")
WAYS = ("full", "window", "sinks", "recompute")


def stream_ids(validation: np.ndarray, streams: int, length: int) -> np.ndarray:
    """`streams` consecutive, non-overlapping stretches of `length` tokens."""
    streams = min(streams, len(validation) // length)
    if streams == 0:
        raise SystemExit(
            f"error: the validation text has {len(validation):,} tokens, fewer than one stream "
            f"of {length:,}; lower --factor."
        )
    return validation[: streams * length].reshape(streams, length)


def losses_of(way: str, model, ids: np.ndarray, window: int, sinks: int) -> np.ndarray:
    if way == "recompute":
        return extrapolation.recomputed_losses(model, ids, window)
    if way == "full":
        return extrapolation.streaming_losses(model, ids)
    if way == "window":
        return extrapolation.streaming_losses(model, ids, "window", window=window)
    return extrapolation.streaming_losses(model, ids, "sinks", window=window - sinks, sinks=sinks)


def run_one(args, family, log) -> dict:
    result_path = args.output_dir / "results" / f"{family}.json"
    if result_path.exists():
        return json.loads(result_path.read_text())
    log(f"{family}: training (or reading back) {args.output_dir / family}")
    config, metrics, model = trained_language_model(
        args.output_dir / family, args.text, args.settings, position=family
    )
    context = config.max_length
    ids = stream_ids(
        language_model.load_text(config).validation, args.streams, args.factor * context
    )
    result = {"family": family, "val_loss": metrics["val_loss"], "context": context,
              "streams": len(ids), "length": ids.shape[1], "ways": {}}  # fmt: skip
    for way in WAYS:
        start = time.perf_counter()
        losses = losses_of(way, model, ids, args.window, args.sinks)
        seconds = time.perf_counter() - start
        result["ways"][way] = {
            "by_position": losses.mean(axis=0).tolist(),
            "first_context": float(losses[:, :context].mean()),
            "beyond_context": float(losses[:, context:].mean()),
            "tokens_per_second": losses.size / seconds,
        }
        log(f"  {way}: {result['ways'][way]['beyond_context']:.3f} beyond the context")
    result_path.parent.mkdir(parents=True, exist_ok=True)
    files.atomic_write_json(result_path, result)
    return result


def table(results) -> str:
    lines = [
        "| family | way | loss, first context | loss, beyond it | tokens/s |",
        "|---|---|---:|---:|---:|",
    ]
    for result in results:
        for way in WAYS:
            entry = result["ways"][way]
            lines.append(
                f"| {result['family']} | {way} | {entry['first_context']:.3f} | "
                f"{entry['beyond_context']:.3f} | {entry['tokens_per_second']:,.0f} |"
            )
    return "\n".join(lines)


def findings(results) -> list[str]:
    """Whether window-only attention collapses and sinks hold, per family."""
    lines = []
    for result in results:
        ways = {way: entry["beyond_context"] for way, entry in result["ways"].items()}
        lines.append(
            f"{result['family']}: beyond the context, window {ways['window']:.3f} vs sinks "
            f"{ways['sinks']:.3f} ({ways['sinks'] - ways['window']:+.3f}), recompute "
            f"{ways['recompute']:.3f}, full cache {ways['full']:.3f}."
        )
    return lines


def plot(results, bin_size, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.6), sharey=True)
    for ax, result in zip(np.atleast_1d(axes), results):
        for way in WAYS:
            losses = np.asarray(result["ways"][way]["by_position"])
            bins = len(losses) // bin_size
            binned = losses[: bins * bin_size].reshape(bins, bin_size).mean(axis=1)
            ax.plot((np.arange(bins) + 0.5) * bin_size, binned, label=way)
        ax.axvline(result["context"], color="gray", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.set_title(result["family"])
        ax.set_xlabel("position in the stream")
    np.atleast_1d(axes)[0].set_ylabel("loss (nats per character)")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    figure.tight_layout()
    with files.replacing(path, suffix=".png") as temporary:
        figure.savefig(temporary, format="png", dpi=110)
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--text", type=Path, default=None, help="a text file (default: the built-in text)"
    )
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--factor", type=int, default=64, help="stream length / context")
    parser.add_argument("--streams", type=int, default=8, help="streams scored side by side")
    parser.add_argument("--window", type=int, default=64, help="tokens a rolling cache keeps")
    parser.add_argument("--sinks", type=int, default=4, help="of --window, the first tokens kept")
    parser.add_argument("--bin", type=int, default=32, help="positions per point of the plot")
    parser.add_argument("--output-dir", type=Path, default=Path("runs/streaming"))
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a trainer setting, e.g. --set steps=200")  # fmt: skip
    args = parser.parse_args(argv)
    if not 0 < args.sinks < args.window:
        parser.error(f"--sinks must be in [1, --window - 1]; received --sinks {args.sinks}")
    args.settings = settings_from_pairs(language_model.LanguageModelConfig, args.set)
    args.output_dir.mkdir(parents=True, exist_ok=True)

    def log(message):
        print(message, flush=True)

    results = [run_one(args, family, log) for family in args.families.split(",")]
    machine = f"{platform.machine()}, {keras.backend.backend()}, Keras {keras.__version__}"
    source = args.text or args.settings.get("download") or "built-in"
    first = results[0]
    text = (
        f"Text: {source}; {first['streams']} streams of {first['length']:,} tokens "
        f"({args.factor}x the context of {first['context']}); window {args.window}, sinks "
        f"{args.sinks} + window {args.window - args.sinks}; {machine}.\n\n{table(results)}\n\n"
        + "\n".join(findings(results))
        + "\n"
    )
    print(text)
    files.atomic_write_json(args.output_dir / "summary.json", {"runs": results})
    files.atomic_write_text(args.output_dir / "summary.md", text)
    plot(results, args.bin, args.output_dir / "streaming.png")


if __name__ == "__main__":
    main()
