# fxlearn_train: the on-device training loop, in pure MicroPython on the `fxlearn` module
# (compiled into the firmware, or installed as fxlearn.mpy next to this file).
#
#     import fxlearn, fxlearn_train as ft
#     model = ft.load("model.fxb")                        # a blob made by the host
#     theta = ft.load_array("theta.bin", "h")             # trained parameters (train.plan)
#     opt = fxlearn.Optimizer(len(theta), 12, dir_q=24, z_max=2048, policy=fxlearn.OPTIM_ADAPT, c1_shift=0)
#     trainer = fxlearn.Trainer(model, 1, ft.load_array("scales.bin", "i"), theta, opt)
#     ft.fit(model, trainer, ft.FileSamples("train.fxd"), epochs=5, batch=16)
#     ft.save(model, "trained.fxb")
#
# Samples come from a dataset file on the board (FileSamples) or from the host over the serial
# link (StreamSamples, served by `fxlearn mp train --stream`). Progress goes to stdout as lines
# the host parses (integers only, no floats needed on the board):
#     @step <epoch> <first sample> <loss> <loss_trial> <n> <correct> <changed> <accepted>
#     @epoch <epoch> <loss sum> <samples> <correct> <accepted steps> <steps>
# loss is the kernel's batch loss (Q12 nats for softmax: divide by 4096 * samples for the mean),
# correct counts samples classified right before each step.
#
# Dataset file (little-endian, "FXDS" version 1): a 16-byte header
#     magic "FXDS", u16 version, u16 n_in, u32 n, u16 classes, u16 kind (0: labels, 1: targets)
# then x int16[n][n_in], then labels uint16[n] (kind 0) or targets int16[n][classes] (kind 1).
# Batches are taken in file order; the host shuffles when it writes the file.
import sys
from array import array

import fxlearn

MAGIC = b"FXDS"
HEADER = 16
KIND_LABELS, KIND_TARGETS = 0, 1


def _u16(b, i):
    return b[i] | b[i + 1] << 8


def _u32(b, i):
    return _u16(b, i) | _u16(b, i + 2) << 16


def load(path):
    """A trainable fxlearn.Model of a blob file (read into a bytearray: trained in place)."""
    with open(path, "rb") as f:
        return fxlearn.Model(bytearray(f.read()))


def load_array(path, typecode):
    """An array of a little-endian file the host wrote: training scales ("i", 9 per trained
    layer, train.plan's order), theta ("h", the initial trained parameters)."""
    with open(path, "rb") as f:
        return array(typecode, f.read())


def save(model, path):
    """Write the model's blob, CRC updated, to a file (it loads on any fxlearn target)."""
    blob = model.blob()
    fxlearn.blob_seal(blob)
    with open(path, "wb") as f:
        f.write(blob)


class _Batches:
    """Batch buffers reused for every batch: no allocation in the loop."""

    def _setup(self, n_in, n, classes, kind):
        if kind not in (KIND_LABELS, KIND_TARGETS):
            raise ValueError("dataset kind %d unknown" % kind)
        self.n_in, self.n, self.classes, self.kind = n_in, n, classes, kind
        self._y_code = "H" if kind == KIND_LABELS else "h"
        self._x = self._y = None

    def _buffers(self, batch):
        if self._x is None or len(self._x) != batch * self.n_in:
            self._x = array("h", bytes(2 * batch * self.n_in))
            self._y = array(self._y_code, bytes(2 * batch * self._y_items()))
        return memoryview(self._x), memoryview(self._y)

    def _y_items(self):
        return 1 if self.kind == KIND_LABELS else self.classes


