# fx_requant.h through the fxlearn module: the TFLM single-rounding requantization.
import fxlearn as fx
from fxtest import Rand, error, I32

r = Rand(2)
accs = [0, 1, -1, I32[0], I32[1], 12345, -12345] + r.ints(25, I32[0], I32[1]) + r.ints(10, -5000, 5000)
scales = [(0, 0), (1 << 30, 0), (I32[1], 0), (1 << 30, -31), (I32[1], 30), (1 << 30, 30)]
scales += [(r.int(1 << 30, I32[1]), r.int(-31, 30)) for _ in range(10)]
for mult, shift in scales:
    fx.requant_check(mult, shift)
    print("requant", mult, shift, [fx.requant(a, mult, shift) for a in accs])
    print("requant_s16", [fx.requant_s16(a, mult, shift, -32768, 32767) for a in accs])
    print("requant_s16 relu", [fx.requant_s16(a, mult, shift, 0, 1000) for a in accs])
    print("requant_s8", [fx.requant_s8(a, mult, shift, -128, 127) for a in accs])
    print("requant_s8 relu", [fx.requant_s8(a, mult, shift, 0, 127) for a in accs])

print("errors",
      error(fx.requant_check, 5, 0), error(fx.requant_check, -1, 0), error(fx.requant_check, 1 << 30, 31),
      error(fx.requant_check, 1 << 30, -32), error(fx.requant_check, 1 << 31, 0),
      error(fx.requant, 1, 5, 0), error(fx.requant, 1 << 31, 1 << 30, 0),
      error(fx.requant_s16, 1, 1 << 30, 0, 5, 4), error(fx.requant_s16, 1, 1 << 30, 0, -32769, 0),
      error(fx.requant_s8, 1, 1 << 30, 0, 0, 128), error(fx.requant_s8, 1, 7, 0, 0, 1))
