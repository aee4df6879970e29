"""Routing models: calendar."""

__all__: list[str] = []
