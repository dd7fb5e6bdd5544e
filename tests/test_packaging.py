"""What `pip install .` ships: every data file in the package is named by pyproject's package-data."""

import fnmatch
import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_data_file_of_the_package_is_shipped():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["captioner"]
    package = ROOT / "captioner"
    data = [p.relative_to(package).as_posix() for p in package.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    assert any(name.endswith(".tsv") for name in data) and any(name.endswith(".onnx") for name in data)
    unshipped = [name for name in data if not any(fnmatch.fnmatch(name, pattern) for pattern in patterns)]
    assert unshipped == []
