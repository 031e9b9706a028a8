"""What a person sees while `check` reads the chains.

A `ChainWatch` is the live status of one chain's read: the endpoint in use (redacted), the
block or slot once the reader has pinned one, the HTTP requests and retries so far (summed
from the endpoints' own counters, so watching costs no request) and the time taken. Readers
update it at the two or three points where those change; a `Progress` shows it.

- `Progress` shows nothing: a pipe, `--quiet`, JSON on stdout, a program embedding the audit.
- `TerminalProgress` draws one line per chain with Rich on stderr, a few times a second, and
  leaves a final line per chain (✓ read at block N / ✗ failed) when the read ends.
- A plain callable (the older interface) gets a text line per step, as before.

Rich is imported only when a terminal display is made, so `--help` stays fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import redact

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from .chains import ChainRead
    from .rpc import Endpoint


@dataclass(eq=False)
class ChainWatch:
    """The live status of one chain's read (mutable; written by the reader and the audit)."""

    chain: str
    unit: str = "block"
    deployments: int = 0
    quorum: int = 1
    endpoints: list[Endpoint] = field(default_factory=list)
    #: the redacted URL of the endpoint in use, once the reader has chosen one
    host: str | None = None
    number: int | None = None
    started: float | None = None
    finished: float | None = None
    error: str | None = None

    # -- written by the reader -------------------------------------------------------------

    def track(self, endpoints: Sequence[Endpoint]) -> None:
        """The endpoints whose requests and retries count for this chain."""
        self.endpoints = list(endpoints)

    def using(self, ep: Endpoint) -> None:
        """The read is (now) on `ep`: the first one, or a failover."""
        self.host = ep.shown

    def pinned(self, number: int, ep: Endpoint | None = None) -> None:
        """The block or slot every value of this read is taken at."""
        self.number = number
        if ep is not None:
            self.host = ep.shown

    # -- written by the audit --------------------------------------------------------------

    def start(self) -> None:
        self.started = time.monotonic()

    def finish(self, read: ChainRead) -> None:
        self.finished = time.monotonic()
        if read.pin is not None:
            self.number, self.host = read.pin.number, read.pin.rpc
        else:
            self.error = read.error or "failed"

    # -- read by the display ---------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.finished is not None

    @property
    def requests(self) -> int:
        return sum(ep.stats.http_requests for ep in self.endpoints)

    @property
    def retries(self) -> int:
        return sum(ep.stats.retries for ep in self.endpoints)

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished if self.finished is not None else time.monotonic()) - self.started

    @property
    def where(self) -> str:
        """The endpoint to show: the one in use, else the first of the list (+ how many)."""
        if self.host is not None and self.quorum <= 1:
            host = self.host
        elif self.endpoints:
            host = self.endpoints[0].shown
            if len(self.endpoints) > 1:
                host += f" +{len(self.endpoints) - 1}"
        else:
            host = "?"
        return redact.scrub(host).split("://", 1)[-1]

    @property
    def pin_text(self) -> str:
        if self.error is not None:
            return "failed"
        return f"{self.unit} {self.number if self.number is not None else '…'}"


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


class Progress:
    """Shows nothing. The base of every display, and what a pipe or `--quiet` gets."""

    def say(self, text: str) -> None:
        """A step of the run (e.g. the attestation files read)."""

    def watch(self, chain: str, unit: str, *, deployments: int = 0, quorum: int = 1) -> ChainWatch:
        return ChainWatch(chain, unit, deployments=deployments, quorum=quorum)

    def finish(self, watch: ChainWatch, read: ChainRead) -> None:
        """A chain's read ended (read or failed)."""
        watch.finish(read)

    @contextmanager
    def live(self) -> Iterator[None]:
        """While the chains are read."""
        yield

    def __call__(self, text: str) -> None:  # usable where a `Callable[[str], None]` was
        self.say(text)


class _Lines(Progress):
    """The older interface: a callable that gets one text line per step."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say

    def say(self, text: str) -> None:
        self._say(text)

    def finish(self, watch: ChainWatch, read: ChainRead) -> None:
        super().finish(watch, read)
        where = f"{watch.unit} {watch.number}" if watch.error is None else "failed"
        self._say(f"read {watch.chain} ({watch.deployments} deployments, {where})")


def as_progress(progress: Progress | Callable[[str], None] | None) -> Progress:
    if progress is None:
        return Progress()
    if isinstance(progress, Progress):
        return progress
    return _Lines(progress)


class TerminalProgress(Progress):
    """A live line per chain on a terminal (stderr), redrawn a few times a second."""

    REFRESH_PER_SECOND = 8

    def __init__(self, console: Console) -> None:
        self.console = console
        self.watches: list[ChainWatch] = []
        self._spinners: dict[int, RenderableType] = {}  # one per chain, so each one turns

    def say(self, text: str) -> None:
        from rich.text import Text

        self.console.print(Text(f"· {redact.scrub(text)}", style="dim"), soft_wrap=True)

    def watch(self, chain: str, unit: str, *, deployments: int = 0, quorum: int = 1) -> ChainWatch:
        w = super().watch(chain, unit, deployments=deployments, quorum=quorum)
        self.watches.append(w)
        return w

    @contextmanager
    def live(self) -> Iterator[None]:
        if self.console.is_dumb_terminal:  # no cursor movement: the final lines only
            yield
            self.console.print(self.render())
            self.console.line()
            return
        from rich.live import Live

        with Live(
            console=self.console,
            get_renderable=self.render,
            refresh_per_second=self.REFRESH_PER_SECOND,
            transient=False,
            redirect_stdout=False,
        ):
            yield
        self.console.line()  # a blank line between the chains' lines and the report

    def render(self) -> RenderableType:
        """One line per chain, columns aligned. On a narrow terminal only the host column
        gives way (cut with an ellipsis); why a chain failed is the report's to say."""
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True)  # spinner, ✓ or ✗
        grid.add_column(no_wrap=True, style="bold")  # chain
        grid.add_column(max_width=48)  # host: the one column that may shrink
        grid.add_column(no_wrap=True)  # block / slot
        grid.add_column(no_wrap=True, justify="right")  # requests
        grid.add_column(no_wrap=True, justify="right")  # retries
        grid.add_column(no_wrap=True, justify="right", style="dim")  # elapsed
        for w in self.watches:
            mark: RenderableType
            if not w.done:
                mark = self._spinners.setdefault(id(w), Spinner("dots", style="cyan"))
            elif w.error is None:
                mark = Text("✓", style="green")
            else:
                mark = Text("✗", style="bold red")
            pin_style = "red" if w.error is not None else "" if w.number is None else "cyan"
            grid.add_row(
                mark,
                w.chain,
                Text(w.where, no_wrap=True, overflow="ellipsis"),
                Text(w.pin_text, style=pin_style),
                _count(w.requests, "request", "requests"),
                Text(_count(w.retries, "retry", "retries"), style="yellow" if w.retries else ""),
                f"{w.elapsed:.1f} s",
            )
        return grid


def terminal_progress() -> TerminalProgress | None:
    """A live display on stderr, or None when stderr is not a terminal.

    Both must say "terminal": stderr itself (so FORCE_COLOR or TTY_COMPATIBLE never put
    progress bytes into a pipe or a log file) and Rich (which honours NO_COLOR and
    TTY_COMPATIBLE=0)."""
    import sys

    try:
        if not sys.stderr.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    return TerminalProgress(console) if console.is_terminal else None
