# fx_fixed.h through the fxlearn module: rounding, saturation, Q-format helpers.
import fxlearn as fx
from fxtest import Rand, error, I16, I32, I64

r = Rand(1)
edges64 = [0, 1, -1, 2, -2, 3, -3, I16[0], I16[1], I32[0], I32[1], I32[0] - 1, I32[1] + 1, I64[0], I64[1]]
xs = edges64 + r.ints(20, I64[0], I64[1]) + r.ints(20, I32[0], I32[1])

print("sat32", [fx.sat32(x) for x in xs])
print("sat16", [fx.sat16(x) for x in xs])
print("sat8", [fx.sat8(x) for x in xs])
for s in (0, 1, 2, 7, 15, 31, 32, 62):
    print("rhu_shift", s, [fx.rhu_shift(x, s) for x in xs])
dens = [1, 2, 3, 7, 10, 1 << 31, I64[1]] + r.ints(10, 1, I64[1])
for b in dens:
    print("rhu_div", b, [fx.rhu_div(a, b) for a in xs])

a16 = [I16[0], I16[1], 0, -1, 1, 181, -182] + r.ints(15, I16[0], I16[1])
b16 = [I16[1], I16[0], 0, 1, -1, 181, 181] + r.ints(15, I16[0], I16[1])
print("add_sat16", [fx.add_sat16(a, b) for a, b in zip(a16, b16)])
print("sub_sat16", [fx.sub_sat16(a, b) for a, b in zip(a16, b16)])
print("mul_sat16", [fx.mul_sat16(a, b) for a, b in zip(a16, b16)])
a32 = [I32[0], I32[1], 0, -1] + r.ints(15, I32[0], I32[1])
b32 = [I32[1], I32[0], -1, 1] + r.ints(15, I32[0], I32[1])
print("add_sat32", [fx.add_sat32(a, b) for a, b in zip(a32, b32)])
print("sub_sat32", [fx.sub_sat32(a, b) for a, b in zip(a32, b32)])
for q in (0, 1, 8, 15, 30):
    print("q_from_int", q, [fx.q_from_int(i, q) for i in a32[:8] + a16[:8]])
for qf, qt in ((0, 0), (15, 7), (7, 15), (30, 0), (0, 30), (12, 13)):
    print("q_rescale", qf, qt, [fx.q_rescale(x, qf, qt) for x in a32])

print("errors",
      error(fx.sat16, 1 << 63), error(fx.sat16, -(1 << 63) - 1), error(fx.sat16, 1.5),
      error(fx.rhu_shift, 1, 63), error(fx.rhu_shift, 1, -1),
      error(fx.rhu_div, 1, 0), error(fx.rhu_div, 1, -3),
      error(fx.add_sat16, 32768, 0), error(fx.add_sat32, 0, 1 << 31),
      error(fx.q_from_int, 1, 31), error(fx.q_rescale, 1, 0, 31))
