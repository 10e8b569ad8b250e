"""TensorBoard as a user sees it: a real server over finished runs, read
through its HTTP API, with `--logdir` at a run's logs/ and at the folder of
runs."""

import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import helpers
import numpy as np
import pytest
from matplotlib import image as mpimg

from keras_posemb import training
from keras_posemb.runs.run import Run

# Logs are written by TensorFlow's summary writers under every backend;
# test_training.py checks their tags under the other backends.
TINY = {**helpers.TINY, "max_length": 24, "plots": False}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    parent = tmp_path_factory.mktemp("runs")
    for position in ("learned", "sinusoidal"):
        training.train(
            training.TrainConfig(**TINY, position=position, output_dir=str(parent / position))
        )
    return parent


def free_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


class Server:
    def __init__(self, logdir):
        self.port = free_port()
        command = [
            sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1",
            "--port", str(self.port), "--load_fast", "false", "--reload_interval", "1",
        ]  # fmt: skip
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )

    def get(self, path, **query):
        url = f"http://127.0.0.1:{self.port}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read()

    def json(self, path, **query):
        return json.loads(self.get(path, **query))

    def wait_for(self, check, seconds=90):
        """Polls until `check()` is true: the server loads event files in the background."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                if check():
                    return
            except OSError:
                pass  # Not listening yet.
            if time.monotonic() > deadline:
                raise AssertionError(f"TensorBoard did not serve what was expected in {seconds} s")
            time.sleep(1)

    def close(self):
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture(params=["run logs", "folder of runs"], scope="module")
def served(request, runs):
    if request.param == "run logs":
        logdir, prefixes = Run(runs / "learned").logs_dir, {"learned": ""}
    else:
        logdir, prefixes = runs, {"learned": "learned/logs/", "sinusoidal": "sinusoidal/logs/"}
    server = Server(logdir)
    try:
        wanted = {prefix + "positions" for prefix in prefixes.values()}
        server.wait_for(lambda: wanted <= set(server.json("/data/plugin/projector/runs")))
        server.wait_for(lambda: wanted <= set(server.json("/data/plugin/images/tags")))
        yield server, prefixes
    finally:
        server.close()


def test_scalars_are_served(served):
    server, prefixes = served
    tags = server.json("/data/plugin/scalars/tags")
    for prefix in prefixes.values():
        assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= set(
            tags[prefix + "train"]
        )
        assert {"epoch_loss", "epoch_accuracy"} <= set(tags[prefix + "validation"])


def test_histograms_and_images_are_served_and_the_images_are_readable(served):
    server, prefixes = served
    histograms = server.json("/data/plugin/histograms/tags")
    images = server.json("/data/plugin/images/tags")
    for position, prefix in prefixes.items():
        run = prefix + "positions"
        # The sinusoidal table beside a learned one is named as the reference.
        kinds = {position, "sinusoidal_reference"} if position == "learned" else {position}
        assert {f"position_table/{kind}" for kind in kinds} <= set(histograms[run])
        assert {f"position_similarity/{kind}" for kind in kinds} <= set(images[run])
        entries = server.json(
            "/data/plugin/images/images", run=run, tag=f"position_similarity/{position}"
        )
        assert len(entries) == TINY["epochs"]
        png = server.get("/data/plugin/images/individualImage?" + entries[-1]["query"])
        picture = mpimg.imread(io.BytesIO(png), format="png")
        # Drawn with axes and a colour bar, not a 24x24 pixel matrix.
        assert picture.shape[0] >= 200 and picture.shape[1] >= 200


def test_projector_serves_every_runs_tables_and_labels(served, runs):
    server, prefixes = served
    for position, prefix in prefixes.items():
        run = prefix + "positions"
        info = server.json("/data/plugin/projector/info", run=run)
        names = {embedding["tensorName"] for embedding in info["embeddings"]}
        reference = {"sinusoidal reference position table"} if position == "learned" else set()
        assert names == {f"{position} position table"} | reference
        name = f"{position} position table"
        raw = server.get("/data/plugin/projector/tensor", run=run, name=name)
        table = np.frombuffer(raw, np.float32).reshape(TINY["max_length"], TINY["embed_dim"])
        if position == "learned":
            model = Run(runs / "learned").load_model()
            want = model.get_layer("position_encoding").get_weights()[0]
            np.testing.assert_allclose(table, want, rtol=1e-5, atol=1e-6)
        labels = server.get("/data/plugin/projector/metadata", run=run, name=name).decode()
        assert labels.splitlines() == [f"position {i}" for i in range(TINY["max_length"])]


def test_no_graph_that_fails_to_render(served):
    server, _ = served
    assert server.json("/data/plugin/graphs/info") == {}
