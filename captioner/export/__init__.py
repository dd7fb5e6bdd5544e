"""captioner/export"""
