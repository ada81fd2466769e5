# Helpers shared by the fxlearn MicroPython tests (runs under MicroPython and CPython alike).


class Rand:
    """64-bit LCG: the same numbers on every interpreter (no `random` module needed)."""

    def __init__(self, seed):
        self.s = seed & 0xFFFFFFFFFFFFFFFF

    def bits(self, n):
        self.s = (self.s * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        return self.s >> (64 - n)

    def int(self, lo, hi):
        """Uniform-ish in [lo, hi] (hi - lo < 2^64)."""
        r = (self.bits(32) << 32) | self.bits(32)
        return lo + r % (hi - lo + 1)

    def ints(self, n, lo, hi):
        return [self.int(lo, hi) for _ in range(n)]


def error(fn, *args, **kw):
    """The exception type name fn(*args, **kw) raises, or 'ok'."""
    try:
        fn(*args, **kw)
    except Exception as e:
        return type(e).__name__
    return "ok"


I16 = (-32768, 32767)
I32 = (-(1 << 31), (1 << 31) - 1)
I64 = (-(1 << 63), (1 << 63) - 1)
