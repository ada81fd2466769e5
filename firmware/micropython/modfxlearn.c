/* fxlearn MicroPython module: the C kernel (firmware/kernel) on buffer-protocol objects.
 *
 * One source, two builds:
 *  - user C module (micropython.mk / micropython.cmake): compiled into the firmware;
 *  - dynamic native module (.mpy, Makefile + py/dynruntime.mk), MICROPY_ENABLE_DYNRUNTIME set:
 *    loaded at run time by stock firmware.
 * Everything the two share is written against the API subset that py/dynruntime.h provides;
 * only the registration at the end differs.
 *
 * Conventions (docs/micropython.md): arrays are array('h') int16, array('b') int8, array('i')
 * int32 (or memoryviews of them: a slice is a zero-copy view); raw byte data (codes, blobs) is any
 * buffer. Kernels read and write the caller's buffers in place: nothing is copied or allocated on
 * the hot path. Shapes, lengths and parameter ranges are checked here, before the kernel runs, so
 * a mistake raises ValueError / TypeError with a message naming the argument. */
#include <stdarg.h>

#ifdef MICROPY_ENABLE_DYNRUNTIME
#include "py/dynruntime.h"
#else
#include "py/runtime.h"
#include "py/binary.h"
#include "py/mpprint.h"
#endif

#include "fxlearn.h"
#include "fx_blob.h"
#include "fx_loss.h"
#include "fx_optim.h"
#include "fx_train.h"

#ifdef MICROPY_ENABLE_DYNRUNTIME
/* A native module links no libc, but the compiler may turn loops and struct copies into these
 * calls (the kernel's zeroing loops become memset on Cortex-M): forward them to the firmware's. */
void *memset(void *s, int c, size_t n) {
    return mp_fun_table.memset_(s, c, n);
}
void *memcpy(void *dst, const void *src, size_t n) {
    return mp_fun_table.memmove_(dst, src, n);
}
void *memmove(void *dst, const void *src, size_t n) {
    return mp_fun_table.memmove_(dst, src, n);
}
#endif

/* ---- errors ------------------------------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
} fxmp_msg_t;

static void fxmp_msg_strn(void *data, const char *str, size_t len) {
    fxmp_msg_t *m = data;
    while (len-- > 0 && m->len < m->cap) {
        m->buf[m->len++] = *str++;
    }
}

/* Raise `type` with a printf-formatted message (mp_printf syntax: %s %d %u %ld). */
static NORETURN void fxmp_raise(const mp_obj_type_t *type, const char *fmt, ...) {
    char buf[160];
    fxmp_msg_t m = { buf, 0, sizeof(buf) };
    mp_print_t print = { &m, fxmp_msg_strn };
    va_list ap;
    va_start(ap, fmt);
    mp_vprintf(&print, fmt, ap);
    va_end(ap);
    nlr_raise(mp_obj_new_exception_arg1(type, mp_obj_new_str(buf, m.len)));
}

/* Kernel status -> exception. The wrappers validate first, so this is the second line of
 * defence (and the only one for checks that need the data, e.g. a corrupt blob). */
static void fxmp_check(fx_status st, const char *fn) {
    const char *what;
    switch (st) {
        case FX_OK:
            return;
        case FX_ERR_NULL:
            what = "FX_ERR_NULL (missing buffer)";
            break;
        case FX_ERR_SHAPE:
            what = "FX_ERR_SHAPE (zero, too large or non-chaining dimension)";
            break;
        case FX_ERR_BITS:
            what = "FX_ERR_BITS (bit width not supported by the format)";
            break;
        case FX_ERR_FORMAT:
            what = "FX_ERR_FORMAT (unknown format)";
            break;
        case FX_ERR_PARAM:
            what = "FX_ERR_PARAM (parameter outside its range)";
            break;
        case FX_ERR_BUFFER:
            what = "FX_ERR_BUFFER (buffer too small)";
            break;
        case FX_ERR_CORRUPT:
            what = "FX_ERR_CORRUPT (data failed validation)";
            break;
        case FX_ERR_VERSION:
            what = "FX_ERR_VERSION (unsupported version)";
            break;
        case FX_ERR_STATE:
            fxmp_raise(&mp_type_RuntimeError, "%s: FX_ERR_STATE (call not valid in this state)", fn);
        default:
            what = "unknown status";
            break;
    }
    fxmp_raise(&mp_type_ValueError, "%s: %s (%d)", fn, what, (int)st);
}

/* ---- integers ------------------------------------------------------------------------------- */

/* Any MicroPython int in the int64 range, on 32- and 64-bit ports alike (big ints are split with
 * shifts: the native-module API has no long-long accessor). */
static int64_t fxmp_get_i64(mp_obj_t o, const char *name) {
    if (mp_obj_is_small_int(o)) {
        return MP_OBJ_SMALL_INT_VALUE(o);
    }
    mp_obj_t top = mp_binary_op(MP_BINARY_OP_RSHIFT, o, MP_OBJ_NEW_SMALL_INT(62));
    if (!mp_obj_is_small_int(top) || MP_OBJ_SMALL_INT_VALUE(top) < -2 || MP_OBJ_SMALL_INT_VALUE(top) > 1) {
        fxmp_raise(&mp_type_ValueError, "%s: outside the int64 range", name);
    }
    /* two unsigned 32-bit halves (an mpz of -2^31 does not convert to a 32-bit mp_int_t) */
    mp_obj_t mask = mp_obj_new_int_from_uint(0xffffffffu);
    mp_obj_t hi_obj = mp_binary_op(MP_BINARY_OP_RSHIFT, o, MP_OBJ_NEW_SMALL_INT(32));
    uint32_t hi = (uint32_t)mp_obj_get_int_truncated(mp_binary_op(MP_BINARY_OP_AND, hi_obj, mask));
    uint32_t lo = (uint32_t)mp_obj_get_int_truncated(mp_binary_op(MP_BINARY_OP_AND, o, mask));
    return (int64_t)((uint64_t)hi << 32 | lo);
}

static mp_obj_t fxmp_new_i64(int64_t v) {
    if (v >= -(INT64_C(1) << 29) && v < (INT64_C(1) << 29)) {
        return MP_OBJ_NEW_SMALL_INT((mp_int_t)v); /* a small int on every port */
    }
    if (sizeof(mp_int_t) >= sizeof(int64_t)) {
        return mp_obj_new_int((mp_int_t)v);
    }
    mp_obj_t hi = mp_obj_new_int((mp_int_t)(v >> 32));
    mp_obj_t lo = mp_obj_new_int_from_uint((mp_uint_t)(uint32_t)v);
    return mp_binary_op(MP_BINARY_OP_OR, mp_binary_op(MP_BINARY_OP_LSHIFT, hi, MP_OBJ_NEW_SMALL_INT(32)), lo);
}

/* Decimal text of an int64 into buf[21] (mp_printf's %ld is 32-bit on 32-bit ports). */
static const char *fxmp_fmt_i64(char *buf, int64_t v) {
    char *p = buf + 20;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    *p = '\0';
    do {
        uint64_t digit;
        u = fx_udiv64(u, 10, &digit);   /* not C's: no libgcc 64-bit division in the module */
        *--p = (char)('0' + digit);
    } while (u != 0);
    if (v < 0) {
        *--p = '-';
    }
    return p;
}

/* An int in [lo, hi], else ValueError naming the argument (same error on every port). */
static int64_t fxmp_get_range(mp_obj_t o, int64_t lo, int64_t hi, const char *name) {
    int64_t v = fxmp_get_i64(o, name);
    if (v < lo || v > hi) {
        char bv[21], blo[21], bhi[21];
        fxmp_raise(&mp_type_ValueError, "%s: %s outside [%s, %s]", name, fxmp_fmt_i64(bv, v),
            fxmp_fmt_i64(blo, lo), fxmp_fmt_i64(bhi, hi));
    }
    return v;
}

#define FXMP_I32(o, name) ((int32_t)fxmp_get_range((o), INT32_MIN, INT32_MAX, (name)))
#define FXMP_I16(o, name) ((int16_t)fxmp_get_range((o), INT16_MIN, INT16_MAX, (name)))
#define FXMP_I8(o, name) ((int8_t)fxmp_get_range((o), INT8_MIN, INT8_MAX, (name)))

static void fxmp_check_scale(int32_t mult, int32_t shift, const char *fn) {
    if (fx_requant_check(mult, shift) != FX_OK) {
        fxmp_raise(&mp_type_ValueError, "%s: scale (mult=%ld, shift=%ld) invalid: mult must be 0 or in "
            "[2^30, 2^31-1], shift in [-31, 30]", fn, (long)mult, (long)shift);
    }
}

/* ---- buffers -------------------------------------------------------------------------------- */

/* Element kinds of typed arrays, by the array typecodes that hold them. */
typedef enum { FXMP_S8, FXMP_S16, FXMP_S32, FXMP_U16, FXMP_S64, FXMP_BYTES } fxmp_kind_t;

static const char *const fxmp_kind_name[] = {
    "array('b') (int8)", "array('h') (int16)", "array('i') (int32)", "array('H') (uint16)",
    "array('q') (int64)", "a bytes-like object",
};

static bool fxmp_typecode_ok(int typecode, fxmp_kind_t kind) {
    switch (kind) {
        case FXMP_S8:
            return typecode == 'b';
        case FXMP_S16:
            return typecode == 'h';
        case FXMP_S32: /* 'l' is int32 on 32-bit ports */
            return typecode == 'i' || (typecode == 'l' && mp_binary_get_size('@', 'l', NULL) == 4);
        case FXMP_U16:
            return typecode == 'H';
        case FXMP_S64:
            return typecode == 'q';
        default:
            return true;
    }
}

/* The buffer of `o` as `kind`; *n receives the number of elements. No copy. */
static void *fxmp_buffer(mp_obj_t o, fxmp_kind_t kind, bool writable, size_t *n, const char *name) {
    mp_buffer_info_t bi;
    if (!mp_get_buffer(o, &bi, writable ? MP_BUFFER_WRITE : MP_BUFFER_READ)) {
        fxmp_raise(&mp_type_TypeError, "%s: must be %s%s", name, writable ? "a writable " : "",
            fxmp_kind_name[kind]);
    }
    if (!fxmp_typecode_ok(bi.typecode, kind)) {
        fxmp_raise(&mp_type_TypeError, "%s: must be %s", name, fxmp_kind_name[kind]);
    }
    static const uint8_t item_size[] = { 1, 2, 4, 2, 8, 1 };
    *n = bi.len / item_size[kind];
    return bi.buf;
}

/* A buffer of exactly `want` elements. */
static void *fxmp_buffer_len(mp_obj_t o, fxmp_kind_t kind, bool writable, size_t want, const char *name) {
    size_t n;
    void *p = fxmp_buffer(o, kind, writable, &n, name);
    if (n != want) {
        fxmp_raise(&mp_type_ValueError, "%s: has %u elements, %u expected", name, (unsigned)n, (unsigned)want);
    }
    return p;
}

/* ---- fixed-point helpers (fx_fixed.h, docs/kernel.md section 1) ------------------------------- */

