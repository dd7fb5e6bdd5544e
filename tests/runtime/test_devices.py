"""--device: the right torch device and ONNX Runtime providers, one-line errors for absent devices."""

import pytest
import torch

from captioner.cli import main
from captioner.runtime.devices import onnx_providers
from captioner.training.devices import torch_device
from captioner.errors import CaptionerError


def test_cpu_and_auto_resolve_to_what_this_machine_has():
    assert torch_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert torch_device("auto").type == expected
    assert onnx_providers("cpu") == ["CPUExecutionProvider"]
    assert onnx_providers("auto")[-1] == "CPUExecutionProvider"


def test_absent_or_unknown_devices_are_one_line_errors(capsys, flickr_images):
    with pytest.raises(CaptionerError, match="must be one of"):
        torch_device("tpu")
    with pytest.raises(CaptionerError, match="mps"):
        onnx_providers("mps")
    if not torch.cuda.is_available():
        with pytest.raises(CaptionerError, match="no CUDA GPU"):
            torch_device("cuda")
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert main(["caption", str(flickr_images[0]), "--device", "cuda"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: --device cuda:") and "\n" not in err


def test_caption_on_the_cpu_device(flickr_images, capsys):
    assert main(["caption", str(flickr_images[0]), "--device", "cpu"]) == 0
    assert capsys.readouterr().out.startswith(str(flickr_images[0]) + ": ")
