"""The HTTP server: the app factory, one router per component, dependencies, error handlers and limits."""

from genome.server.app import API_PREFIX, create_app

__all__ = ["API_PREFIX", "create_app"]
