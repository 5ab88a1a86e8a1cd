"""A progress bar for training loops: tqdm when installed, else one '\\r' line.

    bar = progress(total=100, desc="epoch", unit="step", enabled=True)
    bar.update(1, loss=0.5, throughput="1200 seq/s")
    bar.close()
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class _PlainBar:
    """A single-line bar redrawn with '\\r' on stderr (no dependency)."""

    def __init__(self, total: int, desc: str, unit: str, file: TextIO, width: int = 24
                 ) -> None:
        self.total, self.desc, self.unit, self.file, self.width = total, desc, unit, file, width
        self.n = 0
        self.postfix: dict[str, object] = {}
        self.start = time.perf_counter()
        self._last = 0.0
        self._len = 0

    def update(self, n: int = 1, **postfix: object) -> None:
        self.n += n
        self.postfix.update(postfix)
        now = time.perf_counter()
        if now - self._last >= 0.1 or self.n >= self.total:  # redraw at most 10 times a second
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        frac = min(1.0, self.n / self.total) if self.total else 1.0
        filled = round(frac * self.width)
        elapsed = now - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        extra = "".join(f", {k}={_fmt(v)}" for k, v in self.postfix.items())
        line = (f"{self.desc}: {100 * frac:3.0f}%|{'#' * filled}{' ' * (self.width - filled)}| "
                f"{self.n}/{self.total} [{elapsed:.0f}s, {rate:.1f} {self.unit}/s{extra}]")
        pad = " " * max(0, self._len - len(line))
        self._len = len(line)
        self.file.write("\r" + line + pad)
        self.file.flush()

    def close(self) -> None:
        self._draw(time.perf_counter())
        self.file.write("\n")
        self.file.flush()


class _TqdmBar:
    def __init__(self, bar: Any) -> None:
        self.bar = bar

    def update(self, n: int = 1, **postfix: object) -> None:
        if postfix:
            self.bar.set_postfix({k: _fmt(v) for k, v in postfix.items()}, refresh=False)
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()


class _NoBar:
    def update(self, n: int = 1, **postfix: object) -> None:
        pass

    def close(self) -> None:
        pass


def progress(total: int, desc: str = "", unit: str = "it", enabled: bool = True,
             file: TextIO | None = None, use_tqdm: bool = True) -> _PlainBar | _TqdmBar | _NoBar:
    """A bar with update(n, **postfix) and close(); silent when not enabled.

    Parameters
    ----------
    total : int
        Number of updates expected (steps or epochs).
    desc, unit : str
        Label before the bar and unit of the rate (it/s).
    enabled : bool
        False gives a bar that prints nothing.
    file : text stream, default sys.stderr
    use_tqdm : bool
        Use tqdm when it is importable; False forces the plain bar.
    """
    if not enabled:
        return _NoBar()
    file = sys.stderr if file is None else file
    if use_tqdm:
        try:
            from tqdm import tqdm
        except ImportError:
            pass
        else:
            return _TqdmBar(tqdm(total=total, desc=desc, unit=unit, file=file,
                                 dynamic_ncols=True))
    return _PlainBar(total, desc, unit, file)
