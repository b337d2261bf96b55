"""Self-test helper: `python -m deploy_checks.mutate FILE PATTERN REPLACEMENT`.

Replaces every match of the regular expression PATTERN (multi-line mode) in
FILE, in place; fails when nothing matches, so a self-test case can never
pass because its breakage silently did not happen.
"""

from __future__ import annotations

import re
import sys


def mutate(path: str, pattern: str, repl: str) -> int:
    """How many matches were replaced."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    new, n = re.subn(pattern, repl, text, flags=re.M)
    if n:
        with open(path, "w", encoding="utf-8") as f:
            f.write(new)
    return n


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m deploy_checks.mutate FILE PATTERN REPLACEMENT", file=sys.stderr)
        return 2
    path, pattern, repl = argv
    if mutate(path, pattern, repl) == 0:
        print(f"self-test: pattern {pattern!r} not found in {path}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
