import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from helpers import TINY_FLAGS, run_main, run_python

from keras_posemb.cli import compare, predict, train
from keras_posemb.runs.run import Run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli_run")
    train.main([*TINY_FLAGS, "--position", "learned", "--output-dir", str(out), "--no-plots"])
    return out


def test_help_shows_every_flag_with_its_default_once(capsys):
    status, out, _ = run_main(train.main, ["--help"], capsys)
    assert status == 0
    text = " ".join(out.split())
    for flag in ("--dataset", "--validation-file", "--test-file", "--data-dir", "--download",
                 "--position", "--output-dir", "--overwrite", "--epochs", "--patience",
                 "--batch-size", "--max-length", "--seed", "--mixed-precision", "--jit-compile",
                 "--strategy", "--learning-rate", "--warmup-fraction", "--encoding", "--debug"):  # fmt: skip
        assert flag in text, flag
    assert "(default: order)" in text and "(default: 64)" in text
    # A default said in the help text is not repeated as "(default: None)".
    assert "default: about 3,000 optimizer steps" in text and "(default: None)" not in text
    assert "(default: --norm-first)" in text
    assert text.count("(default:") == len(
        [line for line in out.splitlines() if "(default:" in line]
    )
    assert "default: a seeded 10% of the training file)" in text
    assert "(default: a seeded 10% of the training file) (default" not in text
    # The examples keep their line breaks.
    assert "\n  keras-posemb-train --position learned\n" in out


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--batch-size", "0"], "--batch-size must be a positive int; received --batch-size 0"),
        (["--vocab-size", "1"], "--vocab-size must be an int >= 3; received --vocab-size 1"),
        (["--max-length", "0"], "received --max-length 0"),
        (
            ["--embed-dim", "30", "--num-heads", "4"],
            "--num-heads must be a divisor of --embed-dim 30; received --num-heads 4",
        ),
        (
            ["--seed", "4294967296"],
            "--seed must be an int in [0, 4,294,967,295]; received --seed 4294967296",
        ),
        (
            ["--encoding", "rot13"],
            "--encoding must be a text encoding Python knows, such as utf-8; received --encoding rot13",
        ),
        (["--dropout", "1.5"], "--dropout must be a number in [0, 1); received --dropout 1.5"),
        (["--epochs", "-3"], "received --epochs -3"),
        (["--epochs", "0"], "received --epochs 0"),
        (["--warmup-fraction", "2.0"], "received --warmup-fraction 2.0"),
        (["--order-train-size", "3"], "received --order-train-size 3"),
        (["--epochs", "many"], "argument --epochs: invalid int value: 'many'"),
        (["--position", "sideways"], "argument --position: invalid choice: 'sideways'"),
        (["--test-file", "t.tsv"], "applies to local files only; received --test-file t.tsv"),
        (
            ["--dataset", "missing.tsv"],
            "--dataset must be an existing file or directory; received --dataset missing.tsv",
        ),
        # Flags the chosen data ignores: errors, never silently dropped.
        (
            ["--dataset", "imdb_reviews", "--max-words", "8"],
            "--max-words must be left out here: it applies only with --dataset order; received",
        ),
        (
            ["--data-dir", "tfds"],
            "--data-dir must be left out here: it applies only with a tensorflow-datasets name as --dataset",
        ),
        (["--download"], "--download must be left out here"),
        (
            ["--encoding", "latin-1"],
            "--encoding must be left out here: it applies only with a local file",
        ),
    ],
)
def test_every_bad_flag_is_one_error_line_with_status_2(flags, expected, capsys, tmp_path):
    status, out, err = run_main(train.main, [*flags, "--output-dir", str(tmp_path / "run")], capsys)
    assert status == 2 and err.count("\n") == 1 and err.startswith("error: ")
    assert expected in err, err
    assert not (tmp_path / "run").exists()  # Nothing read or written.


def test_an_empty_output_dir_is_refused(capsys, tmp_path):
    status, _, err = run_main(train.main, ["--output-dir", ""], capsys)
    assert status == 2 and "--output-dir must be a path (or None for the default)" in err


