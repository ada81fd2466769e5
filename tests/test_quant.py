"""Weight formats (docs/kernel.md section 3): level sets against ALGORITHMS.md 2.1, the C tables
and validation against the Python reference, packing layout, encoders' rounding and error."""
from __future__ import annotations

import ctypes as C
from fractions import Fraction

import numpy as np
import pytest

from fxlearn import quant

FX_OK, FX_ERR_BITS, FX_ERR_FORMAT, FX_ERR_PARAM = 0, -3, -4, -5

# (format, bits) the kernel supports: the packed widths of every format, and INT8 / INT16.
VALID = ([(quant.FMT_INT8, 8), (quant.FMT_INT16, 16)]
         + [(quant.FMT_UNIFORM, b) for b in (2, 3, 4, 5, 6, 8)]
         + [(quant.FMT_POT, b) for b in (2, 3, 4, 5, 6)]
         + [(quant.FMT_APOT, b) for b in (2, 3, 4, 5, 6, 7)])
PACKED = [fb for fb in VALID if fb[0] in quant.PACKED_FORMATS]


def test_apot_levels_are_algorithms_md():
    # ALGORITHMS.md 2.1: the B = 4 levels relative to the largest, and the largest sums
    b4 = [Fraction(0), Fraction(1, 48), Fraction(1, 24), Fraction(1, 16), Fraction(1, 12), Fraction(1, 8),
          Fraction(1, 6), Fraction(3, 16), Fraction(1, 4), Fraction(1, 3), Fraction(3, 8), Fraction(1, 2),
          Fraction(2, 3), Fraction(11, 16), Fraction(3, 4), Fraction(1)]
    lv = quant.levels(quant.FMT_APOT, 5)
    assert [Fraction(v, lv[-1]) for v in lv] == b4
    unit = {2: 8, 3: 16, 4: 64, 5: 128, 6: 512}               # smallest power used, 1/unit
    largest = {2: Fraction(1, 2), 3: Fraction(5, 8), 4: Fraction(3, 4), 5: Fraction(25, 32), 6: Fraction(7, 8)}
    for B in range(2, 7):
        lv = quant.levels(quant.FMT_APOT, B + 1)
        assert len(lv) == len(set(lv)) == 1 << B and list(lv) == sorted(lv) and lv[0] == 0
        assert Fraction(lv[-1], unit[B]) == largest[B]
    assert quant.levels(quant.FMT_APOT, 2) == (0, 1)          # ternary 2-bit weights


def test_pot_and_uniform_levels():
    assert quant.levels(quant.FMT_POT, 4) == (0, 1, 2, 4, 8, 16, 32, 64)
    assert quant.levels(quant.FMT_POT, 2) == (0, 1)
    assert quant.levels(quant.FMT_UNIFORM, 3) == (0, 1, 2, 3)
    assert quant.max_level(quant.FMT_UNIFORM, 8) == 127 and quant.max_level(quant.FMT_POT, 6) == 1 << 30
    with pytest.raises(ValueError):
        quant.levels(quant.FMT_POT, 8)                        # would need 2^126


def test_check_and_stride_match_c(kernel, rng):
    for fmt in range(-1, 7):
        for bits in range(-1, 18):
            st = kernel.fx_quant_check(fmt, bits)
            valid = (fmt, bits) in VALID
            assert (st == FX_OK) == valid, (fmt, bits)
            if not valid:
                assert st == (FX_ERR_FORMAT if fmt not in range(5) else FX_ERR_BITS), (fmt, bits)
                with pytest.raises(ValueError):
                    quant.check_format(fmt, bits)
                continue
            quant.check_format(fmt, bits)
            out = C.c_uint32()
            for n_in in np.concatenate([np.arange(1, 20), rng.integers(1, 65536, 60), [65535]]):
                assert kernel.fx_quant_row_stride(fmt, bits, int(n_in), C.byref(out)) == FX_OK
                assert out.value == quant.row_stride(fmt, bits, int(n_in))
            assert kernel.fx_quant_row_stride(fmt, bits, 65536, C.byref(out)) == -2
            assert kernel.fx_quant_row_stride(fmt, bits, 3, None) == -1


