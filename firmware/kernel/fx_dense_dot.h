/* fxlearn kernel, private template (no include guard, included once per instance):
 * one row's dot product sum_j x_j * level(W_j), accumulated modulo 2^N in FX_DOT_UACC.
 * Parameters: FX_DOT_XT (input element type), FX_DOT_UACC (uint32_t or uint64_t),
 * FX_DOT_NAME (function name). Products with PoT/APoT codes are shifts and adds only. */

static FX_DOT_UACC FX_DOT_NAME(const fx_dense_layer *layer, const uint8_t *row, const void *xv)
{
    const FX_DOT_XT *x = (const FX_DOT_XT *)xv;
    const uint32_t in = layer->in;
    FX_DOT_UACC acc = 0;
    uint32_t j;

    if (layer->format == FX_FMT_INT8) {
        const int8_t *w = (const int8_t *)row;
        for (j = 0; j < in; j++) acc += (FX_DOT_UACC)((int32_t)x[j] * w[j]);
        return acc;
    }
    if (layer->format == FX_FMT_INT16) {
        const int16_t *w = (const int16_t *)(const void *)row;
        for (j = 0; j < in; j++) acc += (FX_DOT_UACC)((int32_t)x[j] * w[j]);
        return acc;
    }
    {
        /* Packed sign-magnitude codes, LSB-first: refill the bit buffer a byte at a time, so
         * a row never reads past its ceil(in * bits / 8) bytes. neg is all ones for a
         * negative code: (t ^ neg) - neg is then -t. */
        const uint32_t bits = (uint32_t)layer->bits, mbits = bits - 1u;
        const uint32_t cmask = (1u << bits) - 1u, mmask = (1u << mbits) - 1u;
        const uint8_t *p = row;
        uint32_t buf = 0, nb = 0, code, m;
        FX_DOT_UACC t, neg;
#define FX_DOT_NEXT_CODE()                                           \
        do {                                                         \
            if (nb < bits) { buf |= (uint32_t)*p++ << nb; nb += 8u; } \
            code = buf & cmask; buf >>= bits; nb -= bits;            \
            m = code & mmask;                                        \
            neg = (FX_DOT_UACC)0 - (FX_DOT_UACC)(code >> mbits);     \
        } while (0)

        if (layer->format == FX_FMT_UNIFORM) {
            for (j = 0; j < in; j++) {
                FX_DOT_NEXT_CODE();
                t = (FX_DOT_UACC)((int32_t)x[j] * (int32_t)m);
                acc += (t ^ neg) - neg;
            }
        } else if (layer->format == FX_FMT_POT) {
            /* branch-free: m == 0 shifts by 0 and masks the product away */
            for (j = 0; j < in; j++) {
                FX_DOT_NEXT_CODE();
                t = ((FX_DOT_UACC)x[j] << (m - (m != 0u))) & ((FX_DOT_UACC)0 - (FX_DOT_UACC)(m != 0u));
                acc += (t ^ neg) - neg;
            }
        } else {
            /* branch-free: every code adds its first two (or three) listed terms, each masked
             * away when the level has fewer (fx_apot_terms lists the used ones first) */
            const fx_apot_terms *terms = fx_quant_apot_terms(layer->bits);
            const int three = layer->bits >= 6;   /* B = 5, 6: three terms (ceil(B / 2)) */
            for (j = 0; j < in; j++) {
                const fx_apot_terms *tm;
                FX_DOT_UACC xu;
                FX_DOT_NEXT_CODE();
                tm = &terms[m];
                xu = (FX_DOT_UACC)x[j];
                t = ((xu << tm->shift[0]) & ((FX_DOT_UACC)0 - (FX_DOT_UACC)(tm->n > 0u)))
                  + ((xu << tm->shift[1]) & ((FX_DOT_UACC)0 - (FX_DOT_UACC)(tm->n > 1u)));
                if (three) t += (xu << tm->shift[2]) & ((FX_DOT_UACC)0 - (FX_DOT_UACC)(tm->n > 2u));
                acc += (t ^ neg) - neg;
            }
        }
#undef FX_DOT_NEXT_CODE
    }
    return acc;
}

#undef FX_DOT_XT
#undef FX_DOT_UACC
#undef FX_DOT_NAME
