"""Progress of a long command (a backfill): a bar with rate and time left on a terminal, else a log line every 10 s."""

from __future__ import annotations

import sys
import time
from typing import Any

import click


class Progress:
    """A progress bar on a terminal (items, rate, time left); a log line every 10 seconds otherwise."""

    def __enter__(self) -> Any:
        self.bar: Any = None
        self.phase = ""
        self.last = 0.0
        tty = sys.stderr.isatty()

        def update(phase: str, done: int, total: int) -> None:
            if tty:
                if phase != self.phase:
                    if self.bar is not None:
                        self.bar.render_finish()
                    self.phase = phase
                    self.bar = click.progressbar(
                        length=max(total, 1), label=f"backfill {phase}", show_pos=True, show_eta=True, file=sys.stderr
                    )
                    self.bar.render_progress()
                self.bar.update(max(0, min(done, self.bar.length) - self.bar.pos))
            elif time.monotonic() - self.last >= 10:
                self.last = time.monotonic()
                click.echo(f"backfill {phase}: {done} of ~{total}", err=True)

        return update

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.render_finish()
