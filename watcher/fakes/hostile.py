"""Hostile server modes for the replay servers: answers that trickle, never end, or are huge.

Each mode is a ``Fault`` body (a ``server.Stream``) that any fake can serve on any path, so
the client's bounds can be tried by anyone, not only by the tests:

- ``drip``: the whole answer, status line and headers included, one byte per ``interval``
  seconds: no single read ever times out, only a deadline on the whole request ends it;
- ``endless``: a 200 whose JSON never closes, sent as fast as the client reads, with no
  Content-Length (chunked), so only a size cap read while streaming ends it;
- ``huge``: a well-formed 200 page padded to ``size`` bytes (200 MB by default), announced
  by its Content-Length, or chunked with ``announce=False``;
- ``retry_after``: a 429 whose ``Retry-After`` is what you give it (``NaN``...).

Run one: ``python -m watcher.fakes.hostile endless`` serves the USAspending replay with the
search endpoint in that mode and prints its URL; point ``WATCHER_USASPENDING_URL`` at it
and run ``watcher poll`` (``--help`` for the modes' options, ``--api sam`` for SAM.gov).
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Iterator

from watcher.fakes.server import Fault, Served, Stream, with_headers

#: A well-formed empty search page, which the padding of ``huge`` is added to.
EMPTY_PAGE = b'{"limit": 100, "results": [], "page_metadata": {"page": 1, "hasNext": false}, "messages": []}'
#: One search row, repeated by ``endless``.
ROW = (
    b'{"internal_id": 1, "Award ID": "70CTD026FC0000012", "Recipient Name": "PALANTIR TECHNOLOGIES INC.",'
    b' "Award Amount": 1.0, "Description": "' + b"X" * 900 + b'", "generated_internal_id": "CONT_AWD_X"},'
)
CHUNK = 1 << 20
MB = 1 << 20
#: Where each mode is served by ``main`` (the requests a poll makes first after the agency check).
PATHS = {"usaspending": "/api/v2/search/spending_by_award/", "sam": "/"}


def _response(status: int, body: bytes, content_type: str) -> bytes:
    head = f"HTTP/1.1 {status} OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    return (head + "Connection: close\r\n\r\n").encode() + body


def drip(body: bytes = EMPTY_PAGE, *, interval: float = 1.0, status: int = 200) -> Stream:
    """The whole response one byte every ``interval`` seconds (a well-formed answer, after minutes)."""
    raw = _response(status, body, "application/json")

    def chunks() -> Iterator[bytes]:
        for i in range(len(raw)):
            if i:
                time.sleep(interval)
            yield raw[i : i + 1]

    return Stream(chunks, raw=True)


def endless(row: bytes = ROW) -> Stream:
    """``{"results": [`` and then rows for ever, chunked, as fast as the client takes them."""
    block = row * max(1, CHUNK // len(row))

    def chunks() -> Iterator[bytes]:
        yield b'{"limit": 100, "results": ['
        yield from itertools.repeat(block)

    return Stream(chunks)


def huge(size: int = 200 * MB, *, page: bytes = EMPTY_PAGE, announce: bool = True) -> Stream:
    """``page`` with a ``padding`` string making it exactly ``size`` bytes: valid JSON, and enormous."""
    head = page.rstrip()[:-1] + b', "padding": "'
    tail = b'"}'
    pad = max(0, size - len(head) - len(tail))

    def chunks() -> Iterator[bytes]:
        yield head
        full, rest = divmod(pad, CHUNK)
        block = b"x" * CHUNK
        for _ in range(full):
            yield block
        yield b"x" * rest + tail

    return Stream(chunks, len(head) + pad + len(tail) if announce else None)


def retry_after(value: str) -> Stream:
    """A refusal's body asking the client to wait ``value`` (anything: ``NaN``, ``soon``, a date); serve it as a
    429 or 503 (``fault(path, retry_after("NaN"), status=429)``)."""
    return with_headers(b'{"detail": "Request was throttled."}', {"Retry-After": value})


def fault(path: str, body: Stream, *, status: int = 200, times: int = 1_000_000, nth: int = 1) -> Fault:
    """Serve ``body`` to requests whose path starts with ``path`` (every one, by default)."""
    return Fault(path, nth, status, body, times=times)


def _mode(args: argparse.Namespace) -> Stream:
    if args.mode == "drip":
        return drip(interval=args.interval)
    if args.mode == "endless":
        return endless()
    return huge(int(args.size_mb * MB), announce=not args.chunked)


def main(argv: list[str] | None = None) -> None:
    """Serve a replay with one endpoint in a hostile mode until Ctrl-C (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m watcher.fakes.hostile", description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["drip", "endless", "huge"])
    parser.add_argument("--api", choices=["usaspending", "sam"], default="usaspending")
    parser.add_argument("--path", help="the path prefix served in that mode (default: the first search)")
    parser.add_argument("--interval", type=float, default=1.0, help="drip: seconds between bytes")
    parser.add_argument("--size-mb", type=float, default=200, help="huge: the size of the answer")
    parser.add_argument("--chunked", action="store_true", help="huge: send no Content-Length")
    args = parser.parse_args(argv)
    hit = fault(args.path or PATHS[args.api], _mode(args))
    if args.api == "sam":
        from watcher.fakes.sam import SamReplay

        sam = SamReplay(keys=["TESTKEY"], daily_quota=1_000_000)
        sam.faults.append(hit)
        server: Served = sam
        url = sam.start()
        hint = f"WATCHER_SAM_URL={url} SAM_API_KEY=TESTKEY watcher poll"
    else:
        from pathlib import Path

        import yaml

        from watcher.config import AgencySeeds
        from watcher.fakes.recordings import agency_names
        from watcher.fakes.usaspending import UsaspendingReplay

        replay = UsaspendingReplay()
        seeds = Path(__file__).resolve().parent.parent / "seeds" / "agencies.yaml"
        agencies = AgencySeeds.model_validate(yaml.safe_load(seeds.read_text())).agencies
        replay.extra_agencies = agency_names(agencies.values())
        replay.faults.append(hit)
        server = replay
        url = replay.start()
        hint = f"WATCHER_USASPENDING_URL={url} watcher poll"
    print(f"{args.mode} on {hit.path} at {url}\ntry:  {hint}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
