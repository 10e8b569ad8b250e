"""The package's shape: module names, typing marker, licence and changelog."""

import dataclasses
import importlib.util
import inspect
import pkgutil
import sys
from pathlib import Path

import keras_posemb
from keras_posemb import cli, data, families, layers, modeling, models, training

ROOT = Path(__file__).resolve().parents[1]


def test_no_module_shadows_the_standard_library_or_an_installed_package():
    for module in pkgutil.walk_packages(keras_posemb.__path__, "keras_posemb."):
        name = module.name.rsplit(".", 1)[1]
        assert name not in sys.stdlib_module_names, module.name
        assert name.startswith("_") or importlib.util.find_spec(name) is None, module.name


def test_typed_package_with_licence_and_changelog():
    assert (Path(keras_posemb.__file__).parent / "py.typed").exists()
    assert (
        "Apache License" in (ROOT / "LICENSE").read_text()
        and "Version 2.0" in (ROOT / "LICENSE").read_text()
    )
    assert f"## {keras_posemb.__version__}" in (ROOT / "CHANGELOG.md").read_text()


def public_callables():
    for module in (keras_posemb, layers, modeling, data, models, families, training):
        for name in getattr(module, "__all__", [n for n in dir(module) if not n.startswith("_")]):
            value = getattr(module, name)
            if inspect.isclass(value) and value.__module__.startswith("keras_posemb"):
                yield f"{value.__module__}.{name}", value.__init__
            elif inspect.isfunction(value) and value.__module__.startswith("keras_posemb"):
                yield f"{value.__module__}.{name}", value


def test_the_public_api_has_type_hints():
    missing = []
    for name, function in public_callables():
        parameters = inspect.signature(function).parameters.values()
        for parameter in parameters:
            if parameter.name in ("self", "kwargs", "args"):
                continue
            if parameter.annotation is inspect.Parameter.empty:
                missing.append(f"{name}({parameter.name})")
    assert not missing, missing


def test_cli_flags_come_from_the_config():
    parser = cli.Parser()
    cli.add_config_flags(parser, training.TrainConfig)
    flags = {action.dest for action in parser._actions} - {"help", "debug"}
    assert flags == {field.name for field in dataclasses.fields(training.TrainConfig)}


def test_the_settings_offer_what_the_keras_modules_take():
    """`keras_posemb.settings` names these without importing the Keras
    modules that own them, so that flags are checked before Keras loads."""
    from keras_posemb.analysis import extrapolation
    from keras_posemb.modeling import sequence_pooling
    from keras_posemb.models import image_classifier
    from keras_posemb.settings import images, language_model, text

    assert text.POOLING_MODES == sequence_pooling.MODES
    assert images.POOLINGS == image_classifier.POOLINGS
    assert language_model.EVALUATION_FACTORS == extrapolation.FACTORS
    assert language_model.EVALUATION_TOKENS_PER_CALL == extrapolation.TOKENS_PER_CALL
    assert language_model.EVALUATION_BLOCKWISE_FROM == extrapolation.BLOCKWISE_FROM
    assert language_model.EVALUATION_BLOCK_SIZE == extrapolation.BLOCK_SIZE


def test_a_family_names_its_layer_class_to_load_without_keras():
    from keras_posemb import families

    assert families.get("rotary").layer_type() is keras_posemb.RotaryEmbedding
    named = families.PositionFamily(
        name="named", where="embeddings", description="d", make_layer=lambda settings: None,
        layer_class="keras_posemb.layers.SinusoidalEncoding",
    )  # fmt: skip
    assert named.layer_type() is keras_posemb.SinusoidalEncoding


def test_flag_types_come_from_the_annotations_not_their_spelling():
    """A `float | None` field parses as a float (a string match on the
    annotation's text once let it through as a string)."""
    import dataclasses

    from keras_posemb.settings import setting

    @dataclasses.dataclass
    class Config:
        rate: float | None = setting(None, "a rate")
        steps: int = setting(3, "steps")
        fast: bool = setting(False, "fast")
        name: str | None = setting(None, "a name")

    parser = cli.Parser()
    cli.add_config_flags(parser, Config)
    args = parser.parse_args(["--rate", "0.5", "--steps", "7", "--fast", "--name", "x"])
    assert cli.config_from_args(Config, args) == Config(0.5, 7, True, "x")
    assert type(args.rate) is float and type(args.steps) is int
    assert cli.config_from_args(Config, parser.parse_args([])) == Config()


