"""Routing models: clocks."""

__all__: list[str] = []
