"""The launcher: ``python -m genome.sandbox CONFINEMENT -- PROGRAM ARGS...`` confines itself, then execs PROGRAM.

Started by the server (with the server's user and the command's environment); see ``confined_argv``. Exit status
125 means the confinement failed and the command did not run; 127 that the command could not be started.
"""

from __future__ import annotations

import os
import signal
import sys

from genome.sandbox.confine import ConfinementError, apply, decode

_CONFINEMENT_FAILED = 125
_NOT_STARTED = 127


def main(arguments: list[str]) -> int:
    if len(arguments) < 3 or arguments[1] != "--":
        print("usage: python -m genome.sandbox CONFINEMENT -- PROGRAM [ARGS...]", file=sys.stderr)
        return _CONFINEMENT_FAILED
    argv = arguments[2:]
    try:
        apply(decode(arguments[0]))
    except ConfinementError as exc:
        print(f"genome.sandbox: {exc}; the command was not run", file=sys.stderr, flush=True)
        return _CONFINEMENT_FAILED
    sys.stdout.flush()
    # Python ignores these for itself; an ignored signal stays ignored across exec, as subprocess knows.
    for name in ("SIGPIPE", "SIGXFSZ"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    try:
        os.execvpe(argv[0], argv, os.environ)
    except OSError as exc:
        print(f"genome.sandbox: could not start {argv[0]!r}: {exc}", file=sys.stderr, flush=True)
    return _NOT_STARTED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
