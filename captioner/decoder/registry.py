"""The built-in decoder styles, one line each. A new style: a module with a CaptionDecoder
subclass and one line here (or `captioner.decoder.base.register(name, cls)` from outside)."""

from captioner.decoder.base import DECODERS
from captioner.decoder.merge_add import AddDecoder
from captioner.decoder.merge_attention import AttentionDecoder
from captioner.decoder.merge_inject import InjectDecoder

DECODERS.setdefault("add", AddDecoder)
DECODERS.setdefault("inject", InjectDecoder)
DECODERS.setdefault("attention", AttentionDecoder)

MERGE_STYLES = ("add", "inject", "attention")
