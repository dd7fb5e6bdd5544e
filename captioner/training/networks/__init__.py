"""The PyTorch networks: caption decoders (one class per style: add, inject, attention), the
fusion language model, GloVe embeddings, the open vocabulary, and TorchRunner (a network seen
through numpy by the search). The factory is styles.build_decoder; config.py is torch-free."""
