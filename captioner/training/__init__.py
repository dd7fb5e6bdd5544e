"""The training layer (PyTorch): decoders and encoders, teacher-forced and self-critical training,
the fusion language model, the concept detectors, and the model file format (bundle.py).
config.py (the runs' dataclasses) imports no torch: the CLI builds its flags from it."""
