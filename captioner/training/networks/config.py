"""The decoder's configuration and the table of decoder styles: plain data, importable without
torch (the CLI builds `train` flags and their choices from it)."""

from __future__ import annotations

from dataclasses import dataclass, fields

# The decoder styles by name, each the class that builds it as "module:Class": the one table, read
# by the CLI (--style choices) and by styles.build_decoder. A new style: a module with a Decoder
# subclass and one line here (or styles.register(name, cls) from outside).
STYLES: dict[str, object] = {
    "add": "captioner.training.networks.add:AddDecoder",  # the Keras tutorials' merge model
    "inject": "captioner.training.networks.inject:InjectDecoder",  # the image as the LSTM's initial state
    "attention": "captioner.training.networks.attention:AttentionDecoder",  # soft attention over the grid
}


@dataclass
class DecoderConfig:
    vocab_size: int  # set from the vocabulary when training starts
    feature_dim: int  # pooled vector / grid cell channels (1280 for EfficientNet-Lite, 2048 Inception)
    style: str = "attention"  # how the image conditions the LSTM: a key of STYLES
    embed_dim: int = 256
    hidden_dim: int = 512
    attention_dim: int = 256
    dropout: float = 0.5
    embeddings: str = "learned"  # learned | glove-frozen | glove-finetune
    glove_dim: int = 50
    # caption sources the decoder tells apart (1: none): each has a learned shift added to the image
    # features (Decoder.source_shift), 0 for Flickr8k-like photos and 1 for everyday ones, so one
    # decoder keeps Flickr8k's style and learns COCO's; inference picks the row by grounding
    sources: int = 1

    @classmethod
    def from_dict(cls, data: dict) -> "DecoderConfig":
        """A stored config; model files written before the style had its name call it "merge"."""
        data = dict(data)
        if "merge" in data:
            data.setdefault("style", data.pop("merge"))
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
