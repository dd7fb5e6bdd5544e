"""The decoder's configuration: plain data, importable without torch (the CLI builds flags from it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DecoderConfig:
    vocab_size: int  # set from the vocabulary when training starts
    feature_dim: int  # pooled vector / grid cell channels (1280 for EfficientNet-Lite, 2048 Inception)
    merge: str = "attention"  # the decoder style: a key of DECODERS
    embed_dim: int = 256
    hidden_dim: int = 512
    attention_dim: int = 256
    dropout: float = 0.5
    embeddings: str = "learned"  # learned | glove-frozen | glove-finetune
    glove_dim: int = 50

    @property
    def uses_grid(self) -> bool:
        """Whether the decoder reads the spatial grid (else only the pooled vector)."""
        from captioner.decoder.base import decoder_class  # torch: the class knows

        return decoder_class(self.merge).uses_grid
