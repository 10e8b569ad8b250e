"""The benchmark scripts run, at tiny sizes, and measure what they say."""

import importlib.util
import json
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import run_process
from reference import installed_backends

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
pytestmark = pytest.mark.benchmark


def run_script(name, *args, backend=None, block_tensorflow=False):
    """Runs benchmarks/<name> in a fresh process; TensorFlow can be made unimportable."""
    code = (
        "import runpy, sys\n"
        + ("sys.modules['tensorflow'] = None  # As where TensorFlow is not installed.\n" if block_tensorflow else "")
        + f"sys.path.insert(0, {str(BENCHMARKS)!r})\n"
        + f"sys.argv = [{name!r}, *{list(args)!r}]\n"
        + f"runpy.run_path({str(BENCHMARKS / name)!r}, run_name='__main__')\n"
    )  # fmt: skip
    result = run_process(["-c", code], backend=backend)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


# The studies run under JAX, as their commands in the docs do: JAX starts
# and compiles a small model in a fraction of TensorFlow's time.
STUDY_BACKEND = "jax"


def load(name):
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_timings_are_medians_of_per_call_means():
    timing = load("_common")
    calls = iter([0.001, 0.001, 0.001, 0.002, 0.002, 0.002, 0.1, 0.1, 0.1])
    result = keras.ops.convert_to_tensor(1.0)

    def slow(x):
        import time

        time.sleep(next(calls))
        return result

    # Three rounds of 1, 2 and 100 ms per call: the median is 2, the mean 34.
    assert timing.median_ms(slow, 1.0, calls=3, rounds=3) == pytest.approx(2, abs=1.5)
    layer_forward = load("layer_forward")
    assert layer_forward.median_over_rounds({"a": [1.0, 2.0, 100.0]}) == {"a": 2.0}
    with pytest.raises(SystemExit):  # An unknown group is refused before anything runs.
        layer_forward.main(["--groups", "grid,nope"])


@pytest.mark.all_backends
@pytest.mark.backends("tensorflow", "jax")
def test_layer_forward_measures_every_layer_in_every_mode():
    flags = ["--batch", "2", "--length", "16", "--width", "8", "--heads", "2", "--bias-length", "8"]
    out = run_script("layer_forward.py", *flags, "--grid", "4", "--rounds", "2", "--calls", "2")
    backend = keras.backend.backend()
    modes = ["eager", "tf.function", "XLA"] if backend == "tensorflow" else ["op by op", "jax.jit"]
    headers = [line for line in out.splitlines() if line.startswith("| layer |")]
    assert len(headers) == 5 and all(f"{mode} / bare" in h for h in headers for mode in modes)
    for name in ("SinusoidalEncoding", "PositionEmbedding", "RotaryEmbedding", "AlibiBias"):
        assert f"| {name} |" in out
    for name in ("SinusoidalEncoding2D", "PositionEmbedding2D", "RotaryEmbedding2D (axial)"):
        assert f"| {name} |" in out
    assert "| RelativePositionBias (T5) |" in out


def test_precision_benchmark_bounds_both_encodings():
    out = run_script("precision.py", "--positions", "5000", "--width", "16")
    rows = [
        line.split("|") for line in out.splitlines() if line.startswith("| ") and "ulp" not in line
    ]
    ours = {
        (r[1].strip(), r[2].strip()): (float(r[3]), float(r[4]))
        for r in rows
        if "keras_hub" not in r[1]
    }
    assert len(ours) == 6  # Two layers, three policies.
    for (name, policy), (error, two_ulp) in ours.items():
        assert error <= two_ulp, (name, policy, error)


@pytest.mark.other_lane
@pytest.mark.parametrize("backend", [b for b in installed_backends() if b != "tensorflow"])
def test_accelerator_benchmark_runs_without_tensorflow(backend):
    # aot_eager: torch.compile traces without generating code (seconds, not a minute).
    flags = ["--small", "--torch-compile-backend", "aot_eager"]
    out = run_script("accelerator.py", *flags, backend=backend, block_tensorflow=True)
    assert f"backend {backend}" in out and "TensorFlow imported: False" in out
    for part in (
        "| SinusoidalEncoding | bfloat16 |",
        "| PositionEmbedding |",
        "| mixed_bfloat16 | 64 |",
    ):
        assert part in out


