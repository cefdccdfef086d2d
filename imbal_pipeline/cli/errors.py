"""The one line every command prints when it refuses or fails."""

import sys


def _error(message: str, status: int) -> int:
    """Print the one-line error every command uses and return its exit status."""
    print(f"imbal-pipeline: error: {message}", file=sys.stderr)
    return status
