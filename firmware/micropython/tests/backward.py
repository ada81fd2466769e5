# fx_train_backward.h through the fxlearn module: gradient accumulation, backward to the input,
# the clamp derivative.
from array import array

import fxlearn as fx
from fxtest import Rand, error, I16, I32

r = Rand(6)
for n_in, n_out in ((1, 1), (5, 3), (12, 10)):
    dw = array("i", r.ints(n_in * n_out, -1000, 1000))
    db = array("i", r.ints(n_out, -1000, 1000))
    dw[0], db[0] = I32[1] - 5, I32[0] + 5          # saturation on the way
    for s in (0, 1, 3, 30):
        fx.dense_grad_accum_s16(array("h", r.ints(n_in, I16[0], I16[1])), array("h", r.ints(n_out, I16[0], I16[1])), s, dw, db)
    print("dense_grad_accum_s16", n_in, n_out, list(dw), list(db))
    w = array("h", r.ints(n_in * n_out, I16[0], I16[1]))
    g_in = array("h", [0] * n_in)
    for mult, shift in ((1 << 30, 0), (1 << 30, -15), (r.int(1 << 30, I32[1]), r.int(-20, 5))):
        fx.dense_backward_input_s16(array("h", r.ints(n_out, I16[0], I16[1])), w, mult, shift, g_in)
        print("dense_backward_input_s16", mult, shift, list(g_in))
    y = array("h", [0, 1, 32767, -1, 100] * n_in)[:n_in]
    g = array("h", r.ints(n_in, I16[0], I16[1]))
    fx.act_backward_s16(y, 0, 32767, g)
    print("act_backward_s16", list(g))

x3, g2 = array("h", [1, 2, 3]), array("h", [1, 2])
print("backward errors",
      error(fx.dense_grad_accum_s16, x3, g2, 31, array("i", [0] * 6), array("i", [0] * 2)),
      error(fx.dense_grad_accum_s16, x3, g2, 0, array("i", [0] * 5), array("i", [0] * 2)),
      error(fx.dense_grad_accum_s16, x3, g2, 0, array("i", [0] * 6), array("i", [0] * 3)),
      error(fx.dense_grad_accum_s16, array("h"), g2, 0, array("i"), array("i", [0] * 2)),
      error(fx.dense_backward_input_s16, g2, array("h", [0] * 5), 1 << 30, 0, x3),
      error(fx.dense_backward_input_s16, g2, array("h", [0] * 6), 3, 0, x3),
      error(fx.act_backward_s16, x3, 5, 4, array("h", [0] * 3)),
      error(fx.act_backward_s16, x3, 0, 5, array("h", [0] * 2)),
      error(fx.act_backward_s16, x3, 0, 5, bytes(6)))
