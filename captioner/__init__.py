"""captioner: a CNN + LSTM image-caption generator trained on Flickr8k."""

__version__ = "0.1.0"
