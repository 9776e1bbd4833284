"""Who is calling: the principal every protected route receives."""

from genome.auth.principal import Principal

__all__ = ["Principal"]
