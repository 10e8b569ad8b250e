"""Tests run under the Keras backend that KERAS_BACKEND selects.

`tests/backends.py` runs the whole suite under TensorFlow and the tests
marked `all_backends` under JAX and PyTorch. A test marked
`backends("jax", ...)` runs only under those backends.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pytest  # noqa: E402

BACKEND = keras.backend.backend()


def pytest_configure(config):
    config.addinivalue_line("markers", "all_backends: runs under every Keras backend")
    config.addinivalue_line("markers", "backends(*names): runs only under these Keras backends")
    config.addinivalue_line(
        "markers", "benchmark: runs a benchmark script (tests/backends.py runs these apart)"
    )
    config.addinivalue_line(
        "markers", "other_lane: a long benchmark test tests/backends.py runs in its other lane"
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        marker = item.get_closest_marker("backends")
        if marker is not None and BACKEND not in marker.args:
            needs = " or ".join(marker.args)
            item.add_marker(pytest.mark.skip(reason=f"needs the {needs} backend, not {BACKEND}"))


def pytest_report_header(config):
    return f"Keras {keras.__version__}, backend {BACKEND}"


@pytest.fixture(autouse=True)
def _float32_policy_and_fresh_names():
    """Each test starts from the float32 policy and fresh layer names.

    `free_memory=False`: a full garbage collection before every test was
    most of a small test's time under TensorFlow; Python's own collector
    frees the same cycles in time.
    """
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session(free_memory=False)
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture(scope="session", autouse=True)
def _reload_the_layer_contracts_models():
    """The fresh-process reload of `layer_contract.run_layer_test`, done once
    for every model the session saved."""
    yield
    from layer_contract import reload_saved_models

    reload_saved_models()
