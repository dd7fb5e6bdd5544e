"""Run the app under uvicorn with the service's resource bounds (what `captioner serve` does)."""

from __future__ import annotations

import uvicorn

from captioner.export.loading import load_captioner
from captioner.serving.app import create_app
from captioner.serving.guards import guarded_protocol
from captioner.serving.service import ServeSettings


def server_config(app, settings: ServeSettings, host: str = "127.0.0.1", port: int = 8000,
                  log_level: str = "info") -> uvicorn.Config:
    """uvicorn settings that enforce `settings`: head deadline, keep-alive, connection cap."""
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, http=guarded_protocol(settings.header_timeout, settings.max_connections),
                          timeout_keep_alive=max(1, round(settings.keep_alive)), limit_concurrency=settings.max_connections,
                          h11_max_incomplete_event_size=16 * 1024)


def serve(model: str | None, settings: ServeSettings, host: str, port: int, device: str = "auto") -> None:
    app = create_app(model, captioner=load_captioner(model, device=device), settings=settings)
    uvicorn.Server(server_config(app, settings, host, port)).run()
