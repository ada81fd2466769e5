# fx_blob.h + fx_mlp.h through fxlearn.Model: load a blob (made by the host's blob.write_blob),
# forward, predict, evaluate; bad blobs are refused.
from array import array

import fxlearn as fx
from fxtest import error

with open("model.fxb", "rb") as f:
    blob = f.read()
with open("x.bin", "rb") as f:
    x = array("h", f.read())
with open("labels.bin", "rb") as f:
    labels = array("H", f.read())

m = fx.Model(blob)
sizes = m.sizes()
print("sizes", sizes, "loss_scale", m.loss_scale(), m.blob() is blob)
n_in, n_out = sizes[0], sizes[-1]
y = array("h", [0] * n_out)
mv = memoryview(x)
for i in range(len(labels)):
    m.forward(mv[i * n_in:(i + 1) * n_in], y)
    print("forward", i, list(y), m.predict(mv[i * n_in:(i + 1) * n_in]))
print("correct", m.correct(x, labels), m.correct(mv[:5 * n_in], memoryview(labels)[:5]))

corrupt = bytearray(blob)
corrupt[60] ^= 1
truncated = bytearray(blob[:-4])
version = bytearray(blob)
version[4] = 2
print("model errors", error(fx.Model, corrupt), error(fx.Model, truncated), error(fx.Model, version),
      error(fx.Model, bytearray(8)), error(fx.Model, [1, 2]), error(m.forward, array("h", [0] * (n_in - 1)), y),
      error(m.forward, x[:n_in], array("h", [0] * (n_out + 1))), error(m.predict, array("b", [0] * n_in)),
      error(m.correct, x[:2 * n_in], array("H", [0, 1, 2])))

# blob_seal: a blob with a bias byte changed in place loads once resealed (the CRC was all that
# stopped it), only the CRC field changes; too short a buffer and a read-only one are refused.
changed = bytearray(blob)
changed[-40] ^= 1
refused = error(fx.Model, changed)
sealed = bytearray(changed)
fx.blob_seal(sealed)
print("sealed", refused, fx.Model(sealed).sizes() == sizes, sealed[16:] == changed[16:], sealed[:12] == changed[:12],
      list(sealed[12:16]), error(fx.blob_seal, bytearray(8)), error(fx.blob_seal, bytes(blob)))
