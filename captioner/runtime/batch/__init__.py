"""captioner/runtime/batch"""