@pytest.mark.parametrize("fmt,bits", VALID)
def test_levels_of_every_code_match_c(kernel, fmt, bits):
    out, top = C.c_int32(), C.c_uint32()
    codes = np.arange(1 << bits)
    c_levels = []
    for code in codes:
        assert kernel.fx_quant_level(fmt, bits, int(code), C.byref(out)) == FX_OK
        c_levels.append(out.value)
    if fmt in quant.PACKED_FORMATS:
        ref = quant.code_levels(fmt, bits)
    else:   # the element's bit pattern as a two's complement value
        ref = np.where(codes >= 1 << (bits - 1), codes - (1 << bits), codes)
    assert c_levels == ref.tolist()
    assert kernel.fx_quant_level(fmt, bits, 1 << bits, C.byref(out)) == FX_ERR_PARAM
    assert kernel.fx_quant_max_level(fmt, bits, C.byref(top)) == FX_OK
    assert top.value == quant.max_level(fmt, bits) == max(abs(v) for v in c_levels)


@pytest.mark.parametrize("bits", quant.APOT_BITS)
def test_c_apot_terms_are_shifts_of_the_terms(kernel, bits):
    B = bits - 1
    table = kernel.fx_quant_apot_terms(bits)
    for m, level in enumerate(quant.levels(quant.FMT_APOT, bits)):
        t = table[m]
        shifts = list(t.shift)[:t.n]
        assert t.n <= (B + 1) // 2 and len(set(shifts)) == t.n
        assert sum(1 << s for s in shifts) == level
        assert sorted(1 << s for s in shifts) == sorted(quant.apot_terms_of_level(bits, level))
    assert not kernel.fx_quant_apot_terms(1) and not kernel.fx_quant_apot_terms(8)


def test_pack_layout_hand_cases():
    # 4-bit: element 2j in the low nibble; 2-bit: four per byte; rows start on a byte boundary
    assert quant.pack([[1, 2, 3]], 4).tolist() == [[0x21, 0x03]]
    assert quant.pack([[1, 2, 3, 0, 1]], 2).tolist() == [[0x39, 0x01]]
    # 3-bit 5,3,7 -> bits LSB-first 101 110 111 -> byte0 = 0b11011101, byte1 = 0b1
    assert quant.pack([[5, 3, 7], [1, 0, 0]], 3).tolist() == [[0xDD, 0x01], [0x01, 0x00]]
    assert quant.pack([[0x81, 0x7F]], 8).tolist() == [[0x81, 0x7F]]


def test_pack_unpack_round_trip(rng):
    for _ in range(1000):
        bits = int(rng.choice([2, 3, 4, 5, 6, 7, 8]))
        rows, n_in = int(rng.integers(1, 6)), int(rng.integers(1, 40))
        codes = rng.integers(0, 1 << bits, size=(rows, n_in))
        packed = quant.pack(codes, bits)
        assert packed.shape == (rows, (n_in * bits + 7) // 8)
        assert (quant.unpack(packed, bits, n_in) == codes).all()
    with pytest.raises(ValueError):
        quant.pack([[4]], 2)
    with pytest.raises(ValueError):
        quant.unpack(np.zeros((1, 3), np.uint8), 4, 3)


@pytest.mark.parametrize("fmt,bits", VALID)
def test_levels_codes_bytes_round_trip(rng, fmt, bits):
    for _ in range(50):
        shape = (int(rng.integers(1, 8)), int(rng.integers(1, 30)))
        if fmt in quant.PACKED_FORMATS:
            codes = rng.integers(0, 1 << bits, size=shape)
            lv = quant.codes_to_levels(codes, fmt, bits)
            back = quant.levels_to_codes(lv, fmt, bits)
            # the same levels, and never the sign bit on a zero
            assert (quant.codes_to_levels(back, fmt, bits) == lv).all()
            assert not ((back >> (bits - 1)) & (lv == 0)).any()
        else:
            lv = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=shape)
        data = quant.weight_bytes(lv, fmt, bits)
        assert data.shape == (shape[0], quant.row_stride(fmt, bits, shape[1]))
        assert (quant.weight_from_bytes(data.tobytes(), fmt, bits, *shape) == lv).all()
    with pytest.raises(ValueError):
        bad = quant.max_level(fmt, bits) + 1
        quant.levels_to_codes([[bad]], fmt, bits)