def test_a_backend_that_is_unknown_or_not_installed_is_one_error_line(
    capsys, monkeypatch, tmp_path
):
    import importlib.util

    from keras_posemb.cli import predict as predict_cli

    monkeypatch.setenv("KERAS_BACKEND", "theano")
    status, _, err = run_main(predict_cli.main, ["run", "text"], capsys)
    assert status == 2 and err.count("\n") == 1
    assert "KERAS_BACKEND='theano' is not a backend keras-posemb supports" in err
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "jax" else find_spec(n, *a)
    )
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    status, _, err = run_main(predict_cli.main, ["run", "text"], capsys)
    assert status == 2 and err.count("\n") == 1
    assert 'but jax is not installed: pip install "keras-posemb[jax]"' in err
    # Without KERAS_BACKEND, Keras' default (TensorFlow where no config file says otherwise).
    monkeypatch.delenv("KERAS_BACKEND")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "tensorflow" else find_spec(n, *a)
    )
    status, _, err = run_main(predict_cli.main, ["run", "text"], capsys)
    assert status == 2 and err.count("\n") == 1
    assert "Keras' backend is tensorflow (its default here) but tensorflow is not installed" in err
    assert 'pip install "keras-posemb[tensorflow]"' in err


def test_missing_validation_file_and_a_file_as_output_dir(capsys, tmp_path):
    data = tmp_path / "data.tsv"
    data.write_text("label\ttext\n" + "".join(f"{i % 2}\tt {i}\n" for i in range(20)))
    status, _, err = run_main(
        train.main, ["--dataset", str(data), "--validation-file", "gone.tsv"], capsys
    )
    assert status == 2 and "received --validation-file gone.tsv" in err
    status, _, err = run_main(train.main, ["--output-dir", str(data)], capsys)
    assert status == 2 and "--output-dir must be a directory or a new path" in err


