"""Load YAML keeping the line of every key, so config errors can name the file, line and key.

The files come from users and from whatever a seeds folder links to, so loading is bounded: a
regular file of at most 1 MiB, 64 levels deep, 100 aliases and 100,000 values once they are
expanded (an alias bomb, a 5,000-deep nesting or /dev/zero is an error naming the file and line).
"""

from __future__ import annotations

import stat
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


#: Bounds on a YAML file, so a hostile or broken one is an error, never a machine brought down: the
#: shipped files are 3 to 12 KB, under 400 values and 6 levels deep.
MAX_BYTES = 1 << 20  # 1 MiB
MAX_DEPTH = 64  # nested mappings and lists (a deeper one blew Python's recursion limit)
MAX_ALIASES = 100  # *name references; anchors stay usable for sharing a list between watches
MAX_VALUES = 100_000  # values once every alias is expanded (an alias bomb expands to billions)


def load(path: Path) -> Located:
    """Parse ``path`` safely; YAML syntax errors, duplicate keys and files past the bounds become ConfigError."""
    text = _read(path)
    try:
        _check_shape(path, text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _count_values(path, node, {}, set())
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


def _read(path: Path) -> str:
    """The file's text: a regular file of at most MAX_BYTES (never /dev/zero, a folder or a pipe that never ends)."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{path}: not a regular file (a YAML file is expected here)")
        with path.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ConfigError(f"{path!s:.200}: cannot read: {exc}") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{path}: larger than 1 MiB; a config or seeds file this big is not one we wrote")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None


def _check_shape(path: Path, text: str) -> None:
    """Depth and alias count from the parser's events, before anything recursive (composing) runs."""
    depth = aliases = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        line = event.start_mark.line + 1 if event.start_mark else 1
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError(f"{path}:{line}: nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise ConfigError(
                    f"{path}:{line}: more than {MAX_ALIASES} aliases (*{event.anchor}); write the values out instead"
                )


def _count_values(path: Path, node: yaml.Node, memo: dict[int, int], open_nodes: set[int]) -> int:
    """How many values ``node`` holds with its aliases expanded (memoized: linear in the file, not in the bomb)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in open_nodes:
        raise ConfigError(f"{path}:{node.start_mark.line + 1}: an alias makes this list or mapping contain itself")
    open_nodes.add(key)
    total = 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            total += _count_values(path, key_node, memo, open_nodes) + _count_values(path, value_node, memo, open_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            total += _count_values(path, item, memo, open_nodes)
    open_nodes.discard(key)
    if total > MAX_VALUES:
        raise ConfigError(
            f"{path}:{node.start_mark.line + 1}: expands to more than {MAX_VALUES:,} values through its aliases (*name)"
        )
    memo[key] = total
    return total


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