@pytest.mark.other_lane
def test_fault_benchmark_survives_a_kill_a_signal_two_trainers_and_user_files():
    moments = "checkpoint,signal,concurrent,user_files"
    out = run_script("faults.py", "--trials", "1", "--kills", "1", "--moments", moments)
    for row in (
        "| checkpoint | 1 | 1 of 1 |",
        "| signal | ",
        "| concurrent | 0 | 1 of 1 |",
        "| user_files | 0 | 1 of 1 |",
    ):
        assert row in out, out
    assert "FAILED" not in out and "1 of 1 |" in out.split("| signal |")[1].splitlines()[0]


def test_real_data_benchmark_compares_recipes_on_the_same_splits(tmp_path):
    """Ours and the keras.io anchor on files shaped like the real ones."""
    rng = np.random.default_rng(0)
    words = {0: ["dull", "bad", "boring", "flat"], 1: ["fine", "good", "moving", "sharp"]}

    def rows(n, header):
        labels = rng.integers(0, 2, n)
        lines = [f"{y}\tthe film is {' '.join(rng.choice(words[y], 3))}" for y in labels]
        return "\n".join([header, *lines]) + "\n"

    (tmp_path / "sst2").mkdir()
    (tmp_path / "sst2" / "train.tsv").write_text(rows(300, "label\tsentence"))
    (tmp_path / "sst2" / "dev.tsv").write_text(rows(60, "label\tcontent"))
    (tmp_path / "cr").mkdir()
    (tmp_path / "cr" / "all.tsv").write_text(rows(200, "label\tsentence"))
    out = tmp_path / "out"
    flags = ["--data-dir", str(tmp_path), "--runs", "2", "--contenders", "ours,keras.io"]
    small = [
        "epochs=2",
        "embed_dim=16",
        "num_heads=2",
        "ff_dim=16",
        "num_layers=1",
        "max_length=16",
    ]
    printed = run_script(
        "real_data.py",
        *flags,
        "--datasets",
        "sst2,cr",
        "--output-dir",
        str(out),
        *(f"--flag={f}" for f in small),
    )
    report = json.loads((out / "real_data.json").read_text())
    for dataset, entry in report["datasets"].items():
        assert [sorted(run) for run in entry["runs"]] == [["keras.io", "ours"]] * 2
        accuracies = [run["ours"]["accuracy"] for run in entry["runs"]]
        assert entry["summary"]["ours"]["mean"] == pytest.approx(np.mean(accuracies))
        assert entry["summary"]["ours"]["worst"] == min(accuracies)
        paired = [run["ours"]["accuracy"] - run["keras.io"]["accuracy"] for run in entry["runs"]]
        assert entry["summary"]["keras.io"]["ours_minus_this"]["mean"] == pytest.approx(
            np.mean(paired)
        )
        assert f"{dataset}, 2 runs:" in printed
    assert report["flags"]["epochs"] == 2


def test_backend_demo_trains_each_position_in_a_fresh_process():
    tiny = ["--order-train-size", "64", "--epochs", "1", "--embed-dim", "8", "--num-heads", "2",
            "--ff-dim", "8", "--num-layers", "1", "--max-words", "8", "--max-length", "16", "--no-plots"]  # fmt: skip
    printed = run_script(
        "backend_demo.py", "--backends", "tensorflow", "--positions", "none,rotary", *tiny
    )
    rows = [
        line.split("|")[1:-1] for line in printed.splitlines() if line.startswith("| tensorflow")
    ]
    assert [row[1].strip() for row in rows] == ["none", "rotary"]
    for row in rows:
        assert row[5].strip() == "1"  # Epochs: the flags reached the trainer.
        assert 0.0 <= float(row[6]) <= 1.0
        assert [float(v) for v in row[7].split()] == [pytest.approx(0.5, abs=0.5)]  # One epoch.


def test_generation_benchmark_checks_cached_against_recomputed_tokens():
    flags = ["--positions", "rotary,learned", "--new-tokens", "3", "--width", "8", "--layers", "1"]
    out = run_script("generation.py", *flags, "--heads", "2", "--batch", "2")
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| ") and "x |" in line]
    assert [row[1].strip() for row in rows] == ["rotary", "learned"]
    for row in rows:  # Each rate, and the ratio to the faster recomputation.
        cached, ratio = float(row[2]), float(row[4].strip()[:-1])
        recomputed = max(float(rate) for rate in row[3].split(","))
        assert ratio == pytest.approx(cached / recomputed, rel=0.1, abs=0.05)


