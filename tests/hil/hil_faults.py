"""Fault injection between the client and the port: drop or damage chosen frames in either
direction. Wraps the pyserial object of a Device, so the client code under test is unchanged."""
from __future__ import annotations

from typing import Callable


class FaultySerial:
    """`outgoing(index, frame) -> bytes` may replace the index-th frame the client writes
    (b"" drops it); `incoming_drop` is a set of indices of device frames to swallow whole
    (their delimiter is kept, so the frames around them stay intact)."""

    def __init__(self, ser, outgoing: Callable[[int, bytes], bytes] | None = None,
                 incoming_drop: set[int] | None = None):
        object.__setattr__(self, "_ser", ser)
        object.__setattr__(self, "outgoing", outgoing)
        object.__setattr__(self, "incoming_drop", set(incoming_drop or ()))
        object.__setattr__(self, "out_index", 0)
        object.__setattr__(self, "in_index", 0)

    def write(self, data: bytes) -> int:
        if self.outgoing is not None and data != b"\0":
            data = self.outgoing(self.out_index, data)
            object.__setattr__(self, "out_index", self.out_index + 1)
        if data:
            self._ser.write(data)
        return len(data)

    def read(self, n: int) -> bytes:
        data = self._ser.read(n)
        kept = bytearray()
        for b in data:
            if self.in_index not in self.incoming_drop or b == 0:
                kept.append(b)
            if b == 0:
                object.__setattr__(self, "in_index", self.in_index + 1)
        return bytes(kept)

    def __getattr__(self, name):
        return getattr(self._ser, name)

    def __setattr__(self, name, value):
        setattr(self._ser, name, value)


def inject(dev, **kw) -> FaultySerial:
    faulty = FaultySerial(dev._ser, **kw)
    dev._ser = faulty
    return faulty


def remove(dev) -> None:
    if isinstance(dev._ser, FaultySerial):
        dev._ser = dev._ser._ser
