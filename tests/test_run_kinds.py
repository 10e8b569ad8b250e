"""Every command knows the three kinds of run (text classifier, language
model, image classifier), names the command that fits the one it is given,
and never advises --overwrite for a run that is intact."""

import json
import os
import subprocess

import numpy as np
import pytest
from helpers import TINY_FLAGS, run_main
from test_run_directory import snapshot

from keras_posemb.cli import generate, lm, plot, predict, train, train_images
from keras_posemb.runs.run import Run

LM_FLAGS = ["--steps", "4", "--eval-interval", "2", "--batch-size", "4", "--max-length", "8"]
LM_FLAGS += ["--embed-dim", "16", "--num-heads", "2", "--ff-dim", "32", "--num-layers", "1"]
IMAGE_FLAGS = ["--patch-size", "8", "--embed-dim", "16", "--num-heads", "2", "--ff-dim", "16"]
IMAGE_FLAGS += ["--num-layers", "1", "--epochs", "1", "--batch-size", "256"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished run of each kind."""
    root = tmp_path_factory.mktemp("kinds")
    quiet = ["--verbose", "0", "--no-plots"]
    train.main([*TINY_FLAGS, "--epochs", "1", *quiet, "--output-dir", str(root / "text")])
    lm.main([*LM_FLAGS, *quiet, "--output-dir", str(root / "lm")])
    train_images.main([*IMAGE_FLAGS, *quiet, "--output-dir", str(root / "images")])
    return {kind: root / kind for kind in ("text", "lm", "images")}


def one_line(status, err, *expected):
    assert status == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    for part in expected:
        assert part in err, err
    assert "--overwrite" not in err, err


@pytest.mark.parametrize(
    "command, kind, expected",
    [
        (predict, "lm", ["is a language model run (keras-posemb-lm)", "keras-posemb-generate"]),
        (generate, "text", ["is a text classifier run", 'keras-posemb-predict {run} "a text"']),
        (generate, "images", ["is an image classifier run", "keras-posemb-predict {run} image"]),
    ],
)
def test_a_command_given_another_kind_of_run_names_the_command_that_fits(
    runs, command, kind, expected, capsys
):
    before = snapshot(runs[kind])
    status, _, err = run_main(command.main, [str(runs[kind]), "the dog"], capsys)
    one_line(status, err, *(part.format(run=runs[kind]) for part in expected))
    assert snapshot(runs[kind]) == before


@pytest.mark.parametrize(
    "command, flags, kind, expected",
    [
        (train_images, IMAGE_FLAGS, "lm", "holds a language model run (keras-posemb-lm), not an image classifier run"),
        (lm, LM_FLAGS, "images", "holds an image classifier run (keras-posemb-train-images), not a language model run"),
        (train, TINY_FLAGS, "lm", "holds a language model run (keras-posemb-lm), not a text classifier run"),
    ],
)  # fmt: skip
def test_a_trainer_pointed_at_another_kind_of_run_says_what_it_holds(
    runs, command, flags, kind, expected, capsys
):
    before = snapshot(runs[kind])
    status, _, err = run_main(command.main, [*flags, "--output-dir", str(runs[kind])], capsys)
    one_line(status, err, expected, "--output-dir")
    assert snapshot(runs[kind]) == before


def write_image(path, size, value=255):
    from PIL import Image

    pixels = np.zeros((size, size), np.uint8)
    pixels[size // 4 : size // 2, size // 4 : size // 2] = value
    Image.fromarray(pixels).save(path)


def test_predict_classifies_image_files_with_an_image_run(runs, tmp_path, capsys):
    """The files are read as the model's data: grey, in [0, 1], resized."""
    write_image(tmp_path / "same.png", 32)
    write_image(tmp_path / "large.png", 64)
    argv = [str(runs["images"]), str(tmp_path / "same.png"), str(tmp_path / "large.png"), "--json"]
    status, out, err = run_main(predict.main, argv, capsys)
    assert status == 0, err
    records = json.loads(out)
    assert [record["image"] for record in records] == [argv[1], argv[2]]
    run = Run(runs["images"])
    model, classes = run.load_model(), run.read_classes()
    image = np.zeros((1, 32, 32, 1), np.float32)
    image[0, 8:16, 8:16] = 1.0
    want = np.asarray(model.predict(image, verbose=0))[0]
    got = records[0]["probabilities"]
    np.testing.assert_allclose([got[name] for name in classes], want, atol=1e-6)
    status, out, _ = run_main(predict.main, argv[:3], capsys)
    assert status == 0 and "(resized from 64 x 64)" in out.splitlines()[1]


def png_header(width, height):
    """A PNG that announces its size and holds no pixels."""
    import struct
    import zlib

    def chunk(kind, data):
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_predict_refuses_files_that_are_not_images_in_one_line(runs, tmp_path, capsys):
    os.mkfifo(tmp_path / "fifo")  # Never opened: it would block.
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "bomb.png").write_bytes(png_header(30000, 30000))  # 900 million pixels.
    for path, expected in [
        (tmp_path / "fifo", "is not a regular file"),
        (tmp_path / "bomb.png", "is too large to read (Image size (900000000 pixels)"),
        (tmp_path / "notes.txt", "is not an image that can be read"),
        (tmp_path / "missing.png", "cannot be read (No such file or directory)"),
    ]:
        status, _, err = run_main(predict.main, [str(runs["images"]), str(path)], capsys)
        one_line(status, err, str(path), expected)


@pytest.mark.parametrize("kind", ["lm", "images"])
def test_plot_draws_the_positions_of_every_kind_of_run(runs, kind, tmp_path, capsys):
    status, out, err = run_main(plot.main, [str(runs[kind]), "--output-dir", str(tmp_path)], capsys)
    assert status == 0, err
    assert [p.suffix for p in tmp_path.iterdir()] and "Wrote" in out


def damaged(runs, kind, tmp_path, name, content):
    copy = tmp_path / "run"
    subprocess.run(["cp", "-a", str(runs[kind]), str(copy)], check=True)
    (copy / name).write_bytes(content)
    return str(copy)


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("tokens.json", b"{", "tokens.json is missing or damaged"),
        (
            "tokens.json",
            b'{"level": "character", "characters": ["a"]}',
            "has 1 tokens and the model",
        ),
    ],
)
def test_a_damaged_language_model_run_names_its_trainer(
    runs, tmp_path, capsys, name, content, expected
):
    copy = damaged(runs, "lm", tmp_path, name, content)
    status, _, err = run_main(generate.main, [copy, "a"], capsys)
    assert status == 2 and err.count("\n") == 1 and expected in err, err
    if "damaged" in expected:
        assert "written by keras-posemb-lm at the end of a language model run" in err


def test_a_classifier_model_inside_a_language_model_run_is_named(runs, tmp_path, capsys):
    model = (runs["text"] / "model.keras").read_bytes()
    copy = damaged(runs, "lm", tmp_path, "model.keras", model)
    status, _, err = run_main(generate.main, [copy, "a"], capsys)
    assert status == 2 and "model.keras is not a language model (it is a" in err, err
