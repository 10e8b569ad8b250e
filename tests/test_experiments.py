import dataclasses
import json
from pathlib import Path

import helpers
import numpy as np
import pytest
from helpers import run_main, run_script

from keras_posemb import families, models, training
from keras_posemb.analysis import plots, viz
from keras_posemb.analysis.plots import plot_file_name
from keras_posemb.cli import plot as plot_cli
from keras_posemb.errors import RunError
from keras_posemb.training import compare as experiments
from keras_posemb.training.text import TextSession

ROOT = Path(__file__).resolve().parents[1]
# Short sentences and table, one epoch: the comparison trains many runs.
TINY = {**helpers.TINY, "epochs": 1, "max_words": 8, "max_length": 16, "plots": False}


def test_extrapolation_bands():
    assert experiments.extrapolation_bands(16) == [
        (1.0, 5, 16),
        (1.5, 17, 24),
        (2.0, 25, 32),
        (4.0, 33, 64),
        (8.0, 65, 128),
    ]


def test_summarize_hand_made_runs():
    runs = [
        {"position": "none", "seed": 0, "test_accuracy": 0.5, "examples_per_second": 100.0},
        {"position": "none", "seed": 1, "test_accuracy": 0.6, "examples_per_second": 300.0},
        {"position": "learned", "seed": 0, "test_accuracy": 0.9, "examples_per_second": 10.0},
    ]
    summary = experiments.summarize(runs)
    assert summary["none"] == {
        "test_accuracy_mean": pytest.approx(0.55),
        "test_accuracy_std": pytest.approx(0.05),
        "examples_per_second": 200.0,
    }
    assert summary["learned"]["test_accuracy_std"] == 0.0


# An absolute table (with its error past the end) and a relative bias.
COMPARED = ("learned", "alibi")


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    config = training.TrainConfig(**TINY, output_dir=str(out))
    results = experiments.compare_encodings(
        config, seeds=2, positions=COMPARED, log=lambda *a: None
    )
    experiments.write_results(results, str(out))
    return results, out


def test_comparison_runs_every_encoding_and_seed(comparison):
    results, out = comparison
    assert [(r["position"], r["seed"]) for r in results["runs"]] == [
        (p, s) for p in COMPARED for s in (0, 1)
    ]
    for position, entry in results["summary"].items():
        accuracies = [r["test_accuracy"] for r in results["runs"] if r["position"] == position]
        assert entry["test_accuracy_mean"] == pytest.approx(np.mean(accuracies))
        assert entry["test_accuracy_std"] == pytest.approx(np.std(accuracies))
    for name in ("comparison.md", "comparison.json", "accuracy.png", "extrapolation.png"):
        assert (out / name).exists()
    assert json.loads((out / "comparison.json").read_text())["summary"] == results["summary"]


def test_a_comparison_run_again_reads_its_finished_runs_back(comparison, monkeypatch):
    results, out = comparison

    def no_training(self, config, run, *args, **kwargs):
        raise AssertionError(f"trained {run.directory} again")

    monkeypatch.setattr(TextSession, "__init__", no_training)
    config = training.TrainConfig(**TINY, output_dir=str(out))
    again = experiments.compare_encodings(config, seeds=2, positions=COMPARED, log=print)
    assert again["summary"] == results["summary"]
    changed = dataclasses.replace(config, learning_rate=config.resolved_learning_rate() / 2)
    with pytest.raises(RunError, match=r"learned_seed0 holds a run made with other settings"):
        experiments.compare_encodings(changed, seeds=1, positions=("learned",))


def test_learned_table_errors_past_max_length_and_others_extrapolate(comparison):
    results, out = comparison
    bands = {p: e["extrapolation"] for p, e in results["summary"].items()}
    assert [(b["min_words"], b["max_words"]) for b in bands["learned"]] == [
        (5, 8),
        (9, 12),
        (13, 16),
        (17, 32),
        (33, 64),
    ]
    for band in bands["learned"][3:]:
        assert "positions must lie in [0, 16)" in band["error"]
    assert all("accuracy_mean" in b for b in bands["learned"][:3])
    assert all(0 <= b["accuracy_mean"] <= 1 for b in bands["alibi"])
    table = (out / "comparison.md").read_text()
    assert "| learned |" in table and "error" in table and "4x: 17-32 words" in table


def test_extrapolation_plot_shows_the_full_range_and_marks_errors(comparison):
    results, _ = comparison
    ax = experiments.plot_extrapolation(results).axes[0]
    assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] >= 1
    spans = sorted(patch.get_x() for patch in ax.patches)  # The 4x and 8x bands, shaded.
    assert spans == [17, 33]
    assert ax.patches[0].get_label() == "learned: no accuracy (past its table)"
    learned = next(line for line in ax.get_lines() if line.get_label() == "learned")
    assert np.isnan(learned.get_ydata()[-2:]).all()  # No accuracy drawn where there is none.
    encodings = [line for line in ax.get_lines() if line.get_label() in results["summary"]]
    assert not any(0 in line.get_ydata() for line in encodings)  # Never a drawn 0.


