"""captioner/runtime/model"""
