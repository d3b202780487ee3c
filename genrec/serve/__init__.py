"""HTTP service over a run: FastAPI app factory and the micro-batcher (docs/service.md)."""

from genrec.serve.app import create_app

__all__ = ["create_app"]
