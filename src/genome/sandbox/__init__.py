"""Confinement for code Genome runs but does not trust: pipeline steps and the workers that load model bundles.

``confined_argv(Confinement(...), argv)`` gives the argv that runs ``argv`` as another user, with the server's
files hidden, optionally without network and under resource limits; ``ensure_user`` provides the account.
"""

from genome.sandbox.confine import Confinement, ConfinementError, confined_argv
from genome.sandbox.users import ensure_user

__all__ = ["Confinement", "ConfinementError", "confined_argv", "ensure_user"]