class FileSamples(_Batches):
    """Samples of a dataset file on the board, read batch by batch (only a batch in RAM)."""

    def __init__(self, path):
        self._f = open(path, "rb")
        h = self._f.read(HEADER)
        if len(h) != HEADER or h[:4] != MAGIC or _u16(h, 4) != 1:
            raise ValueError("%s is not an FXDS version 1 dataset" % path)
        self._setup(_u16(h, 6), _u32(h, 8), _u16(h, 12), _u16(h, 14))

    def batches(self, batch):
        """(first sample, x, y) per batch; x and y are views of reused buffers."""
        xb, yb = self._buffers(batch)
        y_at = HEADER + 2 * self.n * self.n_in
        for start in range(0, self.n, batch):
            count = min(batch, self.n - start)
            x, y = xb[:count * self.n_in], yb[:count * self._y_items()]
            self._f.seek(HEADER + 2 * start * self.n_in)
            x[:] = array("h", self._f.read(2 * len(x)))
            self._f.seek(y_at + 2 * start * self._y_items())
            y[:] = array(self._y_code, self._f.read(2 * len(y)))
            yield start, x, y

    def close(self):
        self._f.close()


class StreamSamples(_Batches):
    """Samples sent by the host on request, one base64 line per batch on stdin (text-safe on
    every port: no control bytes, no stdin.buffer needed). Requests: "@header" (the 16-byte
    dataset header) and "@batch <first> <count>" (x then y of those samples)."""

    def __init__(self):
        h = self._request("@header")
        if len(h) != HEADER or h[:4] != MAGIC or _u16(h, 4) != 1:
            raise ValueError("the host did not send an FXDS version 1 header")
        self._setup(_u16(h, 6), _u32(h, 8), _u16(h, 12), _u16(h, 14))

    @staticmethod
    def _request(what):
        import binascii
        print(what)
        return binascii.a2b_base64(sys.stdin.readline().strip())

    def batches(self, batch):
        xb, yb = self._buffers(batch)
        for start in range(0, self.n, batch):
            count = min(batch, self.n - start)
            x, y = xb[:count * self.n_in], yb[:count * self._y_items()]
            data = self._request("@batch %d %d" % (start, count))
            nx = 2 * len(x)
            if len(data) != nx + 2 * len(y):
                raise ValueError("batch at %d: %d bytes from the host, %d expected" % (start, len(data), nx + 2 * len(y)))
            x[:] = array("h", data[:nx])
            y[:] = array(self._y_code, data[nx:])
            yield start, x, y


def fit(model, trainer, samples, epochs=1, batch=16, report=True):
    """Train for `epochs` passes over `samples` in batches; returns the per-epoch
    (loss sum, samples, correct, accepted steps, steps) list."""
    history = []
    for epoch in range(epochs):
        loss = seen = correct = accepted = steps = 0
        for start, x, y in samples.batches(batch):
            st = trainer.step(x, y)
            loss += st[0]
            seen += st[2]
            correct += st[3]
            accepted += st[5]
            steps += 1
            if report:
                print("@step", epoch, start, st[0], st[1], st[2], st[3], st[4], int(st[5]))
        history.append((loss, seen, correct, accepted, steps))
        if report:
            print("@epoch", epoch, loss, seen, correct, accepted, steps)
    return history


def evaluate(model, samples, batch=64):
    """(correct, samples) of the model on labelled samples."""
    right = seen = 0
    for _, x, y in samples.batches(batch):
        right += model.correct(x, y)
        seen += len(y)
    return right, seen


def outputs(model, samples, batch=16, report=True):
    """The model's logits on every sample and the evaluation the bare-metal firmware does
    (samples right, softmax loss summed in Q12 nats): what `fxlearn mp validate` compares
    with the host reference. Prints per batch "@out <first sample> <base64 int16 logits>",
    then "@outputs <correct> <loss sum> <samples>"; returns (correct, loss, samples)."""
    import binascii
    n_in, n_out = model.sizes()[0], model.sizes()[-1]
    mult, shift = model.loss_scale()
    right = loss = seen = 0
    out = None
    for start, x, y in samples.batches(batch):
        count = len(y)
        if out is None or len(out) != count * n_out:
            out = array("h", bytes(2 * count * n_out))
        logits = memoryview(out)
        for i in range(count):
            z = logits[i * n_out:(i + 1) * n_out]
            model.forward(x[i * n_in:(i + 1) * n_in], z)
            loss += fxlearn.softmax_xent_s16(z, y[i], mult, shift)
            right += fxlearn.argmax_s16(z) == y[i]
        seen += count
        if report:
            print("@out", start, binascii.b2a_base64(out).decode().strip())
    if report:
        print("@outputs", right, loss, seen)
    return right, loss, seen