def test_accuracy_bars_are_labelled_with_their_means(comparison):
    results, _ = comparison
    ax = experiments.plot_comparison(results).axes[0]
    labels = [text.get_text() for text in ax.texts]
    means = [entry["test_accuracy_mean"] for entry in results["summary"].values()]
    assert labels == [f"{mean:.4f}" for mean in means]


# demos/plot_position_embeddings.py


def plot_demo(*args):
    return run_script("demos/plot_position_embeddings.py", *args)


SMALL = dict(
    vocab_size=20, num_classes=2, max_length=24, embed_dim=8, num_heads=2, ff_dim=8, num_layers=1
)


PLOTS = {
    "learned": ["heatmaps", "similarity", "offset_similarity", "pca", "spectrum"],
    "sinusoidal": ["heatmaps", "similarity", "offset_similarity", "pca", "spectrum"],
    "rotary": ["rotary"],
    "alibi": ["bias_by_offset"],
    "t5": ["bias_by_offset"],
}


@pytest.mark.parametrize("position", PLOTS)
def test_plot_command_writes_every_plot_of_the_kind(position, tmp_path, capsys):
    """In this process (the demo script itself runs in the test below)."""
    models.build_text_classifier(**SMALL, position=position).save(tmp_path / "model.keras")
    argv = [str(tmp_path / "model.keras"), "--output-dir", str(tmp_path / "plots")]
    status, out, err = run_main(plot_cli.main, argv, capsys)
    assert status == 0, err
    written = sorted(path.name for path in (tmp_path / "plots").iterdir())
    assert written == sorted(plot_file_name(kind) for kind in PLOTS[position])
    for name in written:
        assert (tmp_path / "plots" / name).read_bytes()[:4] == b"\x89PNG"
    learned = position in ("learned", "t5")
    assert ("nothing was learned" in out) == (not learned)


def test_plot_demo_rejects_a_model_without_position_layer(tmp_path):
    models.build_text_classifier(**SMALL, position="none").save(tmp_path / "model.keras")
    result = plot_demo(str(tmp_path / "model.keras"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "no position information" in last
    missing = plot_demo(str(tmp_path / "nothing_here"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_plot_demo_draws_a_learned_table_whole_by_default(tmp_path, monkeypatch):
    """A 100-row table is drawn with 100 rows, not cut at 64 positions."""
    model = models.build_text_classifier(**{**SMALL, "max_length": 100}, position="learned")
    model.save(tmp_path / "model.keras")
    drawn = {}

    def record(model, output_dir, length=None, trained_length=None):
        drawn["rows"] = len(plots.position_table(model, length)[1])
        return [], True

    monkeypatch.setattr(plots, "write_position_plots", record)
    plot_cli.main([str(tmp_path / "model.keras"), "--output-dir", str(tmp_path / "plots")])
    assert drawn["rows"] == 100
    plot_cli.main([str(tmp_path / "model.keras"), "--length", "30"])
    assert drawn["rows"] == 30


def test_offset_similarity_and_spectrum_of_known_tables():
    n = 64
    p = np.arange(n)[:, None]
    table = np.hstack([np.sin(2 * np.pi * 5 * p / n), 3 * np.cos(2 * np.pi * 9 * p / n)])
    frequencies, amplitudes = viz.spectrum(table)
    assert np.argmax(amplitudes[:, 0]) == 5 and amplitudes[5, 0] == pytest.approx(0.5)
    assert np.argmax(amplitudes[:, 1]) == 9 and amplitudes[9, 1] == pytest.approx(1.5)
    assert frequencies[5] == pytest.approx(2 * np.pi * 5 / n)
    by_offset = viz.similarity_by_offset(np.hstack([np.sin(0.3 * p), np.cos(0.3 * p)]))
    np.testing.assert_allclose(by_offset, np.cos(0.3 * np.arange(n)), atol=1e-12)


def test_a_plot_length_past_what_the_layers_encode_is_one_error_line(tmp_path, capsys):
    status, _, err = helpers.run_main(plot_cli.main, [str(tmp_path), "--length", "300000"], capsys)
    assert status == 2 and err.count("\n") == 1
    assert "argument --length: must be an int in [1, 262,144]" in err


@pytest.mark.backends("tensorflow")
def test_plot_finds_the_position_layer_inside_the_raw_text_model(tmp_path, capsys):
    """`text_model.keras` wraps the classifier with its vectorizer (issue 22)."""
    from keras_posemb import data
    from keras_posemb.runs import serving

    model = models.build_text_classifier(
        50, 2, 16, embed_dim=8, num_heads=2, ff_dim=8, num_layers=1
    )
    vectorizer = data.make_vectorizer(["the dog chased the cat", "the cat ran"], 50)
    serving.build_string_classifier(model, vectorizer).save(tmp_path / "text_model.keras")
    argv = [str(tmp_path / "text_model.keras"), "--output-dir", str(tmp_path / "plots")]
    status, out, err = helpers.run_main(plot_cli.main, argv, capsys)
    assert status == 0, err
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(
        plot_file_name(name) for name in plots.view_of(families.get("sinusoidal")).plots
    )
