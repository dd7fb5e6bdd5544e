"""Data: captions, cleaning, vocabulary, sequences and safe image loading."""
