"""Helpers every rule set shares."""

from __future__ import annotations

import yaml


class Findings(list):
    """The broken rules found so far, one sentence each."""

    def need(self, cond: object, msg: str) -> None:
        """Record `msg` unless `cond` holds."""
        if not cond:
            self.append(msg)


def load_all(path: str) -> list:
    """Every non-empty YAML document of a file."""
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def read(path: str) -> str:
    """A text file's contents."""
    with open(path, encoding="utf-8") as f:
        return f.read()