def test_generation_benchmark_accepts_a_departure_only_at_a_tie():
    check = load("generation").check_same_tokens
    logits = np.zeros((1, 3, 4), "float32")
    logits[0, 1] = [0.5, 0.2, 0.5, 0.1]  # Tokens 0 and 2 tie after position 1.
    forward = lambda ids: logits  # noqa: E731
    cached = np.array([[1, 3, 0]])
    check(forward, cached, cached.copy(), "same")
    check(forward, cached, np.array([[1, 3, 2]]), "tie")
    with pytest.raises(AssertionError, match=r"differ at token 2"):
        check(forward, cached, np.array([[1, 3, 1]]), "not a tie")


def test_rope_variants_match_hugging_faces_functions():
    pytest.importorskip("transformers", reason="the optional cross-check needs transformers")
    out = run_script("rope_parity.py")
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| ")][1:]
    assert len(rows) == len(load("rope_parity").CASES)
    for row in rows:
        ours, theirs = (float(v) for v in row[3].split(","))
        assert float(row[2]) < 1e-6 and ours == pytest.approx(theirs, rel=1e-6), row


def test_attention_cost_benchmark_measures_each_layer_in_its_own_process():
    flags = ["--lengths", "16,32", "--steps", "1", "--key-dim", "4"]
    out = run_script("attention_cost.py", *flags, backend=STUDY_BACKEND)
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| ") and "ms" not in line]  # fmt: skip
    assert [row[0].strip() for row in rows] == ["16", "32"]
    for row in rows:  # Milliseconds and MiB for each of the four layers.
        assert len(row) == 5 and all(float(v) > 0 for cell in row[1:] for v in cell.split(",")), row