@pytest.mark.parametrize("fmt,bits", VALID)
@pytest.mark.parametrize("per_channel", [False, True])
def test_quantize_error_bound(rng, fmt, bits, per_channel):
    """Inside the clip range the error is at most half the gap between the neighbouring levels;
    outside it the weight becomes +-alpha."""
    if fmt in quant.PACKED_FORMATS:
        mags = np.array(quant.levels(fmt, bits), dtype=np.float64)
    else:
        mags = np.arange((1 << (bits - 1)), dtype=np.float64)
    for _ in range(30):
        w = rng.normal(size=(int(rng.integers(1, 9)), int(rng.integers(1, 40)))) * rng.uniform(0.01, 10)
        amax = np.abs(w).max(axis=1) if per_channel else np.abs(w).max()
        alpha = amax * rng.uniform(0.3, 1.2)
        codes, unit = quant.quantize(w, fmt, bits, alpha=alpha, per_channel=per_channel)
        assert np.shape(unit) == ((w.shape[0],) if per_channel else ())
        deq = quant.dequantize(codes, fmt, bits, unit)
        a = np.broadcast_to(alpha[:, None] if per_channel else alpha, w.shape)
        u = np.broadcast_to(unit[:, None] if per_channel else unit, w.shape)
        inside = np.abs(w) <= a
        k = np.clip(np.searchsorted(mags, np.abs(w) / u), 1, len(mags) - 1)
        half_gap = (mags[k] - mags[k - 1]) / 2 * u
        assert np.all(np.abs(deq - w)[inside] <= half_gap[inside] * (1 + 1e-9) + 1e-12)
        assert np.allclose(deq[~inside], np.sign(w[~inside]) * a[~inside])
        assert np.allclose(mags[-1] * unit, alpha)


def test_quantize_ties_go_to_the_larger_magnitude():
    # unit scale 1 exactly (alpha = the largest level): midpoints between levels
    lv = quant.levels(quant.FMT_APOT, 5)
    mids = [(lo + hi) / 2 for lo, hi in zip(lv, lv[1:])]
    codes, unit = quant.quantize(np.array(mids + [-m for m in mids]), quant.FMT_APOT, 5, alpha=lv[-1])
    assert unit == 1.0
    assert quant.codes_to_levels(codes, quant.FMT_APOT, 5).tolist() == list(lv[1:]) + [-v for v in lv[1:]]
    codes, _ = quant.quantize(np.array([2.5, -2.5, 0.5, -0.49]), quant.FMT_INT8, 8, alpha=127.0)
    assert codes.tolist() == [3, -3, 1, 0]


def test_quantize_defaults_and_errors():
    w = np.array([[0.5, -1.0], [0.0, 0.0]])
    codes, unit = quant.quantize(w, quant.FMT_POT, 3, per_channel=True)   # alpha = max|w| per row
    assert unit.tolist() == [0.25, 0.0] and codes[1].tolist() == [0, 0]
    assert quant.dequantize(codes, quant.FMT_POT, 3, unit).tolist() == [[0.5, -1.0], [0.0, 0.0]]
    for bad in (dict(alpha=-1.0), dict(alpha=float("nan"))):
        with pytest.raises(ValueError):
            quant.quantize(w, quant.FMT_APOT, 4, **bad)
    with pytest.raises(ValueError):
        quant.quantize(w[0], quant.FMT_APOT, 4, per_channel=True)
    with pytest.raises(ValueError):
        quant.quantize(w, 7, 4)
    with pytest.raises(ValueError):
        quant.quantize(w, quant.FMT_INT8, 4)
    with pytest.raises(ValueError):
        quant.quantize(np.array([np.inf]), quant.FMT_INT8, 8)
