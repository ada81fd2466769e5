# fx_loss.h through the fxlearn module: exp/log tables, softmax cross-entropy, MSE on arrays.
from array import array

import fxlearn as fx
from fxtest import Rand, error, I16, I32

r = Rand(3)
print("exp_neg_q12", [fx.exp_neg_q12(d) for d in [-5, 0, 1, 63, 64, 4095, 4096, 40000, 1 << 20, I32[1]] + r.ints(20, 0, 1 << 17)])
print("log2_q12", [fx.log2_q12(x) for x in [1, 2, 3, 4095, 4096, 4097, (1 << 32) - 1] + r.ints(20, 1, (1 << 32) - 1)])

for n in (1, 2, 3, 10, 17):
    for trial in range(3):
        logits = array("h", r.ints(n, I16[0] if trial == 2 else -3000, I16[1] if trial == 2 else 3000))
        label = r.int(0, n - 1)
        mult, shift = r.int(1 << 30, I32[1]), r.int(-8, 4)
        grad = array("i", [7] * n)
        loss = fx.softmax_xent_s16(logits, label, mult, shift, grad)
        print("softmax_xent_s16", n, label, loss, list(grad), fx.softmax_xent_s16(logits, label, mult, shift))

y = array("h", r.ints(12, I16[0], I16[1]))
t = array("h", r.ints(12, I16[0], I16[1]))
g = array("i", [0] * 12)
print("mse_s16", fx.mse_s16(y, t, g), list(g), fx.mse_s16(y, t))
# views: a memoryview slice is a zero-copy sub-array
print("mse_s16 view", fx.mse_s16(memoryview(y)[2:5], memoryview(t)[2:5]))

print("errors",
      error(fx.log2_q12, 0), error(fx.log2_q12, 1 << 32),
      error(fx.softmax_xent_s16, array("h"), 0, 1 << 30, 0),
      error(fx.softmax_xent_s16, array("h", [1, 2]), 2, 1 << 30, 0),
      error(fx.softmax_xent_s16, array("h", [1, 2]), -1, 1 << 30, 0),
      error(fx.softmax_xent_s16, array("h", [1, 2]), 0, 5, 0),
      error(fx.softmax_xent_s16, array("i", [1, 2]), 0, 1 << 30, 0),
      error(fx.softmax_xent_s16, array("h", [1, 2]), 0, 1 << 30, 0, array("i", [0])),
      error(fx.softmax_xent_s16, array("h", [1, 2]), 0, 1 << 30, 0, array("h", [0, 0])),
      error(fx.softmax_xent_s16, array("h", [1, 2]), 0, 1 << 30, 0, bytes(8)),
      error(fx.mse_s16, array("h", [1, 2]), array("h", [1])),
      error(fx.mse_s16, array("h", [1, 2]), array("h", [1, 2]), array("i", [0, 0, 0])),
      error(fx.mse_s16, [1, 2], array("h", [1, 2])))
