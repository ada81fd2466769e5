# fx_train.h through fxlearn.Trainer: mini-batch steps moved by the quantized optimizer
# (Idle-and-Go on the batch loss), in place on theta and a bytearray blob; the whole-batch, the
# streaming and the cached forms give the same integers.
from array import array

import fxlearn as fx
from fxtest import error


def read(name, code):
    with open(name, "rb") as f:
        return array(code, f.read())


with open("model.fxb", "rb") as f:
    blob0 = f.read()
scales, theta0, slope = read("scales.bin", "i"), read("theta.bin", "h"), read("slope.bin", "i")[0]
x, labels = read("x.bin", "h"), read("labels.bin", "H")
n_in, batch, n = 12, 8, 48
xv = memoryview(x)


def checksum(b):
    s = 0
    for i in range(0, len(b), 4):
        s = (s * 31 + b[i] + (b[i + 1] << 8) + (b[i + 2] << 16) + (b[i + 3] << 24)) & 0xFFFFFFFF
    return s


def setup(cache=0, **optim):
    blob = bytearray(blob0)
    model = fx.Model(blob)
    theta = array("h", theta0)
    opt = fx.Optimizer(len(theta), 12, dir_q=24, z_max=2048, policy=fx.OPTIM_ADAPT, c1_shift=0, **optim)
    t = fx.Trainer(model, 1, scales, theta, opt, fx.LOSS_SOFTMAX_XENT, slope, cache)
    return blob, model, theta, opt, t


blob, m, theta, opt, t = setup()
print("trainer", t.n_params(), t.workspace_size(), checksum(blob), list(theta[:8]))
for epoch in range(3):
    for b in range(0, n, batch):
        print("step", epoch, b, t.step(xv[b * n_in:(b + batch) * n_in], memoryview(labels)[b:b + batch]))
    print("epoch", epoch, "correct", m.correct(x, labels), "blob", checksum(blob), "optimizer", opt.stats())


def streamed(t, cached):
    for epoch in range(3):
        for b in range(0, n, batch):
            t.begin()
            for i in range(b, b + batch):
                t.accumulate(xv[i * n_in:(i + 1) * n_in], labels[i])
            if t.propose():
                order = range(b, b + batch) if cached else range(b + batch - 1, b - 1, -1)  # any order
                for i in order:
                    t.evaluate(None if cached else xv[i * n_in:(i + 1) * n_in], labels[i])
            t.finish()


blob2, m2, theta2, opt2, t2 = setup()
streamed(t2, False)
print("streaming same", blob2 == blob, theta2 == theta, opt2.stats() == opt.stats())
blob3, m3, theta3, opt3, t3 = setup(batch)
streamed(t3, True)
print("cached same", blob3 == blob, theta3 == theta, t3.workspace_size())

for name, kw in (("paper", dict(ortho=1)), ("wide", dict(schedule=fx.OPTIM_INTERP, shrink_shift=2, min_lsb=True,
                 pattern=True, expand=2, box=3, ortho=2)), ("stochastic", dict(rounding=fx.OPTIM_STOCHASTIC, seed=7)),
                 ("error-feedback", dict(rounding=fx.OPTIM_ERROR_FEEDBACK))):
    blob4, m4, theta4, opt4, t4 = setup(**kw)
    for b in range(0, n, batch):
        t4.step(xv[b * n_in:(b + batch) * n_in], memoryview(labels)[b:b + batch])
    print("mode", name, checksum(blob4), opt4.stats(), m4.correct(x, labels))

last_theta = array("h", theta0[len(theta0) - 4 * 9:])
last = fx.Trainer(fx.Model(bytearray(blob0)), 2, scales[9:], last_theta, fx.Optimizer(36, 12, dir_q=24), 0, slope, batch)
print("last layer", last.step(x, labels), last.workspace_size(), list(last_theta))

o = fx.Optimizer(len(theta0), 12)
print("trainer errors", error(fx.Trainer, fx.Model(blob0), 1, scales, array("h", theta0), o),
      error(fx.Trainer, m, 3, scales, theta, o), error(fx.Trainer, m, 1, scales[:9], theta, o),
      error(fx.Trainer, m, 1, scales, theta[:5], o), error(fx.Trainer, m, 1, scales, theta, fx.Optimizer(5, 12)),
      error(fx.Trainer, m, 1, scales, bytes(2 * len(theta)), o), error(fx.Trainer, m, 1, scales, theta, 5),
      error(fx.Trainer, blob, 1, scales, theta, o), error(fx.Trainer, m, 1, scales, theta, o, 2),
      error(fx.Trainer, m, 1, scales, theta, o, 0, 63), error(fx.Trainer, m, 0, array("i", [0] * 27), array("h", [0] * 230), o),
      error(t.step, x[:n_in + 1], labels[:1]), error(t.step, x[:n_in], array("H", [4])),
      error(t.step, x[:2 * n_in], labels[:3]), error(t.finish), error(t.propose))
t.begin()
print("state errors", error(t.evaluate, x[:n_in], 0), error(t.finish), error(t.accumulate, x[:n_in], 9))
