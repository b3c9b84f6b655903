"""The user's own vendors file: an overlay on the shipped vendor map that survives package upgrades.

The shipped map (``watcher/seeds/vendors.yaml``) is replaced by every upgrade of the package,
so people's additions live in their own file, ``vendors.yaml`` next to ``queries.yaml`` (or
``settings.vendors_file``). It has the seeds' shape (``vendors:`` and ``resellers:``). A key the
seeds do not have adds a vendor; a key they have extends it: its lists (aliases, UEIs, parents,
mentions, vehicles, evidence) gain the file's entries, and a name given there replaces the
shipped one. Nothing is removed from the shipped map, so an upgrade's fixes still arrive.

This module works on the raw YAML data (config.py validates the result) and writes the file
for ``watcher vendors add``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

#: The overlay's file name, looked for next to queries.yaml when settings.vendors_file is not set.
OVERLAY_FILE = "vendors.yaml"
SECTIONS = ("vendors", "resellers")
HEADER = (
    "# Your own vendors: an overlay on the vendor map shipped with watcher (watcher/seeds/vendors.yaml).\n"
    "# It survives upgrades of the package. A new key adds a vendor; a shipped key (amazon, palantir, ...)\n"
    "# gains these aliases, UEIs, mentions and evidence. `watcher check` shows where each definition comes from.\n"
    "# Written by `watcher vendors add` (the previous version is kept as vendors.yaml.bak); edit freely.\n"
)

#: Where a definition comes from, as `watcher check` prints it.
SHIPPED, YOURS, BOTH = "shipped", "yours", "shipped + yours"


def locate(folder: Path, setting: str | None) -> Path | None:
    """The overlay for the queries.yaml in ``folder`` (for the starter config shipped in the package: the
    current folder): ``settings.vendors_file`` (relative to it; it must exist), else ``vendors.yaml`` there
    when there is one, else None."""
    if setting:
        p = Path(setting)
        return p if p.is_absolute() else folder / p
    beside = folder / OVERLAY_FILE
    return beside if beside.is_file() else None


def target(folder: Path, setting: str | None) -> Path:
    """Where ``watcher vendors add`` writes: the overlay in use, or a new ``vendors.yaml`` in ``folder``."""
    return locate(folder, setting) or folder / OVERLAY_FILE


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def merge_entry(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """One definition extended by another: lists gain the new items (in order, without repeats), other values
    are replaced. For a UEI or a vehicle given twice, the first (the shipped one, with its evidence) is kept."""
    out = dict(base)
    for field, value in extra.items():
        old = out.get(field)
        if isinstance(old, list) and isinstance(value, list):
            items, seen = list(old), {_ident(x) for x in old}
            for x in value:
                if _ident(x) not in seen:
                    items.append(x)
                    seen.add(_ident(x))
            out[field] = items
        else:
            out[field] = value
    return out


def _ident(item: Any) -> str:
    if isinstance(item, dict):
        if "uei" in item:
            return "uei:" + str(item["uei"]).upper()
        if "piid" in item:
            return f"vehicle:{item['piid']}_{item.get('agency')}"
    return _key(item.upper() if isinstance(item, str) else item)


def merge(shipped: dict[str, Any], overlay: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The shipped seeds with the overlay applied, and where each ``section.key`` came from
    (``shipped``, ``yours`` or ``shipped + yours``)."""
    merged: dict[str, Any] = {s: dict(shipped.get(s) or {}) for s in SECTIONS}
    origins = {f"{s}.{k}": SHIPPED for s in SECTIONS for k in merged[s]}
    for section in SECTIONS:
        for key, entry in ((overlay or {}).get(section) or {}).items():
            base = merged[section].get(key)
            if isinstance(base, dict) and isinstance(entry, dict):
                merged[section][key] = merge_entry(base, entry)
                origins[f"{section}.{key}"] = BOTH
            else:
                merged[section][key] = entry
                origins[f"{section}.{key}"] = YOURS
    for extra in set(shipped) - set(SECTIONS):
        merged[extra] = shipped[extra]
    return merged, origins


def add(path: Path, section: str, key: str, entry: dict[str, Any], read: Any) -> dict[str, Any]:
    """Write ``entry`` into the overlay at ``path`` under ``section.key`` (extending one already there),
    atomically; the previous file is kept as ``<name>.bak``. ``read`` loads the existing file (yamlpos.load,
    bounded and with line numbers for errors). Returns the entry as now written."""
    data: dict[str, Any] = {}
    if path.exists():
        loaded = read(path).data
        data = loaded if isinstance(loaded, dict) else {}
    sec = data.setdefault(section, {}) or {}
    data[section] = sec
    sec[key] = merge_entry(sec[key], entry) if isinstance(sec.get(key), dict) else entry
    text = HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        (path.with_name(path.name + ".bak")).write_bytes(path.read_bytes())
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dict(sec[key])