static mp_obj_t fxmp_sat32(mp_obj_t x) {
    return mp_obj_new_int(fx_sat32(fxmp_get_i64(x, "sat32: x")));
}
static MP_DEFINE_CONST_FUN_OBJ_1(fxmp_sat32_obj, fxmp_sat32);

static mp_obj_t fxmp_sat16(mp_obj_t x) {
    return mp_obj_new_int(fx_sat16(fxmp_get_i64(x, "sat16: x")));
}
static MP_DEFINE_CONST_FUN_OBJ_1(fxmp_sat16_obj, fxmp_sat16);

static mp_obj_t fxmp_sat8(mp_obj_t x) {
    return mp_obj_new_int(fx_sat8(fxmp_get_i64(x, "sat8: x")));
}
static MP_DEFINE_CONST_FUN_OBJ_1(fxmp_sat8_obj, fxmp_sat8);

static mp_obj_t fxmp_rhu_shift(mp_obj_t x, mp_obj_t s) {
    return fxmp_new_i64(fx_rhu_shift64(fxmp_get_i64(x, "rhu_shift: x"), (int)fxmp_get_range(s, 0, 62, "rhu_shift: s")));
}
static MP_DEFINE_CONST_FUN_OBJ_2(fxmp_rhu_shift_obj, fxmp_rhu_shift);

static mp_obj_t fxmp_rhu_div(mp_obj_t a, mp_obj_t b) {
    int64_t den = fxmp_get_i64(b, "rhu_div: b");
    if (den <= 0) {
        fxmp_raise(&mp_type_ValueError, "rhu_div: b must be > 0");
    }
    return fxmp_new_i64(fx_rhu_div(fxmp_get_i64(a, "rhu_div: a"), den));
}
static MP_DEFINE_CONST_FUN_OBJ_2(fxmp_rhu_div_obj, fxmp_rhu_div);

static mp_obj_t fxmp_add_sat16(mp_obj_t a, mp_obj_t b) {
    return mp_obj_new_int(fx_add_sat16(FXMP_I16(a, "add_sat16: a"), FXMP_I16(b, "add_sat16: b")));
}
static MP_DEFINE_CONST_FUN_OBJ_2(fxmp_add_sat16_obj, fxmp_add_sat16);

static mp_obj_t fxmp_sub_sat16(mp_obj_t a, mp_obj_t b) {
    return mp_obj_new_int(fx_sub_sat16(FXMP_I16(a, "sub_sat16: a"), FXMP_I16(b, "sub_sat16: b")));
}
static MP_DEFINE_CONST_FUN_OBJ_2(fxmp_sub_sat16_obj, fxmp_sub_sat16);

static mp_obj_t fxmp_mul_sat16(mp_obj_t a, mp_obj_t b) {
    return mp_obj_new_int(fx_mul_sat16(FXMP_I16(a, "mul_sat16: a"), FXMP_I16(b, "mul_sat16: b")));
}
static MP_DEFINE_CONST_FUN_OBJ_2(fxmp_mul_sat16_obj, fxmp_mul_sat16);

static mp_obj_t fxmp_add_sat32(mp_obj_t a, mp_obj_t b) {
    return mp_obj_new_int(fx_add_sat32(FXMP_I32(a, "add_sat32: a"), FXMP_I32(b, "add_sat32: b")));
}
static MP_DEFINE_CONST_FUN_OBJ_2(fxmp_add_sat32_obj, fxmp_add_sat32);

static mp_obj_t fxmp_sub_sat32(mp_obj_t a, mp_obj_t b) {
    return mp_obj_new_int(fx_sub_sat32(FXMP_I32(a, "sub_sat32: a"), FXMP_I32(b, "sub_sat32: b")));
}
static MP_DEFINE_CONST_FUN_OBJ_2(fxmp_sub_sat32_obj, fxmp_sub_sat32);

static mp_obj_t fxmp_q_from_int(mp_obj_t i, mp_obj_t q) {
    return mp_obj_new_int(fx_q_from_int(FXMP_I32(i, "q_from_int: i"), (int)fxmp_get_range(q, 0, 30, "q_from_int: q")));
}
static MP_DEFINE_CONST_FUN_OBJ_2(fxmp_q_from_int_obj, fxmp_q_from_int);

static mp_obj_t fxmp_q_rescale(mp_obj_t x, mp_obj_t q_from, mp_obj_t q_to) {
    return mp_obj_new_int(fx_q_rescale(FXMP_I32(x, "q_rescale: x"),
        (int)fxmp_get_range(q_from, 0, 30, "q_rescale: q_from"), (int)fxmp_get_range(q_to, 0, 30, "q_rescale: q_to")));
}
static MP_DEFINE_CONST_FUN_OBJ_3(fxmp_q_rescale_obj, fxmp_q_rescale);

/* ---- requantization (fx_requant.h, docs/kernel.md section 2) ----------------------------------- */

