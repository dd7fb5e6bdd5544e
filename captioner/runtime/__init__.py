"""captioner/runtime"""
