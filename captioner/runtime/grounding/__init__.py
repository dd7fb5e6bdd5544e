"""Visual concepts: what the encoder recognises in a photo, as plain caption words.

Two sources, both computed from the pooled features of the same forward pass: the encoder's own
ImageNet classifier, mapped to caption words by `imagenet_words.tsv`, and small detectors for the
concepts Flickr8k teaches (people, dogs), which also say when something is *not* there.
"""

from captioner.runtime.grounding.detectors import ConceptDetectors
from captioner.runtime.grounding.grounding import Grounder, GroundingConfig, ImageConcepts

__all__ = ["ConceptDetectors", "Grounder", "GroundingConfig", "ImageConcepts"]
