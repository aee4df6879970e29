"""Routing models: rules."""

__all__: list[str] = []