def test_an_import_against_the_architecture_breaks_a_contract(tmp_path):
    """`lint-imports` (the README's test command) fails on an upward import:
    a copy of the package whose position layers import the command line."""
    import shutil
    import subprocess

    shutil.copytree(ROOT / "keras_posemb", tmp_path / "keras_posemb")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    layer = tmp_path / "keras_posemb" / "layers" / "scale_check.py"
    layer.write_text("from keras_posemb import cli  # Upward: layers below cli.\n")
    lint = Path(sys.executable).parent / "lint-imports"
    found = subprocess.run([str(lint)], cwd=tmp_path, capture_output=True, text=True)
    assert found.returncode == 1, found.stdout[-2000:]
    assert "keras_posemb.layers.scale_check -> keras_posemb.cli" in found.stdout
    kept = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert kept.returncode == 0, kept.stdout[-2000:]


def test_every_dotted_name_of_the_package_in_the_code_exists():
    """A docstring or comment that names `keras_posemb.x.y` names something
    that exists: a module moved is not left behind in the text."""
    import re

    from helpers import resolves_dotted_name

    folders = ("keras_posemb", "benchmarks", "demos", "docs/guides")
    missing = sorted(
        (str(path.relative_to(ROOT)), name)
        for folder in folders
        for path in (ROOT / folder).rglob("*.py")
        for name in set(re.findall(r"\bkeras_posemb(?:\.[A-Za-z_]\w*)+", path.read_text()))
        if not resolves_dotted_name(name)
    )
    assert not missing, missing


def test_every_folder_of_the_package_is_a_package_and_none_of_its_files_is_ignored():
    """A folder without `__init__.py` imports as a namespace package here and
    breaks elsewhere; a file that .gitignore matches never reaches a clone."""
    import subprocess

    sources = sorted((ROOT / "keras_posemb").rglob("*.py"))
    folders = {path.parent for path in sources if "__pycache__" not in path.parts}
    assert not [str(f) for f in folders if not (f / "__init__.py").exists()]
    if (ROOT / ".git").exists():
        ignored = subprocess.run(
            ["git", "check-ignore", "--no-index", *map(str, sources)],
            cwd=ROOT, capture_output=True, text=True,
        ).stdout  # fmt: skip
        assert not ignored, ignored


def test_a_plain_install_has_no_tensorflow_and_trains_a_language_model_under_jax(tmp_path):
    """`pip install .` pulls Keras and NumPy, not TensorFlow: the layers,
    attention, the causal model and the language-model trainer run under
    JAX there, and the text trainer says what to install."""
    import os
    import subprocess

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python, scripts = str(venv / "bin" / "python"), venv / "bin"
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", str(ROOT), "jax"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": ""}
    code = """
import importlib.util
import numpy as np
import keras_posemb
from keras_posemb.models import build_causal_lm
assert importlib.util.find_spec("tensorflow") is None
attention = keras_posemb.PositionalAttention(2, 8, "alibi", bidirectional=False)
print(tuple(attention(np.zeros((1, 5, 16), "float32")).shape))
model = build_causal_lm(32, max_length=8, embed_dim=16, num_layers=1)
print(tuple(model.generate(np.array([1, 2]), max_new_tokens=3, temperature=0.0).shape))
"""
    ran = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.split("\n")[:2] == ["(1, 5, 16)", "(1, 5)"]
    flags = ["--steps", "4", "--eval-interval", "2", "--max-length", "16", "--batch-size", "4"]
    flags += ["--embed-dim", "16", "--num-layers", "1", "--output-dir", str(tmp_path / "lm")]
    trained = subprocess.run(
        [str(scripts / "keras-posemb-lm"), *flags],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "No TensorBoard logs: TensorFlow writes them" in trained.stdout
    assert (tmp_path / "lm" / "metrics.json").exists()
    refused = subprocess.run(
        [str(scripts / "keras-posemb-train")], capture_output=True, text=True, env=env
    )
    assert refused.returncode == 2
    assert 'needs TensorFlow, which is not installed: pip install "keras-posemb[tensorflow]"' in (
        refused.stderr
    )