static mp_obj_t fxmp_requant_check(mp_obj_t mult, mp_obj_t shift) {
    fxmp_check_scale(FXMP_I32(mult, "requant_check: mult"), FXMP_I32(shift, "requant_check: shift"), "requant_check");
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(fxmp_requant_check_obj, fxmp_requant_check);

static mp_obj_t fxmp_requant(mp_obj_t acc, mp_obj_t mult_in, mp_obj_t shift_in) {
    int32_t mult = FXMP_I32(mult_in, "requant: mult"), shift = FXMP_I32(shift_in, "requant: shift");
    fxmp_check_scale(mult, shift, "requant");
    return mp_obj_new_int(fx_requant(FXMP_I32(acc, "requant: acc"), mult, shift));
}
static MP_DEFINE_CONST_FUN_OBJ_3(fxmp_requant_obj, fxmp_requant);

/* requant_s16 / requant_s8(acc, mult, shift, act_min, act_max) */
static mp_obj_t fxmp_requant_narrow(const mp_obj_t *args, int64_t lo, int64_t hi, const char *fn) {
    int32_t mult = FXMP_I32(args[1], "requant: mult"), shift = FXMP_I32(args[2], "requant: shift");
    fxmp_check_scale(mult, shift, fn);
    int32_t act_min = (int32_t)fxmp_get_range(args[3], lo, hi, "act_min");
    int32_t act_max = (int32_t)fxmp_get_range(args[4], lo, hi, "act_max");
    if (act_min > act_max) {
        fxmp_raise(&mp_type_ValueError, "%s: act_min %d > act_max %d", fn, (int)act_min, (int)act_max);
    }
    int32_t acc = FXMP_I32(args[0], "requant: acc");
    if (hi == INT8_MAX) {
        return mp_obj_new_int(fx_requant_s8(acc, mult, shift, (int8_t)act_min, (int8_t)act_max));
    }
    return mp_obj_new_int(fx_requant_s16(acc, mult, shift, (int16_t)act_min, (int16_t)act_max));
}

static mp_obj_t fxmp_requant_s16(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return fxmp_requant_narrow(args, INT16_MIN, INT16_MAX, "requant_s16");
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(fxmp_requant_s16_obj, 5, 5, fxmp_requant_s16);

static mp_obj_t fxmp_requant_s8(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return fxmp_requant_narrow(args, INT8_MIN, INT8_MAX, "requant_s8");
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(fxmp_requant_s8_obj, 5, 5, fxmp_requant_s8);

/* ---- losses (fx_loss.h, docs/kernel.md section 7) ---------------------------------------------- */

static mp_obj_t fxmp_exp_neg_q12(mp_obj_t d) {
    return mp_obj_new_int(fx_exp_neg_q12(FXMP_I32(d, "exp_neg_q12: d")));
}
static MP_DEFINE_CONST_FUN_OBJ_1(fxmp_exp_neg_q12_obj, fxmp_exp_neg_q12);

static mp_obj_t fxmp_log2_q12(mp_obj_t x) {
    return mp_obj_new_int(fx_log2_q12((uint32_t)fxmp_get_range(x, 1, UINT32_MAX, "log2_q12: x")));
}
static MP_DEFINE_CONST_FUN_OBJ_1(fxmp_log2_q12_obj, fxmp_log2_q12);

/* softmax_xent_s16(logits, label, mult, shift, grad=None) -> loss (Q12 nats).
 * logits: int16[n]; grad: None or int32[n], written with softmax - onehot in Q15. */
static mp_obj_t fxmp_softmax_xent_s16(size_t n_args, const mp_obj_t *args) {
    size_t n;
    const int16_t *logits = fxmp_buffer(args[0], FXMP_S16, false, &n, "softmax_xent_s16: logits");
    if (n == 0 || n > UINT16_MAX) {
        fxmp_raise(&mp_type_ValueError, "softmax_xent_s16: logits: %u elements, 1..65535 expected", (unsigned)n);
    }
    uint16_t label = (uint16_t)fxmp_get_range(args[1], 0, (int64_t)n - 1, "softmax_xent_s16: label");
    int32_t mult = FXMP_I32(args[2], "softmax_xent_s16: mult"), shift = FXMP_I32(args[3], "softmax_xent_s16: shift");
    fxmp_check_scale(mult, shift, "softmax_xent_s16");
    int32_t *grad = NULL;
    if (n_args > 4 && args[4] != mp_const_none) {
        grad = fxmp_buffer_len(args[4], FXMP_S32, true, n, "softmax_xent_s16: grad");
    }
    int32_t loss;
    fxmp_check(fx_softmax_xent_s16(logits, (uint16_t)n, label, mult, shift, grad, &loss), "softmax_xent_s16");
    return mp_obj_new_int(loss);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(fxmp_softmax_xent_s16_obj, 4, 5, fxmp_softmax_xent_s16);

/* mse_s16(y, target, grad=None) -> loss = sum (y - t)^2; grad: None or int32[n] = y - t. */
static mp_obj_t fxmp_mse_s16(size_t n_args, const mp_obj_t *args) {
    size_t n;
    const int16_t *y = fxmp_buffer(args[0], FXMP_S16, false, &n, "mse_s16: y");
    if (n == 0 || n > UINT16_MAX) {
        fxmp_raise(&mp_type_ValueError, "mse_s16: y: %u elements, 1..65535 expected", (unsigned)n);
    }
    const int16_t *target = fxmp_buffer_len(args[1], FXMP_S16, false, n, "mse_s16: target");
    int32_t *grad = NULL;
    if (n_args > 2 && args[2] != mp_const_none) {
        grad = fxmp_buffer_len(args[2], FXMP_S32, true, n, "mse_s16: grad");
    }
    int64_t loss;
    fxmp_check(fx_mse_s16(y, target, (uint16_t)n, grad, &loss), "mse_s16");
    return fxmp_new_i64(loss);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(fxmp_mse_s16_obj, 2, 3, fxmp_mse_s16);

/* A dimension for the kernel's uint16 sizes: 1..65535 elements. */
static uint16_t fxmp_dim16(size_t n, const char *name) {
    if (n == 0 || n > UINT16_MAX) {
        fxmp_raise(&mp_type_ValueError, "%s: %u elements, 1..65535 expected", name, (unsigned)n);
    }
    return (uint16_t)n;
}

/* ---- weight formats (fx_quant.h, docs/kernel.md section 3) ----------------------------------- */

static mp_obj_t fxmp_quant_check(mp_obj_t format, mp_obj_t bits) {
    fxmp_check(fx_quant_check(FXMP_I32(format, "quant_check: format"), FXMP_I32(bits, "quant_check: bits")), "quant_check");
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(fxmp_quant_check_obj, fxmp_quant_check);

static mp_obj_t fxmp_quant_row_stride(mp_obj_t format, mp_obj_t bits, mp_obj_t n_in) {
    uint32_t stride;
    fxmp_check(fx_quant_row_stride(FXMP_I32(format, "quant_row_stride: format"), FXMP_I32(bits, "quant_row_stride: bits"),
        (uint32_t)fxmp_get_range(n_in, 0, FX_MAX_FAN_IN, "quant_row_stride: n_in"), &stride), "quant_row_stride");
    return mp_obj_new_int_from_uint(stride);
}
static MP_DEFINE_CONST_FUN_OBJ_3(fxmp_quant_row_stride_obj, fxmp_quant_row_stride);

static mp_obj_t fxmp_quant_max_level(mp_obj_t format, mp_obj_t bits) {
    uint32_t level;
    fxmp_check(fx_quant_max_level(FXMP_I32(format, "quant_max_level: format"), FXMP_I32(bits, "quant_max_level: bits"), &level),
        "quant_max_level");
    return mp_obj_new_int_from_uint(level);
}
static MP_DEFINE_CONST_FUN_OBJ_2(fxmp_quant_max_level_obj, fxmp_quant_max_level);

static mp_obj_t fxmp_quant_level(mp_obj_t format, mp_obj_t bits, mp_obj_t code) {
    int32_t level;
    fxmp_check(fx_quant_level(FXMP_I32(format, "quant_level: format"), FXMP_I32(bits, "quant_level: bits"),
        (uint32_t)fxmp_get_range(code, 0, UINT32_MAX, "quant_level: code"), &level), "quant_level");
    return mp_obj_new_int(level);
}
static MP_DEFINE_CONST_FUN_OBJ_3(fxmp_quant_level_obj, fxmp_quant_level);

/* ---- activations (fx_act.h, docs/kernel.md section 5) ---------------------------------------- */

static mp_obj_t fxmp_relu_s16(mp_obj_t x_in) {
    size_t n;
    int16_t *x = fxmp_buffer(x_in, FXMP_S16, true, &n, "relu_s16: x");
    fxmp_check(fx_relu_s16(x, (uint32_t)n), "relu_s16");
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(fxmp_relu_s16_obj, fxmp_relu_s16);

static mp_obj_t fxmp_argmax_s16(mp_obj_t x_in) {
    size_t n;
    const int16_t *x = fxmp_buffer(x_in, FXMP_S16, false, &n, "argmax_s16: x");
    if (n == 0 || n > UINT32_MAX) {
        fxmp_raise(&mp_type_ValueError, "argmax_s16: x is empty");
    }
    uint32_t index;
    fxmp_check(fx_argmax_s16(x, (uint32_t)n, &index), "argmax_s16");
    return mp_obj_new_int_from_uint(index);
}
static MP_DEFINE_CONST_FUN_OBJ_1(fxmp_argmax_s16_obj, fxmp_argmax_s16);

/* blob_seal(blob): rewrite the CRC of a blob (bytearray) changed in place, e.g. a model after
 * training, so that it loads on any fxlearn target. */
static mp_obj_t fxmp_blob_seal(mp_obj_t blob_in) {
    size_t n;
    uint8_t *blob = fxmp_buffer(blob_in, FXMP_BYTES, true, &n, "blob_seal: blob");
    fxmp_check(fx_blob_seal(blob, n), "blob_seal");
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(fxmp_blob_seal_obj, fxmp_blob_seal);

/* snap_s16(x, levels): in place, each x to the nearest of the ascending int16 levels. */
static mp_obj_t fxmp_snap_s16(mp_obj_t x_in, mp_obj_t levels_in) {
    size_t n, n_levels;
    int16_t *x = fxmp_buffer(x_in, FXMP_S16, true, &n, "snap_s16: x");
    const int16_t *levels = fxmp_buffer(levels_in, FXMP_S16, false, &n_levels, "snap_s16: levels");
    if (n_levels == 0) {
        fxmp_raise(&mp_type_ValueError, "snap_s16: levels is empty");
    }
    if (fx_levels_check_s16(levels, (uint32_t)n_levels) != FX_OK) {
        fxmp_raise(&mp_type_ValueError, "snap_s16: levels must be strictly ascending");
    }
    fxmp_check(fx_snap_s16(x, (uint32_t)n, levels, (uint32_t)n_levels), "snap_s16");
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(fxmp_snap_s16_obj, fxmp_snap_s16);

/* ---- dense layer (fx_dense.h, docs/kernel.md section 4) --------------------------------------- */

/* dense_<in>[_<out>](x, y, format, bits, weights, bias, mult, shift, act_min, act_max):
 * in = len(x), out = len(y); weights: out rows of quant_row_stride bytes (any buffer; INT16
 * weights 2-byte aligned); bias int32[out]; mult, shift int32[1] (per tensor) or [out]. */
static mp_obj_t fxmp_dense(const mp_obj_t *args, fxmp_kind_t in_kind, fxmp_kind_t out_kind, const char *fn) {
    size_t n_in, n_out, n_w, n_bias, n_mult, n_shift;
    const void *x = fxmp_buffer(args[0], in_kind, false, &n_in, "dense: x");
    void *y = fxmp_buffer(args[1], out_kind, true, &n_out, "dense: y");
    fx_dense_layer layer = { 0 };
    layer.format = FXMP_I32(args[2], "dense: format");
    layer.bits = FXMP_I32(args[3], "dense: bits");
    layer.in = fxmp_dim16(n_in, "dense: x");
    layer.out = fxmp_dim16(n_out, "dense: y");
    uint32_t stride;
    fxmp_check(fx_quant_row_stride(layer.format, layer.bits, layer.in, &stride), fn);
    layer.weights = fxmp_buffer(args[4], FXMP_BYTES, false, &n_w, "dense: weights");
    if (n_w != (size_t)stride * layer.out) {
        fxmp_raise(&mp_type_ValueError, "%s: weights: %u bytes, %u expected (%u rows of %u)", fn,
            (unsigned)n_w, (unsigned)(stride * layer.out), (unsigned)layer.out, (unsigned)stride);
    }
    layer.bias = fxmp_buffer(args[5], FXMP_S32, false, &n_bias, "dense: bias");
    if (n_bias != layer.out) {
        fxmp_raise(&mp_type_ValueError, "%s: bias: %u elements, %u expected", fn, (unsigned)n_bias, (unsigned)layer.out);
    }
    layer.mult = fxmp_buffer(args[6], FXMP_S32, false, &n_mult, "dense: mult");
    layer.shift = fxmp_buffer(args[7], FXMP_S32, false, &n_shift, "dense: shift");
    if (n_mult != n_shift || (n_mult != 1 && n_mult != layer.out)) {
        fxmp_raise(&mp_type_ValueError, "%s: mult and shift need 1 or %u elements each, got %u and %u", fn,
            (unsigned)layer.out, (unsigned)n_mult, (unsigned)n_shift);
    }
    layer.n_scale = (uint32_t)n_mult;
    layer.act_min = FXMP_I32(args[8], "dense: act_min");
    layer.act_max = FXMP_I32(args[9], "dense: act_max");
    fxmp_check(fx_dense_check(&layer, out_kind == FXMP_S8 ? 8 : 16), fn);
    fx_status st;
    if (in_kind == FXMP_S16) {
        st = out_kind == FXMP_S16 ? fx_dense_s16(&layer, x, y) : fx_dense_s16_s8(&layer, x, y);
    } else {
        st = out_kind == FXMP_S8 ? fx_dense_s8(&layer, x, y) : fx_dense_s8_s16(&layer, x, y);
    }
    fxmp_check(st, fn);
    return mp_const_none;
}

static mp_obj_t fxmp_dense_s16(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return fxmp_dense(args, FXMP_S16, FXMP_S16, "dense_s16");
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(fxmp_dense_s16_obj, 10, 10, fxmp_dense_s16);

static mp_obj_t fxmp_dense_s16_s8(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return fxmp_dense(args, FXMP_S16, FXMP_S8, "dense_s16_s8");
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(fxmp_dense_s16_s8_obj, 10, 10, fxmp_dense_s16_s8);

static mp_obj_t fxmp_dense_s8(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return fxmp_dense(args, FXMP_S8, FXMP_S8, "dense_s8");
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(fxmp_dense_s8_obj, 10, 10, fxmp_dense_s8);

static mp_obj_t fxmp_dense_s8_s16(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return fxmp_dense(args, FXMP_S8, FXMP_S16, "dense_s8_s16");
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(fxmp_dense_s8_s16_obj, 10, 10, fxmp_dense_s8_s16);

/* ---- backward pieces (fx_train_backward.h, docs/training.md) --------------------------------- */

/* dense_grad_accum_s16(x, g, grad_shift, dw, db): dw int32[len(g) * len(x)], db int32[len(g)]. */
static mp_obj_t fxmp_dense_grad_accum_s16(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    size_t n_in, n_out;
    const int16_t *x = fxmp_buffer(args[0], FXMP_S16, false, &n_in, "dense_grad_accum_s16: x");
    const int16_t *g = fxmp_buffer(args[1], FXMP_S16, false, &n_out, "dense_grad_accum_s16: g");
    uint16_t in = fxmp_dim16(n_in, "dense_grad_accum_s16: x"), out = fxmp_dim16(n_out, "dense_grad_accum_s16: g");
    int32_t grad_shift = (int32_t)fxmp_get_range(args[2], 0, FX_GRAD_SHIFT_MAX, "dense_grad_accum_s16: grad_shift");
    int32_t *dw = fxmp_buffer_len(args[3], FXMP_S32, true, (size_t)in * out, "dense_grad_accum_s16: dw");
    int32_t *db = fxmp_buffer_len(args[4], FXMP_S32, true, out, "dense_grad_accum_s16: db");
    fxmp_check(fx_dense_grad_accum_s16(x, g, in, out, grad_shift, dw, db, NULL), "dense_grad_accum_s16");
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(fxmp_dense_grad_accum_s16_obj, 5, 5, fxmp_dense_grad_accum_s16);

/* dense_backward_input_s16(g, w, mult, shift, g_in): w int16[len(g) * len(g_in)]. */
static mp_obj_t fxmp_dense_backward_input_s16(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    size_t n_out, n_in;
    const int16_t *g = fxmp_buffer(args[0], FXMP_S16, false, &n_out, "dense_backward_input_s16: g");
    int16_t *g_in = fxmp_buffer(args[4], FXMP_S16, true, &n_in, "dense_backward_input_s16: g_in");
    uint16_t out = fxmp_dim16(n_out, "dense_backward_input_s16: g"), in = fxmp_dim16(n_in, "dense_backward_input_s16: g_in");
    const int16_t *w = fxmp_buffer_len(args[1], FXMP_S16, false, (size_t)in * out, "dense_backward_input_s16: w");
    int32_t mult = FXMP_I32(args[2], "dense_backward_input_s16: mult"), shift = FXMP_I32(args[3], "dense_backward_input_s16: shift");
    fxmp_check_scale(mult, shift, "dense_backward_input_s16");
    fxmp_check(fx_dense_backward_input_s16(g, w, in, out, mult, shift, g_in), "dense_backward_input_s16");
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(fxmp_dense_backward_input_s16_obj, 5, 5, fxmp_dense_backward_input_s16);

/* act_backward_s16(y, act_min, act_max, g): g in place, 0 where y is on the clamp. */
static mp_obj_t fxmp_act_backward_s16(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    size_t n;
    const int16_t *y = fxmp_buffer(args[0], FXMP_S16, false, &n, "act_backward_s16: y");
    uint16_t n16 = fxmp_dim16(n, "act_backward_s16: y");
    int16_t act_min = FXMP_I16(args[1], "act_backward_s16: act_min"), act_max = FXMP_I16(args[2], "act_backward_s16: act_max");
    if (act_min > act_max) {
        fxmp_raise(&mp_type_ValueError, "act_backward_s16: act_min %d > act_max %d", (int)act_min, (int)act_max);
    }
    int16_t *g = fxmp_buffer_len(args[3], FXMP_S16, true, n, "act_backward_s16: g");
    fxmp_check(fx_act_backward_s16(y, n16, act_min, act_max, g), "act_backward_s16");
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(fxmp_act_backward_s16_obj, 4, 4, fxmp_act_backward_s16);

/* ---- Model: an MLP loaded from a blob (fx_blob.h, fx_mlp.h) ----------------------------------- */

/* The model's arrays point into the blob (zero copy): the object keeps the blob alive and checks
 * on every call that its buffer has not moved or shrunk. */
typedef struct {
    mp_obj_base_t base;
    mp_obj_t blob;
    const uint8_t *data;     /* the blob's buffer when the model was made */
    size_t len;
    bool writable;           /* a bytearray: the layers can be trained in place */
    fx_blob_info info;
    fx_mlp_model model;
    fx_mlp_layer *layers;
    void *workspace;         /* fx_mlp_forward scratch */
    size_t workspace_size;
    int16_t *y;              /* predict()'s output scratch */
    uint32_t n_in, n_out;
    const void **blob_weights; /* each layer's weights in the blob (a Trainer points the model's into theta) */
    mp_obj_t theta_obj;      /* the theta a Trainer made the model compute from, kept alive */
    const int16_t *theta;    /* its buffer then */
} fxmp_model_t;

#ifdef MICROPY_ENABLE_DYNRUNTIME
/* RAM (bss) objects of a native module cannot be static (mpy_ld relocates them by symbol) */
mp_obj_full_type_t fxmp_model_type_full;
mp_obj_full_type_t fxmp_optim_type_full;
mp_obj_full_type_t fxmp_trainer_type_full;
#define FXMP_MODEL_TYPE ((const mp_obj_type_t *)&fxmp_model_type_full)
#define FXMP_OPTIM_TYPE ((const mp_obj_type_t *)&fxmp_optim_type_full)
#else
extern const mp_obj_type_t fxmp_model_type;
extern const mp_obj_type_t fxmp_optim_type;
#define FXMP_MODEL_TYPE (&fxmp_model_type)
#define FXMP_OPTIM_TYPE (&fxmp_optim_type)
#endif

#define FXMP_MAX_TRAINED 16   /* trained layers per Trainer (a fixed-size save area) */

static fxmp_model_t *fxmp_model_live(mp_obj_t self_in) {
    if (mp_obj_get_type(self_in) != FXMP_MODEL_TYPE) {
        fxmp_raise(&mp_type_TypeError, "a fxlearn.Model is required");
    }
    fxmp_model_t *self = MP_OBJ_TO_PTR(self_in);
    mp_buffer_info_t bi;
    if (!mp_get_buffer(self->blob, &bi, MP_BUFFER_READ) || bi.buf != self->data || bi.len < self->len) {
        fxmp_raise(&mp_type_RuntimeError, "Model: the blob buffer moved or shrank since the model was loaded");
    }
    if (self->theta_obj != mp_const_none && (!mp_get_buffer(self->theta_obj, &bi, MP_BUFFER_READ) || bi.buf != self->theta)) {
        fxmp_raise(&mp_type_RuntimeError, "Model: the theta of its Trainer moved");
    }
    return self;
}

/* Model(blob): validates and parses the blob in place. A bytearray blob can be trained
 * (the weights change inside it); bytes or memoryview load read-only. */
static mp_obj_t fxmp_model_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 1, 1, false);
    mp_buffer_info_t bi;
    if (!mp_get_buffer(args[0], &bi, MP_BUFFER_READ)) {
        fxmp_raise(&mp_type_TypeError, "Model: blob must be a bytes-like object");
    }
    if (((uintptr_t)bi.buf & 3u) != 0) {
        fxmp_raise(&mp_type_ValueError, "Model: blob not 4-byte aligned (copy it into a bytearray)");
    }
    fxmp_model_t *self = mp_obj_malloc(fxmp_model_t, type);
    mp_buffer_info_t wi;
    self->writable = mp_get_buffer(args[0], &wi, MP_BUFFER_WRITE);
    self->blob = args[0];
    self->data = bi.buf;
    self->len = bi.len;
    fxmp_check(fx_blob_info_read(self->data, self->len, &self->info), "Model");
    self->layers = m_new(fx_mlp_layer, self->info.n_layers);
    fxmp_check(fx_blob_parse(self->data, self->len, &self->model, self->layers, self->info.n_layers), "Model");
    fxmp_check(fx_mlp_workspace_size(&self->model, &self->workspace_size), "Model");
    self->workspace = m_new(uint32_t, self->workspace_size / 4 + 1);
    self->n_in = self->layers[0].dense.in;
    self->n_out = self->layers[self->info.n_layers - 1].dense.out;
    self->y = m_new(int16_t, self->n_out);
    self->blob_weights = m_new(const void *, self->info.n_layers);
    for (uint32_t k = 0; k < self->info.n_layers; k++) {
        self->blob_weights[k] = self->layers[k].dense.weights;
    }
    self->theta_obj = mp_const_none;
    self->theta = NULL;
    return MP_OBJ_FROM_PTR(self);
}

/* forward(x, y): x int16[n_in], y int16[n_out]. */
static mp_obj_t fxmp_model_forward(mp_obj_t self_in, mp_obj_t x_in, mp_obj_t y_in) {
    fxmp_model_t *self = fxmp_model_live(self_in);
    const int16_t *x = fxmp_buffer_len(x_in, FXMP_S16, false, self->n_in, "Model.forward: x");
    int16_t *y = fxmp_buffer_len(y_in, FXMP_S16, true, self->n_out, "Model.forward: y");
    fxmp_check(fx_mlp_forward(&self->model, x, y, self->workspace, self->workspace_size), "Model.forward");
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(fxmp_model_forward_obj, fxmp_model_forward);

/* predict(x) -> class index (argmax of the outputs, ties -> lowest). */
static mp_obj_t fxmp_model_predict(mp_obj_t self_in, mp_obj_t x_in) {
    fxmp_model_t *self = fxmp_model_live(self_in);
    const int16_t *x = fxmp_buffer_len(x_in, FXMP_S16, false, self->n_in, "Model.predict: x");
    uint32_t cls;
    fxmp_check(fx_mlp_predict(&self->model, x, self->y, self->workspace, self->workspace_size, &cls), "Model.predict");
    return mp_obj_new_int_from_uint(cls);
}
static MP_DEFINE_CONST_FUN_OBJ_2(fxmp_model_predict_obj, fxmp_model_predict);

/* correct(x, labels) -> how many of the n = len(labels) samples x int16[n * n_in] it classifies
 * right: a whole evaluation in one call. */
static mp_obj_t fxmp_model_correct(mp_obj_t self_in, mp_obj_t x_in, mp_obj_t labels_in) {
    fxmp_model_t *self = fxmp_model_live(self_in);
    size_t n;
    const uint16_t *labels = fxmp_buffer(labels_in, FXMP_U16, false, &n, "Model.correct: labels");
    const int16_t *x = fxmp_buffer_len(x_in, FXMP_S16, false, n * self->n_in, "Model.correct: x");
    size_t right = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cls;
        fxmp_check(fx_mlp_predict(&self->model, x + i * self->n_in, self->y, self->workspace, self->workspace_size, &cls),
            "Model.correct");
        right += cls == labels[i];
    }
    return mp_obj_new_int_from_uint(right);
}
static MP_DEFINE_CONST_FUN_OBJ_3(fxmp_model_correct_obj, fxmp_model_correct);

/* sizes() -> (n_in, out of layer 0, ..., n_out) */
static mp_obj_t fxmp_model_sizes(mp_obj_t self_in) {
    fxmp_model_t *self = fxmp_model_live(self_in);
    size_t n = self->info.n_layers;
    mp_obj_t *items = m_new(mp_obj_t, n + 1);
    items[0] = mp_obj_new_int_from_uint(self->n_in);
    for (size_t k = 0; k < n; k++) {
        items[k + 1] = mp_obj_new_int_from_uint(self->layers[k].dense.out);
    }
    return mp_obj_new_tuple(n + 1, items);
}
static MP_DEFINE_CONST_FUN_OBJ_1(fxmp_model_sizes_obj, fxmp_model_sizes);

/* loss_scale() -> (mult, shift): the blob's logit scale for softmax_xent_s16 */
static mp_obj_t fxmp_model_loss_scale(mp_obj_t self_in) {
    fxmp_model_t *self = fxmp_model_live(self_in);
    mp_obj_t items[2] = { mp_obj_new_int(self->info.loss_mult), mp_obj_new_int(self->info.loss_shift) };
    return mp_obj_new_tuple(2, items);
}
static MP_DEFINE_CONST_FUN_OBJ_1(fxmp_model_loss_scale_obj, fxmp_model_loss_scale);

/* blob() -> the blob object (after training it holds the new weights; its CRC is the old one) */
static mp_obj_t fxmp_model_blob(mp_obj_t self_in) {
    return fxmp_model_live(self_in)->blob;
}
static MP_DEFINE_CONST_FUN_OBJ_1(fxmp_model_blob_obj, fxmp_model_blob);

#define FXMP_MODEL_METHODS(F) \
    F(MP_QSTR_forward, fxmp_model_forward_obj) \
    F(MP_QSTR_predict, fxmp_model_predict_obj) \
    F(MP_QSTR_correct, fxmp_model_correct_obj) \
    F(MP_QSTR_sizes, fxmp_model_sizes_obj) \
    F(MP_QSTR_loss_scale, fxmp_model_loss_scale_obj) \
    F(MP_QSTR_blob, fxmp_model_blob_obj)

/* ---- Optimizer: the quantized optimizer (fx_optim.h, docs/optimizer.md) ------------------------ */

typedef struct {
    mp_obj_base_t base;
    fx_optim state;
    int32_t *work;           /* error-feedback residual / last step (fx_optim_work_len) */
    uint32_t n;
} fxmp_optim_t;

static fxmp_optim_t *fxmp_optim_of(mp_obj_t o, const char *fn) {
    if (mp_obj_get_type(o) != FXMP_OPTIM_TYPE) {
        fxmp_raise(&mp_type_TypeError, "%s: a fxlearn.Optimizer is required", fn);
    }
    return MP_OBJ_TO_PTR(o);
}

static int32_t fxmp_small(mp_int_t x, int32_t lo, int32_t hi, const char *name) {
    if (x < lo || x > hi) {
        fxmp_raise(&mp_type_ValueError, "%s: %d outside [%d, %d]", name, (int)x, (int)lo, (int)hi);
    }
    return (int32_t)x;
}

/* Optimizer(n, q, *, dir_q=q, z_max=2^q, rounding=OPTIM_RHU, schedule=OPTIM_HALVE,
 * policy=OPTIM_RESET, c1_shift=13, shrink_shift=3, guess=False, min_lsb=False, pattern=False,
 * expand=0, box=0, ortho=0, seed=1, ray=0, ray_far=0, box_line=False): the host's
 * optim.OptimConfig, field for field. */
static mp_obj_t fxmp_optim_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    enum { A_N, A_Q, A_DIR_Q, A_Z_MAX, A_ROUNDING, A_SCHEDULE, A_POLICY, A_C1, A_SHRINK, A_GUESS, A_MIN_LSB,
           A_PATTERN, A_EXPAND, A_BOX, A_ORTHO, A_SEED, A_RAY, A_RAY_FAR, A_BOX_LINE, A_COUNT };
    /* built at run time: a native module's QSTRs are not compile-time constants */
    const mp_arg_t allowed[A_COUNT] = {
        { MP_QSTR_n, MP_ARG_REQUIRED | MP_ARG_OBJ, { .u_obj = MP_OBJ_NULL } },
        { MP_QSTR_q, MP_ARG_REQUIRED | MP_ARG_OBJ, { .u_obj = MP_OBJ_NULL } },
        { MP_QSTR_dir_q, MP_ARG_KW_ONLY | MP_ARG_OBJ, { .u_obj = mp_const_none } },
        { MP_QSTR_z_max, MP_ARG_KW_ONLY | MP_ARG_OBJ, { .u_obj = mp_const_none } },
        { MP_QSTR_rounding, MP_ARG_KW_ONLY | MP_ARG_INT, { .u_int = FX_OPTIM_RHU } },
        { MP_QSTR_schedule, MP_ARG_KW_ONLY | MP_ARG_INT, { .u_int = FX_OPTIM_HALVE } },
        { MP_QSTR_policy, MP_ARG_KW_ONLY | MP_ARG_INT, { .u_int = FX_OPTIM_RESET } },
        { MP_QSTR_c1_shift, MP_ARG_KW_ONLY | MP_ARG_INT, { .u_int = 13 } },
        { MP_QSTR_shrink_shift, MP_ARG_KW_ONLY | MP_ARG_INT, { .u_int = 3 } },
        { MP_QSTR_guess, MP_ARG_KW_ONLY | MP_ARG_BOOL, { .u_bool = false } },
        { MP_QSTR_min_lsb, MP_ARG_KW_ONLY | MP_ARG_BOOL, { .u_bool = false } },
        { MP_QSTR_pattern, MP_ARG_KW_ONLY | MP_ARG_BOOL, { .u_bool = false } },
        { MP_QSTR_expand, MP_ARG_KW_ONLY | MP_ARG_INT, { .u_int = 0 } },
        { MP_QSTR_box, MP_ARG_KW_ONLY | MP_ARG_INT, { .u_int = 0 } },
        { MP_QSTR_ortho, MP_ARG_KW_ONLY | MP_ARG_INT, { .u_int = 0 } },
        { MP_QSTR_seed, MP_ARG_KW_ONLY | MP_ARG_OBJ, { .u_obj = MP_OBJ_NULL } },
        { MP_QSTR_ray, MP_ARG_KW_ONLY | MP_ARG_INT, { .u_int = 0 } },
        { MP_QSTR_ray_far, MP_ARG_KW_ONLY | MP_ARG_INT, { .u_int = 0 } },
        { MP_QSTR_box_line, MP_ARG_KW_ONLY | MP_ARG_BOOL, { .u_bool = false } },
    };
    mp_arg_val_t v[A_COUNT];
    mp_arg_parse_all_kw_array(n_args, n_kw, args, A_COUNT, allowed, v);
    fx_optim_config cfg = { 0 };
    cfg.q = (int32_t)fxmp_get_range(v[A_Q].u_obj, FX_OPTIM_Q_MIN, FX_OPTIM_Q_MAX, "Optimizer: q");
    cfg.dir_q = v[A_DIR_Q].u_obj == mp_const_none ? cfg.q
        : (int32_t)fxmp_get_range(v[A_DIR_Q].u_obj, 0, FX_OPTIM_DIR_Q_MAX, "Optimizer: dir_q");
    cfg.z_max = v[A_Z_MAX].u_obj == mp_const_none ? (INT32_C(1) << cfg.q)
        : (int32_t)fxmp_get_range(v[A_Z_MAX].u_obj, 1, FX_OPTIM_Z_LIMIT, "Optimizer: z_max");
    /* range-checked before narrowing (fx_optim_init checks the combination) */
    cfg.rounding = (uint8_t)fxmp_small(v[A_ROUNDING].u_int, 0, 2, "Optimizer: rounding");
    cfg.schedule = (uint8_t)fxmp_small(v[A_SCHEDULE].u_int, 0, 1, "Optimizer: schedule");
    cfg.policy = (uint8_t)fxmp_small(v[A_POLICY].u_int, 0, 1, "Optimizer: policy");
    cfg.c1_shift = fxmp_small(v[A_C1].u_int, 0, 62, "Optimizer: c1_shift");
    cfg.shrink_shift = fxmp_small(v[A_SHRINK].u_int, 1, 8, "Optimizer: shrink_shift");
    cfg.guess = v[A_GUESS].u_bool;
    cfg.min_lsb = v[A_MIN_LSB].u_bool;
    cfg.pattern = v[A_PATTERN].u_bool;
    cfg.expand = (uint8_t)fxmp_small(v[A_EXPAND].u_int, 0, FX_OPTIM_EXPAND_MAX, "Optimizer: expand");
    cfg.box = (uint8_t)fxmp_small(v[A_BOX].u_int, 0, FX_OPTIM_BOX_MAX, "Optimizer: box");
    cfg.ortho = (uint8_t)fxmp_small(v[A_ORTHO].u_int, 0, 2, "Optimizer: ortho");
    cfg.ray = (uint8_t)fxmp_small(v[A_RAY].u_int, 0, FX_OPTIM_RAY_MAX, "Optimizer: ray");
    cfg.ray_far = (uint8_t)fxmp_small(v[A_RAY_FAR].u_int, 0, FX_OPTIM_RAY_MAX, "Optimizer: ray_far");
    cfg.box_line = v[A_BOX_LINE].u_bool;
    cfg.seed = v[A_SEED].u_obj == MP_OBJ_NULL ? 1u : (uint32_t)fxmp_get_range(v[A_SEED].u_obj, 0, UINT32_MAX, "Optimizer: seed");
    uint32_t n = (uint32_t)fxmp_get_range(v[A_N].u_obj, 1, FX_OPTIM_N_MAX, "Optimizer: n");
    fxmp_optim_t *self = mp_obj_malloc(fxmp_optim_t, type);
    uint32_t work_len = fx_optim_work_len(&cfg, n);
    self->work = work_len ? m_new(int32_t, work_len) : NULL;
    self->n = n;
    fxmp_check(fx_optim_init(&self->state, &cfg, n, self->work, work_len), "Optimizer");
    return MP_OBJ_FROM_PTR(self);
}

/* direction(f_x, slope=0): a new direction at the current x (objective there, predicted decrease) */
static mp_obj_t fxmp_optim_direction(size_t n_args, const mp_obj_t *args) {
    fxmp_optim_t *self = MP_OBJ_TO_PTR(args[0]);
    int64_t slope = n_args > 2 ? fxmp_get_i64(args[2], "Optimizer.direction: slope") : 0;
    if (slope < 0) {
        fxmp_raise(&mp_type_ValueError, "Optimizer.direction: slope must be >= 0");
    }
    fxmp_check(fx_optim_direction(&self->state, fxmp_get_i64(args[1], "Optimizer.direction: f_x"), slope),
        "Optimizer.direction");
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(fxmp_optim_direction_obj, 2, 3, fxmp_optim_direction);

/* x (int16 or int32 [n], the same kind as trial), d int32 [n] */
static bool fxmp_optim_vectors(fxmp_optim_t *self, mp_obj_t x_in, mp_obj_t d_in, mp_obj_t trial_in, void **x,
    const int32_t **d, void **trial, const char *fn) {
    mp_buffer_info_t bi;
    if (!mp_get_buffer(x_in, &bi, MP_BUFFER_READ) || (bi.typecode != 'h' && !fxmp_typecode_ok(bi.typecode, FXMP_S32))) {
        fxmp_raise(&mp_type_TypeError, "%s: x must be array('h') (int16) or array('i') (int32)", fn);
    }
    fxmp_kind_t kind = bi.typecode == 'h' ? FXMP_S16 : FXMP_S32;
    *x = fxmp_buffer_len(x_in, kind, trial_in == MP_OBJ_NULL, self->n, fn);
    *d = fxmp_buffer_len(d_in, FXMP_S32, false, self->n, fn);
    if (trial_in != MP_OBJ_NULL) {
        *trial = fxmp_buffer_len(trial_in, kind, true, self->n, fn);
        if (*trial == *x) {
            fxmp_raise(&mp_type_ValueError, "%s: trial must not be x", fn);
        }
    }
    return kind == FXMP_S16;
}

static int fxmp_optim_outcome(int r, const char *fn) {
    if (r < 0) {
        fxmp_check((fx_status)r, fn);
    }
    return r;
}

/* propose(x, d, trial) -> True (trial written) or False (stalled: every candidate of this
 * direction is used up) */
static mp_obj_t fxmp_optim_propose(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    fxmp_optim_t *self = MP_OBJ_TO_PTR(args[0]);
    void *x, *trial;
    const int32_t *d;
    int r = fxmp_optim_vectors(self, args[1], args[2], args[3], &x, &d, &trial, "Optimizer.propose")
        ? fx_optim_propose_s16(&self->state, x, d, trial) : fx_optim_propose_s32(&self->state, x, d, trial);
    return mp_obj_new_bool(fxmp_optim_outcome(r, "Optimizer.propose") == FX_OPTIM_TRIAL);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(fxmp_optim_propose_obj, 4, 4, fxmp_optim_propose);

/* report(f_trial) -> True ("go": the trial decreased the objective by at least phi) */
static mp_obj_t fxmp_optim_report(mp_obj_t self_in, mp_obj_t f_trial) {
    fxmp_optim_t *self = MP_OBJ_TO_PTR(self_in);
    int r = fx_optim_report(&self->state, fxmp_get_i64(f_trial, "Optimizer.report: f_trial"));
    return mp_obj_new_bool(fxmp_optim_outcome(r, "Optimizer.report") == FX_OPTIM_GO);
}
static MP_DEFINE_CONST_FUN_OBJ_2(fxmp_optim_report_obj, fxmp_optim_report);

/* commit(x, d): after a go, x <- the trial (in place) */
static mp_obj_t fxmp_optim_commit(mp_obj_t self_in, mp_obj_t x_in, mp_obj_t d_in) {
    fxmp_optim_t *self = MP_OBJ_TO_PTR(self_in);
    void *x;
    const int32_t *d;
    bool s16 = fxmp_optim_vectors(self, x_in, d_in, MP_OBJ_NULL, &x, &d, NULL, "Optimizer.commit");
    fxmp_check(s16 ? fx_optim_commit_s16(&self->state, x, d) : fx_optim_commit_s32(&self->state, x, d),
        "Optimizer.commit");
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(fxmp_optim_commit_obj, fxmp_optim_commit);

/* stats() -> (evals, go, idle, search, ortho, skips, stalls, directions): Idle-and-Go counters */
static mp_obj_t fxmp_optim_stats(mp_obj_t self_in) {
    fxmp_optim_t *self = MP_OBJ_TO_PTR(self_in);
    fx_optim_stats s;
    fxmp_check(fx_optim_stats_get(&self->state, &s), "Optimizer.stats");
    mp_obj_t items[8] = {
        mp_obj_new_int_from_uint(s.evals), mp_obj_new_int_from_uint(s.go), mp_obj_new_int_from_uint(s.idle),
        mp_obj_new_int_from_uint(s.search), mp_obj_new_int_from_uint(s.ortho), mp_obj_new_int_from_uint(s.skips),
        mp_obj_new_int_from_uint(s.stalls), mp_obj_new_int_from_uint(s.directions),
    };
    return mp_obj_new_tuple(8, items);
}
static MP_DEFINE_CONST_FUN_OBJ_1(fxmp_optim_stats_obj, fxmp_optim_stats);

#define FXMP_OPTIM_METHODS(F) \
    F(MP_QSTR_direction, fxmp_optim_direction_obj) \
    F(MP_QSTR_propose, fxmp_optim_propose_obj) \
    F(MP_QSTR_report, fxmp_optim_report_obj) \
    F(MP_QSTR_commit, fxmp_optim_commit_obj) \
    F(MP_QSTR_stats, fxmp_optim_stats_obj)

/* ---- compensation vector, eq. (12)-(24) (fx_optim.h) ----------------------------------------- */

/* comp_coef(v, q) -> (m, c) for v int32 [n] */
static mp_obj_t fxmp_comp_coef(mp_obj_t v_in, mp_obj_t q) {
    size_t n;
    const int32_t *v = fxmp_buffer(v_in, FXMP_S32, false, &n, "comp_coef: v");
    uint32_t m;
    int64_t c;
    fxmp_check(fx_optim_comp_coef(v, (uint32_t)n, FXMP_I32(q, "comp_coef: q"), &m, &c), "comp_coef");
    mp_obj_t items[2] = { mp_obj_new_int_from_uint(m), fxmp_new_i64(c) };
    return mp_obj_new_tuple(2, items);
}
static MP_DEFINE_CONST_FUN_OBJ_2(fxmp_comp_coef_obj, fxmp_comp_coef);

/* comp_vector(v, q, z): z int64 [n] (array('q')) = Qp v - c v_m e_m */
static mp_obj_t fxmp_comp_vector(mp_obj_t v_in, mp_obj_t q, mp_obj_t z_in) {
    size_t n;
    const int32_t *v = fxmp_buffer(v_in, FXMP_S32, false, &n, "comp_vector: v");
    int64_t *z = fxmp_buffer_len(z_in, FXMP_S64, true, n, "comp_vector: z");
    fxmp_check(fx_optim_comp_vector(v, (uint32_t)n, FXMP_I32(q, "comp_vector: q"), z), "comp_vector");
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(fxmp_comp_vector_obj, fxmp_comp_vector);

/* comp_direction_m(v_m, c, q) -> sat32(rhu((Qp - c) v_m / Qp)) */
static mp_obj_t fxmp_comp_direction_m(mp_obj_t v_m, mp_obj_t c, mp_obj_t q) {
    int32_t qq = (int32_t)fxmp_get_range(q, FX_OPTIM_Q_MIN, FX_OPTIM_Q_MAX, "comp_direction_m: q");
    return mp_obj_new_int(fx_optim_comp_direction_m(FXMP_I32(v_m, "comp_direction_m: v_m"),
        fxmp_get_i64(c, "comp_direction_m: c"), qq));
}
static MP_DEFINE_CONST_FUN_OBJ_3(fxmp_comp_direction_m_obj, fxmp_comp_direction_m);

/* ---- Trainer: on-device mini-batch training (fx_train.h, docs/training.md) ------------------- */

/* bias_mult, bias_shift, grad_shift, back_mult, back_shift, dir_w_mult, dir_w_shift, dir_b_mult,
 * dir_b_shift: fx_train_layer's scales, train.LayerScales' order */
#define FXMP_SCALES_PER_LAYER 9

typedef struct {
    mp_obj_base_t base;
    mp_obj_t model_obj, theta_obj, optim_obj;
    fxmp_model_t *model;
    fx_train_params params;
    fx_train_layer *layers;
    int16_t *theta;
    uint32_t n_params;
    void *workspace;
    size_t workspace_size;
    uint32_t n_in, classes;
} fxmp_trainer_t;

static fxmp_trainer_t *fxmp_trainer_live(mp_obj_t self_in) {
    fxmp_trainer_t *self = MP_OBJ_TO_PTR(self_in);
    fxmp_model_live(self->model_obj);
    size_t n;
    if (fxmp_buffer(self->theta_obj, FXMP_S16, true, &n, "Trainer: theta") != self->theta || n != self->n_params) {
        fxmp_raise(&mp_type_RuntimeError, "Trainer: theta moved or was resized");
    }
    return self;
}

/* The blob's weight sections of the trained layers from theta, so that Model.blob() is always
 * the current model (the model's trained layers compute from theta itself). */
static void fxmp_trainer_sync(fxmp_trainer_t *self) {
    const int16_t *w = self->theta;
    for (uint32_t k = self->params.first; k < self->model->info.n_layers; k++) {
        const fx_dense_layer *d = &self->model->layers[k].dense;
        int16_t *dst = (int16_t *)(uintptr_t)self->model->blob_weights[k];
        size_t nw = (size_t)d->out * d->in;
        for (size_t i = 0; i < nw; i++) {
            dst[i] = w[i];
        }
        w += nw + d->out;
    }
}

/* Trainer(model, first, scales, theta, optimizer, loss=LOSS_SOFTMAX_XENT, slope_shift=SLOPE_NONE,
 * cache=0): trains layers first.. of a model loaded from a bytearray.
 *  scales: int32 [9 per trained layer] in train.LayerScales' order (the host's train.plan);
 *  theta: int16 [n_params] the trained parameters (per trained layer W then B, Q(q)), updated in
 *    place; the model's trained layers compute from it, the blob's weights follow it;
 *  optimizer: a fxlearn.Optimizer for n_params parameters (its Idle-and-Go decides each step);
 *  cache: samples per batch whose input to layer `first` the workspace keeps (evaluate(None, y)). */
static mp_obj_t fxmp_trainer_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    enum { A_MODEL, A_FIRST, A_SCALES, A_THETA, A_OPTIM, A_LOSS, A_SLOPE, A_CACHE, A_COUNT };
    const mp_arg_t allowed[A_COUNT] = {
        { MP_QSTR_model, MP_ARG_REQUIRED | MP_ARG_OBJ, { .u_obj = MP_OBJ_NULL } },
        { MP_QSTR_first, MP_ARG_REQUIRED | MP_ARG_OBJ, { .u_obj = MP_OBJ_NULL } },
        { MP_QSTR_scales, MP_ARG_REQUIRED | MP_ARG_OBJ, { .u_obj = MP_OBJ_NULL } },
        { MP_QSTR_theta, MP_ARG_REQUIRED | MP_ARG_OBJ, { .u_obj = MP_OBJ_NULL } },
        { MP_QSTR_optimizer, MP_ARG_REQUIRED | MP_ARG_OBJ, { .u_obj = MP_OBJ_NULL } },
        { MP_QSTR_loss, MP_ARG_OBJ, { .u_obj = MP_OBJ_NULL } },
        { MP_QSTR_slope_shift, MP_ARG_OBJ, { .u_obj = MP_OBJ_NULL } },
        { MP_QSTR_cache, MP_ARG_OBJ, { .u_obj = MP_OBJ_NULL } },
    };
    mp_arg_val_t v[A_COUNT];
    mp_arg_parse_all_kw_array(n_args, n_kw, args, A_COUNT, allowed, v);
    fxmp_model_t *model = fxmp_model_live(v[A_MODEL].u_obj);
    if (!model->writable) {
        fxmp_raise(&mp_type_ValueError, "Trainer: the model's blob must be a bytearray (it is trained in place)");
    }
    uint32_t n_layers = model->info.n_layers;
    uint32_t first = (uint32_t)fxmp_get_range(v[A_FIRST].u_obj, 0, (int64_t)n_layers - 1, "Trainer: first");
    uint32_t n_trained = n_layers - first;
    const int32_t *scales = fxmp_buffer_len(v[A_SCALES].u_obj, FXMP_S32, false,
        FXMP_SCALES_PER_LAYER * (size_t)n_trained, "Trainer: scales");
    uint64_t n_params = 0;
    for (uint32_t k = first; k < n_layers; k++) {
        n_params += (uint64_t)model->layers[k].dense.out * (model->layers[k].dense.in + 1u);
    }
    if (n_params > FX_OPTIM_N_MAX) {
        fxmp_raise(&mp_type_ValueError, "Trainer: more than 2^24 trained parameters");
    }
    int16_t *theta = fxmp_buffer_len(v[A_THETA].u_obj, FXMP_S16, true, (size_t)n_params, "Trainer: theta");
    fxmp_optim_t *optim = fxmp_optim_of(v[A_OPTIM].u_obj, "Trainer: optimizer");
    if (optim->n != n_params) {
        fxmp_raise(&mp_type_ValueError, "Trainer: optimizer made for %u parameters, theta has %u",
            (unsigned)optim->n, (unsigned)n_params);
    }

    fxmp_trainer_t *self = mp_obj_malloc(fxmp_trainer_t, type);
    self->model_obj = v[A_MODEL].u_obj;
    self->theta_obj = v[A_THETA].u_obj;
    self->optim_obj = v[A_OPTIM].u_obj;
    self->model = model;
    self->theta = theta;
    self->n_params = (uint32_t)n_params;
    self->layers = m_new(fx_train_layer, n_trained);
    self->params = (fx_train_params) { 0 };   /* fields a newer kernel adds default to 0 */
    self->params.model = &model->model;
    self->params.layers = self->layers;
    self->params.theta = theta;
    self->params.optim = &optim->state;
    self->params.first = first;
    self->params.loss = v[A_LOSS].u_obj == MP_OBJ_NULL ? FX_LOSS_SOFTMAX_XENT
        : (int32_t)fxmp_get_range(v[A_LOSS].u_obj, FX_LOSS_SOFTMAX_XENT, FX_LOSS_MSE, "Trainer: loss");
    self->params.loss_mult = model->info.loss_mult;
    self->params.loss_shift = model->info.loss_shift;
    self->params.slope_shift = v[A_SLOPE].u_obj == MP_OBJ_NULL ? FX_TRAIN_SLOPE_NONE
        : (int32_t)fxmp_get_range(v[A_SLOPE].u_obj, FX_TRAIN_SLOPE_NONE, 62, "Trainer: slope_shift");
    self->params.cache = v[A_CACHE].u_obj == MP_OBJ_NULL ? 0
        : (uint32_t)fxmp_get_range(v[A_CACHE].u_obj, 0, UINT16_MAX, "Trainer: cache");

    /* point the trained layers' weights into theta (the kernel's alias rule); undone on error */
    const void *saved[FXMP_MAX_TRAINED];
    if (n_trained > FXMP_MAX_TRAINED) {
        fxmp_raise(&mp_type_ValueError, "Trainer: at most %d trained layers", FXMP_MAX_TRAINED);
    }
    size_t at = 0;
    for (uint32_t j = 0; j < n_trained; j++) {
        fx_dense_layer *d = &model->layers[first + j].dense;
        const int32_t *s = scales + FXMP_SCALES_PER_LAYER * j;
        fx_train_layer *t = &self->layers[j];
        t->bias = (int32_t *)(uintptr_t)d->bias;     /* inside the writable blob */
        t->bias_mult = s[0];
        t->bias_shift = s[1];
        t->grad_shift = s[2];
        t->back_mult = s[3];
        t->back_shift = s[4];
        t->dir_w_mult = s[5];
        t->dir_w_shift = s[6];
        t->dir_b_mult = s[7];
        t->dir_b_shift = s[8];
        saved[j] = d->weights;
        d->weights = theta + at;
        at += (size_t)d->out * (d->in + 1u);
    }
    fx_status st = fx_train_workspace_size(&self->params, &self->workspace_size);
    if (st != FX_OK) {
        for (uint32_t j = 0; j < n_trained; j++) {
            model->layers[first + j].dense.weights = saved[j];
        }
        fxmp_check(st, "Trainer");
    }
    model->theta_obj = v[A_THETA].u_obj;          /* the model now computes from theta: keep it alive */
    model->theta = theta;
    /* the model's int32 biases from theta's B now (as fx_train_begin does), so that the model
     * and the blob are theta's from the start */
    at = 0;
    for (uint32_t j = 0; j < n_trained; j++) {
        const fx_dense_layer *d = &model->layers[first + j].dense;
        const fx_train_layer *t = &self->layers[j];
        at += (size_t)d->out * d->in;
        for (uint32_t i = 0; i < d->out; i++) {
            t->bias[i] = fx_requant(theta[at + i], t->bias_mult, t->bias_shift);
        }
        at += d->out;
    }
    self->workspace = m_new(uint64_t, self->workspace_size / 8 + 1);   /* FX_TRAIN_ALIGN */
    self->n_in = model->n_in;
    self->classes = model->n_out;
    fxmp_trainer_sync(self);
    return MP_OBJ_FROM_PTR(self);
}

static mp_obj_t fxmp_stats_tuple(const fx_train_stats *st) {
    mp_obj_t items[6] = {
        fxmp_new_i64(st->loss), fxmp_new_i64(st->loss_trial), mp_obj_new_int_from_uint(st->n),
        mp_obj_new_int_from_uint(st->correct), mp_obj_new_int_from_uint(st->changed), mp_obj_new_bool(st->accepted),
    };
    return mp_obj_new_tuple(6, items);
}

/* step(x, y) -> (loss, loss_trial, n, correct, changed, accepted): one mini-batch of
 * n = len(x) / n_in samples; y: labels uint16[n] (softmax) or targets int16[n * classes] (MSE). */
static mp_obj_t fxmp_trainer_step(mp_obj_t self_in, mp_obj_t x_in, mp_obj_t y_in) {
    fxmp_trainer_t *self = fxmp_trainer_live(self_in);
    size_t n_x;
    const int16_t *x = fxmp_buffer(x_in, FXMP_S16, false, &n_x, "Trainer.step: x");
    size_t n = n_x / self->n_in;
    if (n == 0 || n * self->n_in != n_x || n > UINT32_MAX) {
        fxmp_raise(&mp_type_ValueError, "Trainer.step: x: %u elements, not a positive multiple of %u", (unsigned)n_x, (unsigned)self->n_in);
    }
    const uint16_t *labels = NULL;
    const int16_t *targets = NULL;
    if (self->params.loss == FX_LOSS_SOFTMAX_XENT) {
        labels = fxmp_buffer_len(y_in, FXMP_U16, false, n, "Trainer.step: labels");
        for (size_t i = 0; i < n; i++) {
            if (labels[i] >= self->classes) {
                fxmp_raise(&mp_type_ValueError, "Trainer.step: label %u of sample %u >= %u classes",
                    (unsigned)labels[i], (unsigned)i, (unsigned)self->classes);
            }
        }
    } else {
        targets = fxmp_buffer_len(y_in, FXMP_S16, false, n * self->classes, "Trainer.step: targets");
    }
    fx_train_stats st;
    fxmp_check(fx_train_step(&self->params, x, labels, targets, (uint32_t)n, self->workspace, self->workspace_size, &st),
        "Trainer.step");
    fxmp_trainer_sync(self);
    return fxmp_stats_tuple(&st);
}
static MP_DEFINE_CONST_FUN_OBJ_3(fxmp_trainer_step_obj, fxmp_trainer_step);

/* The streaming form: begin(); accumulate(x, y) per sample; propose() -> evaluate?;
 * evaluate(x, y) per sample (the same ones; x None: the next cached one); finish() -> stats.
 * y: a label (int) or a target int16[classes]. */
static mp_obj_t fxmp_trainer_begin(mp_obj_t self_in) {
    fxmp_trainer_t *self = fxmp_trainer_live(self_in);
    fxmp_check(fx_train_begin(&self->params, self->workspace, self->workspace_size), "Trainer.begin");
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(fxmp_trainer_begin_obj, fxmp_trainer_begin);

static mp_obj_t fxmp_trainer_sample(mp_obj_t self_in, mp_obj_t x_in, mp_obj_t y_in, bool evaluate) {
    const char *fn = evaluate ? "Trainer.evaluate" : "Trainer.accumulate";
    fxmp_trainer_t *self = fxmp_trainer_live(self_in);
    const int16_t *x = evaluate && x_in == mp_const_none ? NULL : fxmp_buffer_len(x_in, FXMP_S16, false, self->n_in, fn);
    uint16_t label = 0;
    const int16_t *target = NULL;
    if (self->params.loss == FX_LOSS_SOFTMAX_XENT) {
        label = (uint16_t)fxmp_get_range(y_in, 0, (int64_t)self->classes - 1, fn);
    } else {
        target = fxmp_buffer_len(y_in, FXMP_S16, false, self->classes, fn);
    }
    fx_status st = evaluate
        ? fx_train_evaluate(&self->params, self->workspace, self->workspace_size, x, label, target)
        : fx_train_accumulate(&self->params, self->workspace, self->workspace_size, x, label, target);
    fxmp_check(st, fn);
    return mp_const_none;
}

static mp_obj_t fxmp_trainer_accumulate(mp_obj_t self_in, mp_obj_t x_in, mp_obj_t y_in) {
    return fxmp_trainer_sample(self_in, x_in, y_in, false);
}
static MP_DEFINE_CONST_FUN_OBJ_3(fxmp_trainer_accumulate_obj, fxmp_trainer_accumulate);

/* propose() -> True if the batch must now be evaluated at the trial, False if the optimizer
 * stalled (then call finish() directly) */
static mp_obj_t fxmp_trainer_propose(mp_obj_t self_in) {
    fxmp_trainer_t *self = fxmp_trainer_live(self_in);
    uint32_t evaluate;
    fxmp_check(fx_train_propose(&self->params, self->workspace, self->workspace_size, &evaluate), "Trainer.propose");
    return mp_obj_new_bool(evaluate != 0);
}
static MP_DEFINE_CONST_FUN_OBJ_1(fxmp_trainer_propose_obj, fxmp_trainer_propose);

static mp_obj_t fxmp_trainer_evaluate(mp_obj_t self_in, mp_obj_t x_in, mp_obj_t y_in) {
    return fxmp_trainer_sample(self_in, x_in, y_in, true);
}
static MP_DEFINE_CONST_FUN_OBJ_3(fxmp_trainer_evaluate_obj, fxmp_trainer_evaluate);

static mp_obj_t fxmp_trainer_finish(mp_obj_t self_in) {
    fxmp_trainer_t *self = fxmp_trainer_live(self_in);
    fx_train_stats st;
    fxmp_check(fx_train_finish(&self->params, self->workspace, self->workspace_size, &st), "Trainer.finish");
    fxmp_trainer_sync(self);
    return fxmp_stats_tuple(&st);
}
static MP_DEFINE_CONST_FUN_OBJ_1(fxmp_trainer_finish_obj, fxmp_trainer_finish);

static mp_obj_t fxmp_trainer_workspace_size(mp_obj_t self_in) {
    return mp_obj_new_int_from_uint(fxmp_trainer_live(self_in)->workspace_size);
}
static MP_DEFINE_CONST_FUN_OBJ_1(fxmp_trainer_workspace_size_obj, fxmp_trainer_workspace_size);

static mp_obj_t fxmp_trainer_n_params(mp_obj_t self_in) {
    return mp_obj_new_int_from_uint(fxmp_trainer_live(self_in)->n_params);
}
static MP_DEFINE_CONST_FUN_OBJ_1(fxmp_trainer_n_params_obj, fxmp_trainer_n_params);

#define FXMP_TRAINER_METHODS(F) \
    F(MP_QSTR_step, fxmp_trainer_step_obj) \
    F(MP_QSTR_begin, fxmp_trainer_begin_obj) \
    F(MP_QSTR_accumulate, fxmp_trainer_accumulate_obj) \
    F(MP_QSTR_propose, fxmp_trainer_propose_obj) \
    F(MP_QSTR_evaluate, fxmp_trainer_evaluate_obj) \
    F(MP_QSTR_finish, fxmp_trainer_finish_obj) \
    F(MP_QSTR_workspace_size, fxmp_trainer_workspace_size_obj) \
    F(MP_QSTR_n_params, fxmp_trainer_n_params_obj)

/* ---- module table --------------------------------------------------------------------------- */

/* (name, object): the QSTRs are spelled out because the native-module build finds them by
 * scanning this source text. */
#define FXMP_FUNCTIONS(F) \
    F(MP_QSTR_sat32, fxmp_sat32_obj) \
    F(MP_QSTR_sat16, fxmp_sat16_obj) \
    F(MP_QSTR_sat8, fxmp_sat8_obj) \
    F(MP_QSTR_rhu_shift, fxmp_rhu_shift_obj) \
    F(MP_QSTR_rhu_div, fxmp_rhu_div_obj) \
    F(MP_QSTR_add_sat16, fxmp_add_sat16_obj) \
    F(MP_QSTR_sub_sat16, fxmp_sub_sat16_obj) \
    F(MP_QSTR_mul_sat16, fxmp_mul_sat16_obj) \
    F(MP_QSTR_add_sat32, fxmp_add_sat32_obj) \
    F(MP_QSTR_sub_sat32, fxmp_sub_sat32_obj) \
    F(MP_QSTR_q_from_int, fxmp_q_from_int_obj) \
    F(MP_QSTR_q_rescale, fxmp_q_rescale_obj) \
    F(MP_QSTR_requant_check, fxmp_requant_check_obj) \
    F(MP_QSTR_requant, fxmp_requant_obj) \
    F(MP_QSTR_requant_s16, fxmp_requant_s16_obj) \
    F(MP_QSTR_requant_s8, fxmp_requant_s8_obj) \
    F(MP_QSTR_exp_neg_q12, fxmp_exp_neg_q12_obj) \
    F(MP_QSTR_log2_q12, fxmp_log2_q12_obj) \
    F(MP_QSTR_softmax_xent_s16, fxmp_softmax_xent_s16_obj) \
    F(MP_QSTR_mse_s16, fxmp_mse_s16_obj) \
    F(MP_QSTR_quant_check, fxmp_quant_check_obj) \
    F(MP_QSTR_quant_row_stride, fxmp_quant_row_stride_obj) \
    F(MP_QSTR_quant_max_level, fxmp_quant_max_level_obj) \
    F(MP_QSTR_quant_level, fxmp_quant_level_obj) \
    F(MP_QSTR_relu_s16, fxmp_relu_s16_obj) \
    F(MP_QSTR_argmax_s16, fxmp_argmax_s16_obj) \
    F(MP_QSTR_blob_seal, fxmp_blob_seal_obj) \
    F(MP_QSTR_snap_s16, fxmp_snap_s16_obj) \
    F(MP_QSTR_dense_s16, fxmp_dense_s16_obj) \
    F(MP_QSTR_dense_s16_s8, fxmp_dense_s16_s8_obj) \
    F(MP_QSTR_dense_s8, fxmp_dense_s8_obj) \
    F(MP_QSTR_dense_s8_s16, fxmp_dense_s8_s16_obj) \
    F(MP_QSTR_dense_grad_accum_s16, fxmp_dense_grad_accum_s16_obj) \
    F(MP_QSTR_dense_backward_input_s16, fxmp_dense_backward_input_s16_obj) \
    F(MP_QSTR_act_backward_s16, fxmp_act_backward_s16_obj) \
    F(MP_QSTR_comp_coef, fxmp_comp_coef_obj) \
    F(MP_QSTR_comp_vector, fxmp_comp_vector_obj) \
    F(MP_QSTR_comp_direction_m, fxmp_comp_direction_m_obj)

/* (name, small integer constant) */
#define FXMP_CONSTANTS(C) \
    C(MP_QSTR_KERNEL_VERSION_MAJOR, FX_KERNEL_VERSION_MAJOR) \
    C(MP_QSTR_KERNEL_VERSION_MINOR, FX_KERNEL_VERSION_MINOR) \
    C(MP_QSTR_BLOB_VERSION, FX_BLOB_VERSION) \
    C(MP_QSTR_Q15_ONE, FX_Q15_ONE) \
    C(MP_QSTR_Q12_ONE, FX_Q12_ONE) \
    C(MP_QSTR_FMT_INT8, FX_FMT_INT8) \
    C(MP_QSTR_FMT_INT16, FX_FMT_INT16) \
    C(MP_QSTR_FMT_UNIFORM, FX_FMT_UNIFORM) \
    C(MP_QSTR_FMT_POT, FX_FMT_POT) \
    C(MP_QSTR_FMT_APOT, FX_FMT_APOT) \
    C(MP_QSTR_LOSS_SOFTMAX_XENT, FX_LOSS_SOFTMAX_XENT) \
    C(MP_QSTR_LOSS_MSE, FX_LOSS_MSE) \
    C(MP_QSTR_SLOPE_NONE, FX_TRAIN_SLOPE_NONE) \
    C(MP_QSTR_OPTIM_RHU, FX_OPTIM_RHU) \
    C(MP_QSTR_OPTIM_STOCHASTIC, FX_OPTIM_STOCHASTIC) \
    C(MP_QSTR_OPTIM_ERROR_FEEDBACK, FX_OPTIM_ERROR_FEEDBACK) \
    C(MP_QSTR_OPTIM_HALVE, FX_OPTIM_HALVE) \
    C(MP_QSTR_OPTIM_INTERP, FX_OPTIM_INTERP) \
    C(MP_QSTR_OPTIM_RESET, FX_OPTIM_RESET) \
    C(MP_QSTR_OPTIM_ADAPT, FX_OPTIM_ADAPT)

#ifdef MICROPY_ENABLE_DYNRUNTIME

/* Types of a native module live in RAM and are filled in at import. */
#define FXMP_COUNT(q, obj) +1
mp_map_elem_t fxmp_model_locals_table[0 FXMP_MODEL_METHODS(FXMP_COUNT)];
static MP_DEFINE_CONST_DICT(fxmp_model_locals, fxmp_model_locals_table);
mp_map_elem_t fxmp_optim_locals_table[0 FXMP_OPTIM_METHODS(FXMP_COUNT)];
static MP_DEFINE_CONST_DICT(fxmp_optim_locals, fxmp_optim_locals_table);
mp_map_elem_t fxmp_trainer_locals_table[0 FXMP_TRAINER_METHODS(FXMP_COUNT)];
static MP_DEFINE_CONST_DICT(fxmp_trainer_locals, fxmp_trainer_locals_table);

static void fxmp_init_type(mp_obj_full_type_t *type, qstr name, mp_make_new_fun_t make_new, const mp_obj_dict_t *locals) {
    type->base.type = (void *)&mp_type_type;
    type->flags = MP_TYPE_FLAG_NONE;
    type->name = name;
    MP_OBJ_TYPE_SET_SLOT(type, make_new, make_new, 0);
    MP_OBJ_TYPE_SET_SLOT(type, locals_dict, (void *)locals, 1);
}

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY
    size_t i = 0;
    #define FXMP_MODEL_LOCAL(q, obj) fxmp_model_locals_table[i++] = (mp_map_elem_t) { MP_OBJ_NEW_QSTR(q), MP_OBJ_FROM_PTR(&obj) };
    FXMP_MODEL_METHODS(FXMP_MODEL_LOCAL)
    i = 0;
    #define FXMP_OPTIM_LOCAL(q, obj) fxmp_optim_locals_table[i++] = (mp_map_elem_t) { MP_OBJ_NEW_QSTR(q), MP_OBJ_FROM_PTR(&obj) };
    FXMP_OPTIM_METHODS(FXMP_OPTIM_LOCAL)
    i = 0;
    #define FXMP_TRAINER_LOCAL(q, obj) fxmp_trainer_locals_table[i++] = (mp_map_elem_t) { MP_OBJ_NEW_QSTR(q), MP_OBJ_FROM_PTR(&obj) };
    FXMP_TRAINER_METHODS(FXMP_TRAINER_LOCAL)
    fxmp_init_type(&fxmp_model_type_full, MP_QSTR_Model, fxmp_model_make_new, &fxmp_model_locals);
    fxmp_init_type(&fxmp_optim_type_full, MP_QSTR_Optimizer, fxmp_optim_make_new, &fxmp_optim_locals);
    fxmp_init_type(&fxmp_trainer_type_full, MP_QSTR_Trainer, fxmp_trainer_make_new, &fxmp_trainer_locals);
    mp_store_global(MP_QSTR_Model, MP_OBJ_FROM_PTR(&fxmp_model_type_full));
    mp_store_global(MP_QSTR_Optimizer, MP_OBJ_FROM_PTR(&fxmp_optim_type_full));
    mp_store_global(MP_QSTR_Trainer, MP_OBJ_FROM_PTR(&fxmp_trainer_type_full));
    #define FXMP_STORE_FUNCTION(q, obj) mp_store_global(q, MP_OBJ_FROM_PTR(&obj));
    #define FXMP_STORE_CONSTANT(q, v) mp_store_global(q, MP_OBJ_NEW_SMALL_INT(v));
    FXMP_FUNCTIONS(FXMP_STORE_FUNCTION)
    FXMP_CONSTANTS(FXMP_STORE_CONSTANT)
    MP_DYNRUNTIME_INIT_EXIT
}

#else

#define FXMP_ROM_ENTRY(q, obj) { MP_ROM_QSTR(q), MP_ROM_PTR(&obj) },
#define FXMP_ROM_CONSTANT(q, v) { MP_ROM_QSTR(q), MP_ROM_INT(v) },

static const mp_rom_map_elem_t fxmp_model_locals_table[] = { FXMP_MODEL_METHODS(FXMP_ROM_ENTRY) };
static MP_DEFINE_CONST_DICT(fxmp_model_locals, fxmp_model_locals_table);
MP_DEFINE_CONST_OBJ_TYPE(fxmp_model_type, MP_QSTR_Model, MP_TYPE_FLAG_NONE,
    make_new, fxmp_model_make_new, locals_dict, &fxmp_model_locals);

static const mp_rom_map_elem_t fxmp_optim_locals_table[] = { FXMP_OPTIM_METHODS(FXMP_ROM_ENTRY) };
static MP_DEFINE_CONST_DICT(fxmp_optim_locals, fxmp_optim_locals_table);
MP_DEFINE_CONST_OBJ_TYPE(fxmp_optim_type, MP_QSTR_Optimizer, MP_TYPE_FLAG_NONE,
    make_new, fxmp_optim_make_new, locals_dict, &fxmp_optim_locals);

static const mp_rom_map_elem_t fxmp_trainer_locals_table[] = { FXMP_TRAINER_METHODS(FXMP_ROM_ENTRY) };
static MP_DEFINE_CONST_DICT(fxmp_trainer_locals, fxmp_trainer_locals_table);
MP_DEFINE_CONST_OBJ_TYPE(fxmp_trainer_type, MP_QSTR_Trainer, MP_TYPE_FLAG_NONE,
    make_new, fxmp_trainer_make_new, locals_dict, &fxmp_trainer_locals);

static const mp_rom_map_elem_t fxmp_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_fxlearn) },
    { MP_ROM_QSTR(MP_QSTR_Model), MP_ROM_PTR(&fxmp_model_type) },
    { MP_ROM_QSTR(MP_QSTR_Optimizer), MP_ROM_PTR(&fxmp_optim_type) },
    { MP_ROM_QSTR(MP_QSTR_Trainer), MP_ROM_PTR(&fxmp_trainer_type) },
    FXMP_FUNCTIONS(FXMP_ROM_ENTRY)
    FXMP_CONSTANTS(FXMP_ROM_CONSTANT)
};
static MP_DEFINE_CONST_DICT(fxmp_module_globals, fxmp_module_globals_table);

const mp_obj_module_t fxmp_user_cmodule = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&fxmp_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_fxlearn, fxmp_user_cmodule);

#endif