def test_lm_extrapolation_study_trains_evaluates_and_summarizes(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("to be or not to be, that is the question.\n" * 60)
    small = ["steps=4", "eval_interval=2", "embed_dim=16", "num_heads=2", "num_layers=1",
             "max_length=8", "batch_size=4"]  # fmt: skip
    flags = ["--text", str(text), "--families", "rotary,learned", "--seeds", "0,1",
             "--fine-tune-steps", "1", "--output-dir", str(tmp_path / "out")]  # fmt: skip
    out = run_script(
        "lm_extrapolation.py", *flags, *(f"--set={s}" for s in small), backend=STUDY_BACKEND
    )
    report = json.loads((tmp_path / "out" / "summary.json").read_text())
    runs, summary = report["runs"], report["summary"]
    assert [(r["family"], r["seed"]) for r in runs] == [
        ("rotary", 0), ("learned", 0), ("rotary", 1), ("learned", 1)
    ]  # fmt: skip
    rotary = [r for r in runs if r["family"] == "rotary"]
    for kind in ("windows", "sliding"):
        want = np.mean([r[kind]["8"] for r in rotary])
        assert summary["rotary"][kind]["8"]["mean"] == pytest.approx(want)
        assert summary["learned"][kind]["2"] is None  # a learned table ends at 8 positions
    assert set(summary["rotary"]["extensions"]) == {"linear", "ntk", "dynamic", "yarn"}
    assert set(summary["rotary"]["fine_tuned_linear_4x"]) == {"4", "8"}
    assert "Bar: ALiBi" not in out and "Bar: rotary (the default) at 1x" in out
    assert (tmp_path / "out" / "lm_extrapolation.png").stat().st_size > 0
    # A rerun reads the results back instead of training again.
    again = run_script(
        "lm_extrapolation.py", *flags, *(f"--set={s}" for s in small), backend=STUDY_BACKEND
    )
    assert "training" not in again


def test_length_generalization_study_scores_exact_match_and_resumes(tmp_path):
    flags = ["--tasks", "copy,parity", "--families", "rotary,learned", "--seeds", "0",
             "--max-train-length", "4", "--max-test-length", "10", "--steps", "2",
             "--examples", "3", "--layers", "1", "--width", "8", "--heads", "2",
             "--output-dir", str(tmp_path / "out")]  # fmt: skip
    out = run_script("length_generalization.py", *flags, backend=STUDY_BACKEND)
    report = json.loads((tmp_path / "out" / "summary.json").read_text())
    runs, summary = report["runs"], report["summary"]
    assert [(r["task"], r["family"]) for r in runs] == [
        ("copy", "rotary"), ("copy", "learned"), ("parity", "rotary"), ("parity", "learned")
    ]  # fmt: skip
    lengths = list(range(1, 11))  # Every length to 10: 2.5x; 5x is past it.
    for run in runs:
        assert sorted(map(int, run["accuracy"])) == lengths
        fits = run["family"] != "learned"  # A learned table ends with the training lengths.
        assert all((run["accuracy"][str(n)] is not None) == (fits or n <= 4) for n in lengths)
        assert all(0 <= v <= 1 for v in run["accuracy"].values() if v is not None)
        # Three examples per length: exact match comes in thirds.
        assert all(round(3 * v) == 3 * v for v in run["accuracy"].values() if v is not None)
    assert set(summary["copy"]["rotary"]) == {"train", "2.5x"}
    assert summary["copy"]["learned"]["2.5x"] is None
    assert "| rotary | " in out and (tmp_path / "out" / "length_generalization.png").exists()
    again = run_script("length_generalization.py", *flags, backend=STUDY_BACKEND)
    assert again.count("finished before, read back") == 4


@pytest.mark.other_lane
def test_streaming_study_scores_each_way_of_caching(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("to be or not to be, that is the question.\n" * 60)
    small = ["steps=4", "eval_interval=2", "embed_dim=16", "num_heads=2", "num_layers=1",
             "max_length=8", "batch_size=4"]  # fmt: skip
    flags = ["--text", str(text), "--families", "rotary,alibi", "--factor", "4", "--streams", "2",
             "--window", "6", "--sinks", "2", "--bin", "4", "--output-dir", str(tmp_path / "out")]  # fmt: skip
    out = run_script("streaming.py", *flags, *(f"--set={s}" for s in small), backend=STUDY_BACKEND)
    runs = json.loads((tmp_path / "out" / "summary.json").read_text())["runs"]
    assert [run["family"] for run in runs] == ["rotary", "alibi"]
    for run in runs:
        ways = run["ways"]
        assert set(ways) == {"full", "window", "sinks", "recompute"}
        assert run["streams"] == 2 and len(ways["full"]["by_position"]) == 31
        # One layer: a rolling window of 6 is the recomputation over the last 6 tokens.
        np.testing.assert_allclose(ways["window"]["by_position"], ways["recompute"]["by_position"],
                                   rtol=1e-4)  # fmt: skip
        assert ways["sinks"]["beyond_context"] != ways["window"]["beyond_context"]
    assert "| rotary | sinks |" in out and "alibi: beyond the context, window" in out
    assert (tmp_path / "out" / "streaming.png").stat().st_size > 0
    again = run_script(
        "streaming.py", *flags, *(f"--set={s}" for s in small), backend=STUDY_BACKEND
    )
    assert "training" not in again


def test_keras_hub_decoder_comparison_measures_both_models():
    pytest.importorskip("keras_hub", reason="the optional comparison needs keras-hub")
    tiny = ["--steps", "2", "--new-tokens", "4", "--width", "16", "--layers", "1", "--heads", "2"]
    out = run_script("keras_hub_decoder.py", *tiny)
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| keras")]
    assert [row[0].strip() for row in rows] == ["keras_posemb", "keras_hub GPT-NeoX"]
    for row in rows:
        assert all(float(cell.replace(",", "")) > 0 for cell in row[1:]), row


def test_resolution_study_trains_resizes_and_summarizes(tmp_path):
    small = ["epochs=1", "patch_size=8", "embed_dim=16", "num_heads=2", "ff_dim=16",
             "num_layers=1", "batch_size=256"]  # fmt: skip
    flags = ["--families", "learned_2d,rotary_2d", "--seeds", "0", "--sizes", "16,32",
             "--output-dir", str(tmp_path / "out")]  # fmt: skip
    out = run_script(
        "resolution_study.py", *flags, *(f"--set={s}" for s in small), backend=STUDY_BACKEND
    )
    report = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert sorted(report["summary"]) == ["larger canvas", "rescaled"]
    for by_variant in report["summary"].values():
        assert sorted(by_variant) == ["learned_2d bicubic", "learned_2d bilinear", "rotary_2d"]
    trained = json.loads((tmp_path / "out" / "learned_2d_seed0" / "metrics.json").read_text())
    # At the trained size both ways give the trained test scenes unchanged,
    # and resizing changes nothing: the trainer's own test accuracy.
    for by_variant in report["summary"].values():
        cell = by_variant["learned_2d bicubic"]["32"]
        assert cell["mean"] == pytest.approx(trained["test_accuracy"], abs=1e-6) and cell["n"] == 1
    assert "| rotary_2d |" in out and (tmp_path / "out" / "resolution_study.png").exists()
    again = run_script(
        "resolution_study.py", *flags, *(f"--set={s}" for s in small), backend=STUDY_BACKEND
    )
    assert "training" not in again
