"""Inference: saved model bundles and the Captioner that turns images into captions."""
