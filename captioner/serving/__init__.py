"""Serving: the FastAPI web page and JSON API."""
