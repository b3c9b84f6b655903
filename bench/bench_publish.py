"""Benchmark ``watcher publish``: the built site of N awards to a local folder (rsync) and to a bare git repository.

    .venv/bin/python bench/bench_publish.py [--awards 100000] [--changes 500000] [--no-search]

Builds the site the way bench_site.py does, then publishes it three times each way: the first
time (everything is sent), the same build again (nothing must change: no file rewritten, no
commit), and after 10 awards changed and an incremental build. Both destinations are on the
same disk, so this measures watcher's and the tools' own work, not a network. Prints JSON and
writes bench/publish_last_run.json; the figures go into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from watcher import store
from watcher.config import load_config
from watcher.settings import GitPublish, PublishSettings, RsyncPublish
from watcher.site import build as site_mod
from watcher.site.publish import publish

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(site: Path, settings: PublishSettings, root: Path) -> dict[str, object]:
    t = time.monotonic()
    r = publish(site, settings, root)
    return {"seconds": round(time.monotonic() - t, 1), "changed": r.changed, "commit": bool(r.commit), "line": r.line()}


def main() -> None:
    from bench.bench_site import make_db, touch  # the same database and changes as the site benchmark

    ap = argparse.ArgumentParser()
    ap.add_argument("--awards", type=int, default=100_000)
    ap.add_argument("--changes", type=int, default=500_000)
    ap.add_argument("--no-search", action="store_true", help="build without the search index")
    args = ap.parse_args()
    config = load_config(ROOT / "queries.yaml")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        path = tmp / "bench.db"
        make_db(path, args.awards, args.changes, n_notices=2_000)
        db = store.open_db(path)
        site = tmp / "site"
        full = site_mod.build(db, config, site, now="2026-08-23T00:00:00Z", full=True, search=not args.no_search)
        (tmp / "www").mkdir()
        subprocess.run(["git", "init", "--quiet", "--bare", str(tmp / "pages.git")], check=True)
        ways = {
            "rsync": PublishSettings(rsync=RsyncPublish(dest=str(tmp / "www" / "site"))),
            "git": PublishSettings(git=GitPublish(repo=str(tmp / "pages.git"))),
        }
        result: dict[str, object] = {
            "awards": args.awards,
            "changes": args.changes,
            "search": not args.no_search,
            "site_files": sum(1 for p in site.resolve().rglob("*") if p.is_file()),
            "site_megabytes": round(sum(p.stat().st_size for p in site.resolve().rglob("*") if p.is_file()) / 1e6),
            "full_build_seconds": round(full.seconds, 1),
        }
        for name, settings in ways.items():
            result[f"{name}_first"] = timed(site, settings, tmp)
            result[f"{name}_again"] = timed(site, settings, tmp)
        touch(path, 10, 0)
        inc = site_mod.build(db, config, site, now="2026-08-23T13:00:00Z", search=not args.no_search)
        result["incremental_build_files"] = inc.files
        for name, settings in ways.items():
            result[f"{name}_after_10_changes"] = timed(site, settings, tmp)
        print(json.dumps(result, indent=2))
        (ROOT / "bench" / "publish_last_run.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
