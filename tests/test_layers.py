"""The layers (docs/architecture.md): import-linter's contracts hold, and every import made inside a
function is one the rules allow, for the reason written beside it."""

import ast
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "captioner"

# (module, imported module) -> why it is imported inside a function
ALLOWED = {
    ("captioner/__init__.py", "captioner.export.loading"): "the front door loads the runtime on first use: `import captioner` stays light",
    ("captioner/__init__.py", "captioner.runtime.api"): "the front door (as above)",
    ("captioner/__init__.py", "captioner.runtime.model.result"): "the front door (as above)",
    ("captioner/__init__.py", "captioner.runtime.options"): "the front door (as above)",
    ("captioner/export/loading.py", "captioner.export"): "torch only for a model without an ONNX export",
    ("captioner/training/encoders/__init__.py", "captioner.training.encoders.efficientnet_lite"): "one encoder's framework when it is asked for",
    ("captioner/training/encoders/__init__.py", "captioner.training.encoders.inception_v3"): "one encoder's framework when it is asked for",
    ("captioner/training/encoders/__init__.py", "captioner.training.encoders.keras_apps"): "Keras is an optional extra",
    ("captioner/training/encoders/keras_apps.py", "keras"): "Keras is an optional extra (./install.sh --originals)",
    ("captioner/runtime/batch/ray_engine.py", "ray"): "Ray is an optional extra (captioner[ray])",
    ("captioner/runtime/batch/outputs.py", "pyarrow"): "pyarrow (Parquet) is optional at run time",
    ("captioner/runtime/batch/outputs.py", "pyarrow.parquet"): "pyarrow (Parquet) is optional at run time",
    ("captioner/runtime/batch/sources.py", "pyarrow.parquet"): "pyarrow (Parquet, s3://) is optional at run time",
    ("captioner/runtime/batch/sources.py", "pyarrow"): "pyarrow (Parquet, s3://) is optional at run time",
    ("captioner/runtime/data/images.py", "pillow_heif"): "HEIC support is registered when pillow-heif is installed",
    ("captioner/training/trainer.py", "matplotlib"): "pyplot picks a display backend when imported: Agg is chosen first",
    ("captioner/training/trainer.py", "matplotlib.pyplot"): "pyplot picks a display backend when imported: Agg is chosen first",
    ("captioner/export/onnx_export.py", "onnxruntime.quantization.matmul_nbits_quantizer"): "the int8 export's quantizer, for that path only",
}


def imports_inside_functions() -> set[tuple[str, str]]:
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    names = [a.name for a in inner.names] if isinstance(inner, ast.Import) else \
                        [inner.module] if isinstance(inner, ast.ImportFrom) and inner.level == 0 else []
                    found.update((str(path.relative_to(ROOT)), name) for name in names)
    return found


def test_imports_inside_functions_are_only_the_allowed_ones():
    found = imports_inside_functions()
    assert found - set(ALLOWED) == set(), "an import inside a function that no rule allows: move it to the top"
    assert set(ALLOWED) - found == set(), "an allowed import that is gone: drop it from ALLOWED"


def test_the_layer_contracts_hold():
    linter = shutil.which("lint-imports", path=str(pathlib.Path(sys.executable).parent))
    if linter is None:
        pytest.skip("import-linter is not installed (./install.sh --dev)")
    result = subprocess.run([linter, "--config", str(ROOT / "pyproject.toml")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "3 kept, 0 broken" in result.stdout


def test_captioning_and_serving_never_load_torch():
    code = ("import sys, captioner, captioner.cli.caption, captioner.cli.serve, captioner.serving.app;"
            "captioner.load(grounding=False);"
            "print(sorted(m for m in ('torch', 'keras', 'onnx') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