def test_bad_data_is_one_line_with_file_and_line(capsys, tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("label\ttext\n1\tfine\n0\n")
    status, _, err = run_main(
        train.main, ["--dataset", str(bad), "--output-dir", str(tmp_path / "o")], capsys
    )
    assert status == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert "bad.tsv, line 3: expected 2 fields, found 1" in err


def test_debug_shows_the_traceback(capsys, tmp_path):
    status, _, err = run_main(train.main, ["--epochs", "0", "--debug"], capsys)
    assert (
        status == 2 and "Traceback" in err and err.rstrip().splitlines()[-1].startswith("error: ")
    )


def test_another_run_in_the_directory_is_refused_in_flags(finished_run, capsys):
    flags = [*TINY_FLAGS, "--position", "learned", "--output-dir", str(finished_run), "--no-plots"]
    status, _, err = run_main(train.main, [*flags, "--learning-rate", "0.01"], capsys)
    assert status == 2 and "learning_rate: the default then, 0.01 now" in err
    assert "Start afresh there with --overwrite" in err and "or use another --output-dir" in err


@pytest.mark.all_backends
def test_predict_prints_class_names_with_probabilities(finished_run, capsys):
    texts = ["the dog chased the cat", "the cat chased the dog"]
    status, out, _ = run_main(predict.main, [str(finished_run), *texts], capsys)
    assert status == 0
    lines = out.strip().splitlines()
    assert len(lines) == 2 and all(
        "larger actor" in line and "smaller actor" in line for line in lines
    )
    status, out, _ = run_main(predict.main, [str(finished_run), *texts, "--json"], capsys)
    records = json.loads(out)
    assert [r["text"] for r in records] == texts
    for record in records:
        assert set(record["probabilities"]) == {"larger actor", "smaller actor"}
        assert sum(record["probabilities"].values()) == pytest.approx(1, abs=1e-5)
        assert record["label"] == max(record["probabilities"], key=record["probabilities"].get)


def test_verbose_0_prints_nothing_as_its_help_says(tmp_path, capsys):
    argv = [*TINY_FLAGS, "--epochs", "1", "--no-plots", "--output-dir", str(tmp_path)]
    assert "--verbose" in TINY_FLAGS and TINY_FLAGS[TINY_FLAGS.index("--verbose") + 1] == "0"
    status, out, err = run_main(train.main, argv, capsys)
    assert (status, out, err) == (0, "", "")
    status, out, _ = run_main(train.main, ["--help"], capsys)
    assert "0: nothing (the results are in metrics.json)" in " ".join(out.split())


def test_predict_refuses_what_is_not_a_finished_run(tmp_path, capsys):
    status, _, err = run_main(predict.main, [str(tmp_path), "text"], capsys)
    assert status == 2 and "is not a run directory of keras-posemb" in err


def test_compare_trains_the_chosen_encodings(tmp_path, capsys):
    flags = [*TINY_FLAGS, "--epochs", "1", "--max-words", "8", "--max-length", "16"]
    argv = [*flags, "--positions", "none,learned", "--seeds", "1", "--output-dir", str(tmp_path)]
    status, out, _ = run_main(compare.main, argv, capsys)
    assert status == 0 and "| none |" in out and "| learned |" in out and "sinusoidal" not in out
    results = json.loads((tmp_path / "comparison.json").read_text())
    assert [run["position"] for run in results["runs"]] == ["none", "learned"]
    status, _, err = run_main(compare.main, ["--positions", "none,diagonal"], capsys)
    assert status == 2 and "expected a comma-separated list" in err


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    run_python(
        f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from keras_posemb.cli.train import main
        main({[*TINY_FLAGS, "--epochs", "1", "--strategy", "mirrored", "--no-plots", "--output-dir", str(tmp_path)]!r})
        """,
        cwd=tmp_path,
    )
    assert Run(tmp_path).read_metrics()["replicas"] == 2


@pytest.mark.all_backends
@pytest.mark.backends("jax")
def test_data_parallel_over_two_host_devices_under_jax(tmp_path):
    """Batches of any size (33 per device here) are padded for the split."""
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    flags = [*TINY_FLAGS, "--batch-size", "33", "--epochs", "1", "--strategy", "mirrored"]
    run_python(
        f"""
        from keras_posemb.cli.train import main
        main({[*flags, "--no-plots", "--output-dir", str(tmp_path)]!r})
        """,
        cwd=tmp_path,
        env=env,
    )
    metrics = Run(tmp_path).read_metrics()
    assert metrics["replicas"] == 2 and metrics["train_examples"] == 320


BUILD = """
import sys
from setuptools import build_meta
kind, out = sys.argv[1], sys.argv[2]
print((build_meta.build_wheel if kind == "wheel" else build_meta.build_sdist)(out))
"""


def build(kind, source, out):
    """Builds a wheel or sdist of the project at `source` with setuptools'
    PEP 517 hooks (what `pip wheel` and `python -m build` call)."""
    out.mkdir(exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-c", BUILD, kind, str(out)], cwd=source, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out / result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def sdist_and_wheel(tmp_path_factory):
    """`(sdist, wheel)`: the sdist of the repository, and the wheel built
    from it (in a fresh tree: a `build/` folder of the repository's could
    carry files removed since); built once for the module's tests."""
    import tarfile

    tmp_path = tmp_path_factory.mktemp("built")
    sdist = build("sdist", ROOT, tmp_path / "dist")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    (source,) = (tmp_path / "unpacked").iterdir()
    return sdist, build("wheel", source, tmp_path / "dist")


def test_the_wheel_and_sdist_carry_what_they_must_and_nothing_else(sdist_and_wheel):
    import tarfile
    import zipfile

    sdist, wheel = sdist_and_wheel
    with tarfile.open(sdist) as archive:
        names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
    for must in ("pyproject.toml", "README.md", "LICENSE", "keras_posemb/py.typed"):
        assert must in names, must
    assert not [name for name in names if name.startswith(("tests/", "runs/", ".venv/", ".git/"))]
    wheel = zipfile.ZipFile(wheel).namelist()
    assert "keras_posemb/py.typed" in wheel and "keras_posemb_cli/__init__.py" in wheel
    assert "keras_posemb/modeling/token_embedding.py" in wheel
    assert not [
        name for name in wheel if name.startswith(("tests/", "runs/", "benchmarks/", "demos/"))
    ]
    # Every module of the package, and nothing else of it.
    modules = sorted(
        str(path.relative_to(ROOT))
        for folder in ("keras_posemb", "keras_posemb_cli")
        for path in (ROOT / folder).rglob("*.py")
    )
    assert sorted(name for name in wheel if name.endswith(".py")) == modules


def test_console_scripts_work_after_a_plain_install_outside_the_source_tree(
    tmp_path, sdist_and_wheel
):
    """The wheel installed into a new virtual environment; the heavy
    dependencies are shared with this one (a .pth file) so that nothing is
    downloaded."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(site) / "shared_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _, wheel = sdist_and_wheel
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}
    out = tmp_path / "X"
    trained = subprocess.run(
        [str(venv / "bin" / "keras-posemb-train"), *TINY_FLAGS, "--epochs", "1", "--output-dir", str(out)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    located = subprocess.run(
        [str(python), "-c", "import keras_posemb; print(keras_posemb.__file__)"],
        capture_output=True, text=True, cwd=tmp_path, env=env,
    ).stdout  # fmt: skip
    assert located.startswith(site) and not located.startswith(str(ROOT))
    assert Run(out).is_complete()
    scripts = ["keras-posemb-plot", "keras-posemb-compare", "keras-posemb-predict"]
    for script in [
        *scripts,
        "keras-posemb-lm",
        "keras-posemb-generate",
        "keras-posemb-train-images",
    ]:
        helped = subprocess.run(
            [str(venv / "bin" / script), "--help"], capture_output=True, env=env
        )
        assert helped.returncode == 0, script
    predicted = subprocess.run(
        [str(venv / "bin" / "keras-posemb-predict"), str(out), "the dog chased the cat"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert predicted.returncode == 0 and "larger actor" in predicted.stdout


# Run directories read by predict and plot: one line, not a traceback (issue 18).


def damaged_copy(finished_run, tmp_path, name, content):
    copy = tmp_path / "run"
    subprocess.run(["cp", "-a", str(finished_run), str(copy)], check=True)
    if content is None:
        (copy / name).unlink()
    else:
        (copy / name).write_bytes(content)
    return copy


@pytest.mark.parametrize(
    "name, content, expected",
    [
        (
            "vocabulary.txt",
            None,
            "vocabulary.txt is missing or damaged (No such file or directory)",
        ),
        ("vocabulary.txt", b"the\ncat\n", "vocabulary.txt is missing or damaged"),
        ("classes.json", b"[1, 2", "classes.json is missing or damaged"),
        ("classes.json", b'["one", "two", "three"]', "names 3 classes and the model has 2 outputs"),
        ("settings.json", b"{}", "settings.json is damaged"),
        ("model.keras", b"PK\x03\x04 cut short", "model.keras is not a .keras model"),
    ],
)
def test_a_damaged_run_is_one_error_line_for_predict(
    finished_run, tmp_path, capsys, name, content, expected
):
    copy = damaged_copy(finished_run, tmp_path, name, content)
    status, _, err = run_main(predict.main, [str(copy), "the dog chased the cat"], capsys)
    assert status == 2 and err.count("\n") == 1 and expected in err, err


def test_a_truncated_model_is_damaged_not_missing(finished_run, tmp_path, capsys):
    model = (finished_run / "model.keras").read_bytes()
    copy = damaged_copy(finished_run, tmp_path, "model.keras", model[: len(model) // 2])
    status, _, err = run_main(predict.main, [str(copy), "a text"], capsys)
    assert (
        status == 2 and "model.keras is not a .keras model" in err and "File not found" not in err
    )


def hostile_files(directory):
    """`.keras` files that would run code or import a module if loaded:
    `{name: the message's part that says why}`; a marker file tells if
    anything ran."""
    import codecs
    import marshal
    import zipfile

    import keras

    inputs = keras.Input((3,))
    keras.Model(inputs, keras.layers.Dense(2, name="d")(inputs)).save(directory / "base.keras")
    marker = directory / "ran"
    code = (lambda x: open(marker, "w").close() or x).__code__  # noqa: E731
    lambda_config = {
        "name": "d",
        "function": {
            "class_name": "__lambda__",
            "config": {"code": codecs.encode(marshal.dumps(code), "base64").decode(), "defaults": None, "closure": None},
        },
        "arguments": {},
    }  # fmt: skip
    layers = {
        "os_system": ({"module": "os", "class_name": "system", "registered_name": "system"}, "asks for 'system' of module 'os', which is neither Keras' nor keras-posemb's"),
        "lambda": ({"module": "keras.layers", "class_name": "Lambda", "registered_name": None, "config": lambda_config}, "refused by Keras' safe mode: it holds a `Lambda` layer whose `function` is a Python lambda"),
        "tfsm": ({"module": "keras.layers", "class_name": "TFSMLayer", "registered_name": None, "config": {"name": "d", "filepath": str(directory), "call_endpoint": "serve"}}, "refused by Keras' safe mode: it holds a `TFSMLayer`, which loads an external SavedModel"),
    }  # fmt: skip
    with zipfile.ZipFile(directory / "base.keras") as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    for name, (layer, _) in layers.items():
        config = json.loads(contents["config.json"])
        config["config"]["layers"][1].update(layer)
        with zipfile.ZipFile(directory / f"{name}.keras", "w") as archive:
            for member, content in contents.items():
                archive.writestr(member, json.dumps(config) if member == "config.json" else content)
    return {name: why for name, (_, why) in layers.items()}, marker


def test_a_hostile_model_file_is_refused_in_one_line_saying_why(tmp_path, capsys):
    from keras_posemb.cli import plot

    files, marker = hostile_files(tmp_path)
    for name, why in files.items():
        status, _, err = run_main(plot.main, [str(tmp_path / f"{name}.keras")], capsys)
        assert status == 2 and err.count("\n") == 1 and why in err, err
        assert "nothing of it was run" in err or "nothing was run" in err
    assert not marker.exists()


@pytest.mark.parametrize(
    "name, content", [("photo.png", b"\x89PNG\r\n\x1a\n"), ("notes.txt", b"hello")]
)
def test_a_file_that_is_not_a_model_is_one_error_line_for_plot(tmp_path, capsys, name, content):
    from keras_posemb.cli import plot

    (tmp_path / name).write_bytes(content)
    status, _, err = run_main(plot.main, [str(tmp_path / name)], capsys)
    assert status == 2 and f"{name} is not a .keras model" in err


def test_a_plot_output_dir_that_is_a_file_is_one_error_line(finished_run, tmp_path, capsys):
    from keras_posemb.cli import plot

    (tmp_path / "file").write_text("x")
    status, _, err = run_main(
        plot.main, [str(finished_run), "--output-dir", str(tmp_path / "file")], capsys
    )
    assert status == 2 and "argument --output-dir" in err and "is a file" in err


def test_predict_says_how_many_words_it_knows(finished_run, capsys):
    status, out, _ = run_main(
        predict.main, [str(finished_run), "the dog chased the cat", "hello world"], capsys
    )
    lines = out.splitlines()
    assert status == 0 and "(5 of 5 words known)" in lines[0] and "(0 of 2 words known)" in lines[1]
    assert "warning: the model knows none of these words" in lines[2]


def test_outside_a_terminal_training_prints_one_line_per_epoch(tmp_path):
    """A pipe gets no progress bar redrawn at every step (issue 22: a 414 KB log)."""
    flags = [*TINY_FLAGS, "--verbose", "1", "--no-plots", "--output-dir", str(tmp_path / "run")]
    result = subprocess.run(
        [sys.executable, "-m", "keras_posemb.cli.train", *flags],
        capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    epochs = [line for line in result.stdout.splitlines() if " - loss: " in line]
    assert len(epochs) == 2 and "\r" not in result.stdout and "\x08" not in result.stdout
    assert len(result.stdout) < 4000


def console_script(name):
    return str(Path(sys.executable).parent / name)


def test_console_scripts_print_no_tensorflow_start_up_block(finished_run, tmp_path):
    """No oneDNN, CUDA-driver or cuInit lines, for every command (issue 22)."""
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    for argv in (
        ["keras-posemb-predict", str(finished_run), "the dog chased the cat"],
        ["keras-posemb-plot", str(finished_run), "--output-dir", str(tmp_path / "plots")],
        ["keras-posemb-compare", "--help"],
    ):
        result = subprocess.run(
            [console_script(argv[0]), *argv[1:]], capture_output=True, text=True, env=env
        )
        assert result.returncode == 0 and result.stderr == "", (argv, result.stderr[-2000:])


@pytest.mark.parametrize(
    "script, argv, status",
    [
        ("train", ["--position", "rotray"], 2),
        ("train", ["--epochs", "-1"], 2),
        ("train", ["--help"], 0),
        ("lm", ["--steps", "800", "--eval-interval", "300"], 2),
        ("lm", ["--max-length", "100000"], 2),
        ("train_images", ["--patch-size", "5"], 2),
        ("compare", ["--positions", "rotray"], 2),
        ("generate", ["run", "--top-p", "2"], 2),
        ("predict", ["run"], 2),
        ("plot", ["model.keras", "--length", "0"], 2),
    ],
)
def test_the_command_line_is_checked_before_keras_loads(script, argv, status):
    """A bad flag, or --help, is answered without importing Keras or a
    backend, which takes seconds (issue 30: flag errors took 10-30 s)."""
    code = f"""
import sys, keras_posemb_cli
sys.argv = ["keras-posemb", *{argv!r}]
try:
    keras_posemb_cli.{script}()
except SystemExit as stop:
    loaded = [name for name in ("keras", "tensorflow", "jax", "torch") if name in sys.modules]
    print(stop.code, loaded)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split("\n")[-2] == f"{status} []", result.stdout + result.stderr
    if status:
        assert result.stderr.startswith("error: "), result.stderr


def test_ctrl_c_while_the_libraries_load_is_one_line(tmp_path):
    import signal
    import time

    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    process = subprocess.Popen(
        [console_script("keras-posemb-train"), "--output-dir", str(tmp_path / "run")],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    time.sleep(1.0)  # Loading TensorFlow takes several seconds.
    process.send_signal(signal.SIGINT)
    err = process.communicate(timeout=120)[1]
    assert process.returncode == 130, err[-2000:]
    assert err.strip() == "error: interrupted." and not (tmp_path / "run").exists()


def test_compare_help_shows_its_own_defaults_and_only_its_flags(capsys):
    status, out, _ = run_main(compare.main, ["--help"], capsys)
    text = " ".join(out.split())
    assert status == 0 and "(default: runs/compare)" in text
    assert "runs/<dataset>_<position>" not in text
    assert (
        "--positions A,B,..." in text and "--position " not in text and "--position {" not in text
    )
    assert (
        "write PNG plots: the training curves and the position vectors (default: --no-plots)"
        in text
    )
    assert "(default: 16)" in text  # --max-words, compare's own.


@pytest.mark.parametrize(
    "missing, command, argv, says",
    [
        ("tensorflow", "train", [], "The text classifier's pipeline (tf.data, TextVectorization) needs TensorFlow"),
        ("tensorflow_datasets", "train_images", ["--dataset", "mnist"], "The data set 'mnist' needs tensorflow-datasets"),
        ("tensorflow_datasets", "train", ["--dataset", "imdb_reviews"], "The data set 'imdb_reviews' needs tensorflow-datasets"),
        ("matplotlib", "compare", [], "The comparison's plots needs matplotlib"),
    ],
)  # fmt: skip
def test_a_missing_optional_package_is_one_line_with_its_install_command(
    missing, command, argv, says, capsys, monkeypatch, tmp_path
):
    """Before anything is read or written: the package, what needs it, and
    the extra that brings it."""
    import importlib
    import importlib.util

    module = importlib.import_module(f"keras_posemb.cli.{command}")
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == missing else find_spec(n, *a)
    )
    if missing == "tensorflow":  # Else Keras' default backend is the one missing.
        monkeypatch.setenv("KERAS_BACKEND", "jax")
    out_dir = tmp_path / "out"
    status, _, err = run_main(module.main, [*argv, "--output-dir", str(out_dir)], capsys)
    extra = "tensorflow" if missing == "tensorflow" else "demos"
    assert status == 2 and err.count("\n") == 1, err
    assert says in err and f'pip install "keras-posemb[{extra}]"' in err, err
    assert not out_dir.exists()
