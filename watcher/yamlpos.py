"""Load YAML keeping the line of every key, so config errors can name the file, line and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from watcher.errors import ConfigError

Path_ = tuple[str | int, ...]


class Located:
    """A parsed YAML document plus a map from key paths to 1-based line numbers."""

    def __init__(self, path: Path, data: Any, lines: dict[Path_, int]) -> None:
        self.path = path
        self.data = data
        self.lines = lines

    def line_of(self, loc: Path_) -> int:
        """Line of the deepest known prefix of ``loc`` (a missing key points at its parent)."""
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.lines:
                return self.lines[loc[:n]]
        return 1

    def error(self, loc: Path_, message: str) -> ConfigError:
        key = ".".join(str(p) for p in loc) or "(top level)"
        return ConfigError(f"{self.path}:{self.line_of(loc)}: {key}: {message}")


def load(path: Path) -> Located:
    """Parse ``path`` safely; YAML syntax errors and duplicate keys become ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}:{line}: YAML syntax error: {problem}") from None
    lines: dict[Path_, int] = {}
    if node is not None:
        _walk(path, node, (), lines)
    return Located(path, data, lines)


def _walk(path: Path, node: yaml.Node, loc: Path_, lines: dict[Path_, int]) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                key_path = ".".join(str(p) for p in (*loc, key))
                raise ConfigError(f"{path}:{key_node.start_mark.line + 1}: {key_path}: duplicate key")
            seen.add(key)
            lines[(*loc, key)] = key_node.start_mark.line + 1
            _walk(path, value_node, (*loc, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(path, item, (*loc, i), lines)
