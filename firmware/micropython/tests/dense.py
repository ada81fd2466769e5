# fx_dense.h through the fxlearn module: every format, int16/int8 in and out, per-tensor and
# per-channel scales, on random weight bytes (every bit pattern is a valid code).
from array import array

import fxlearn as fx
from fxtest import Rand, error, I16, I32

r = Rand(5)
cases = [(fx.FMT_INT8, 8), (fx.FMT_INT16, 16), (fx.FMT_UNIFORM, 3), (fx.FMT_UNIFORM, 8), (fx.FMT_POT, 4),
         (fx.FMT_POT, 6), (fx.FMT_APOT, 2), (fx.FMT_APOT, 5), (fx.FMT_APOT, 7)]
for f, b in cases:
    for n_in, n_out in ((1, 1), (7, 3), (33, 5)):
        stride = fx.quant_row_stride(f, b, n_in)
        weights = bytearray(r.ints(stride * n_out, 0, 255))
        if f == fx.FMT_INT16:
            weights = array("h", r.ints(n_in * n_out, I16[0], I16[1]))
        bias = array("i", r.ints(n_out, -(1 << 20), 1 << 20))
        per_channel = n_out > 1 and r.int(0, 1)
        n_scale = n_out if per_channel else 1
        mult = array("i", r.ints(n_scale, 1 << 30, I32[1]))
        shift = array("i", r.ints(n_scale, -20, 2))
        x16 = array("h", r.ints(n_in, I16[0], I16[1]))
        x8 = array("b", r.ints(n_in, -128, 127))
        y16, y8 = array("h", [0] * n_out), array("b", [0] * n_out)
        fx.dense_s16(x16, y16, f, b, weights, bias, mult, shift, -32768, 32767)
        print("dense_s16", f, b, n_in, n_out, list(y16))
        fx.dense_s16(x16, y16, f, b, weights, bias, mult, shift, 0, 1000)
        print("dense_s16 relu", list(y16))
        fx.dense_s16_s8(x16, y8, f, b, weights, bias, mult, shift, -128, 127)
        print("dense_s16_s8", list(y8))
        fx.dense_s8(x8, y8, f, b, weights, bias, mult, shift, 0, 127)
        print("dense_s8", list(y8))
        fx.dense_s8_s16(x8, y16, f, b, weights, bias, mult, shift, -32768, 32767)
        print("dense_s8_s16", list(y16))

x, y = array("h", [1, 2, 3]), array("h", [0, 0])
w, bias, m, s = bytearray(6), array("i", [0, 0]), array("i", [1 << 30]), array("i", [0])
args = [x, y, fx.FMT_INT8, 8, w, bias, m, s, -32768, 32767]


def bad(i, v):
    a = list(args)
    a[i] = v
    return error(fx.dense_s16, *a)


print("dense ok", error(fx.dense_s16, *args))
print("dense errors", bad(0, array("b", [1, 2, 3])), bad(1, bytes(4)), bad(1, array("h")), bad(2, 9), bad(3, 7),
      bad(4, bytearray(5)), bad(5, array("i", [0])), bad(6, array("i", [1 << 30, 1 << 30])),
      bad(6, array("i", [5])), bad(7, array("i", [40])), bad(8, 10), bad(9, 40000), bad(4, [0] * 6))
