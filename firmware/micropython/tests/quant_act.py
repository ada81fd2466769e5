# fx_quant.h and fx_act.h through the fxlearn module: formats, levels, ReLU, argmax, snap.
from array import array

import fxlearn as fx
from fxtest import Rand, error, I16

r = Rand(4)
formats = [(fx.FMT_INT8, 8), (fx.FMT_INT16, 16)]
formats += [(f, b) for f in (fx.FMT_UNIFORM, fx.FMT_POT) for b in (2, 3, 4, 5, 6, 8)]
formats += [(fx.FMT_APOT, b) for b in (2, 3, 4, 5, 6, 7)]
for f, b in formats:
    if f == fx.FMT_POT and b == 8:
        print("quant_check", f, b, error(fx.quant_check, f, b))
        continue
    fx.quant_check(f, b)
    codes = list(range(1 << b)) if b <= 8 else [0, 1, 2, 32767, 32768, 32769, 65535] + r.ints(10, 0, 65535)
    print("quant", f, b, fx.quant_max_level(f, b), [fx.quant_row_stride(f, b, n) for n in (1, 3, 7, 8, 64, 65535)],
          [fx.quant_level(f, b, c) for c in codes])
print("quant errors", error(fx.quant_check, 5, 4), error(fx.quant_check, fx.FMT_APOT, 8),
      error(fx.quant_check, fx.FMT_INT8, 16), error(fx.quant_level, fx.FMT_APOT, 4, 16),
      error(fx.quant_level, fx.FMT_INT8, 8, 256), error(fx.quant_row_stride, fx.FMT_POT, 4, 65536),
      error(fx.quant_max_level, -1, 4))

x = array("h", [I16[0], -1, 0, 1, I16[1]] + r.ints(20, I16[0], I16[1]))
y = array("h", x)
fx.relu_s16(y)
print("relu_s16", list(y))
print("argmax_s16", fx.argmax_s16(x), fx.argmax_s16(array("h", [3, 7, 7, 1])), fx.argmax_s16(array("h", [-5])))
levels = array("h", [-1000, -10, 0, 5, 300, 301, 32767])
for lv in (levels, array("h", [0]), array("h", [0, 64, 128, 256, 512, 1024, 2048, 4096])):
    z = array("h", x)
    fx.snap_s16(z, lv)
    print("snap_s16", list(z))
z = array("h", [-6, -5, -4, 4, 5, 6])
fx.snap_s16(z, array("h", [-10, 0, 10]))
print("snap_s16 ties", list(z))
print("act errors", error(fx.argmax_s16, array("h")), error(fx.relu_s16, bytes(4)),
      error(fx.relu_s16, array("i", [1])), error(fx.snap_s16, array("h", [1]), array("h")),
      error(fx.snap_s16, array("h", [1]), array("h", [3, 3])), error(fx.snap_s16, array("h", [1]), array("h", [3, 1])))
