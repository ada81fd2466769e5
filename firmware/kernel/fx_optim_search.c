/* fxlearn kernel: the wide lattice search of the optimizer (docs/optimizer.md section 4): the
 * box of moves in the plane of the two largest direction components, in a fixed trial order
 * (nearest the point first, or nearest the line of the direction first). */
#include "fx_optim.h"

static uint32_t mag(int32_t v)
{
    return v < 0 ? (uint32_t)(-(int64_t)v) : (uint32_t)v;
}

void fx_optim_box_plane(const int32_t *d, uint32_t n, uint32_t *j1, uint32_t *j2)
{
    uint32_t i, a = 0, b = n > 1 ? 1 : 0;
    if (n > 1 && mag(d[1]) > mag(d[0])) {
        a = 1;
        b = 0;
    }
    for (i = 2; i < n; i++) {
        if (mag(d[i]) > mag(d[a])) {
            b = a;
            a = i;
        } else if (mag(d[i]) > mag(d[b])) {
            b = i;
        }
    }
    *j1 = a;
    *j2 = b;
}

static int32_t ring(int32_t a, int32_t b)
{
    a = a < 0 ? -a : a;
    b = b < 0 ? -b : b;
    return a > b ? a : b;
}

/* |a d2 - b d1|: the move's distance from the line of (d1, d2), times |(d1, d2)| (< 2^34) */
static int64_t off_line(int32_t a, int32_t b, int32_t d1, int32_t d2)
{
    int64_t c = (int64_t)a * d2 - (int64_t)b * d1;
    return c < 0 ? -c : c;
}

/* Trial order of box moves: 1 if (a1, b1) comes before (a2, b2). */
static int before(int32_t a1, int32_t b1, int32_t a2, int32_t b2, int32_t d1, int32_t d2, uint8_t line)
{
    int32_t r1 = ring(a1, b1), r2 = ring(a2, b2);
    int64_t s1 = (int64_t)a1 * d1 + (int64_t)b1 * d2, s2 = (int64_t)a2 * d1 + (int64_t)b2 * d2;
    if (line) {
        int64_t l1 = off_line(a1, b1, d1, d2), l2 = off_line(a2, b2, d1, d2);
        if (l1 != l2) return l1 < l2;
    }
    if (r1 != r2) return r1 < r2;
    if (s1 != s2) return s1 > s2;
    if (a1 != a2) return a1 < a2;
    return b1 < b2;
}

fx_status fx_optim_box_move(int32_t r, int32_t d1, int32_t d2, uint32_t k, int8_t *a, int8_t *b)
{
    return fx_optim_box_move_ordered(r, 0, d1, d2, k, a, b);
}

fx_status fx_optim_box_move_ordered(int32_t r, uint8_t line, int32_t d1, int32_t d2, uint32_t k, int8_t *a, int8_t *b)
{
    int32_t a1, b1, a2, b2;
    if (!a || !b) return FX_ERR_NULL;
    if (r < 1 || r > FX_OPTIM_BOX_MAX || line > 1 || k >= (uint32_t)((2 * r + 1) * (2 * r + 1) - 1))
        return FX_ERR_PARAM;
    /* the move with exactly k moves before it (at most 48 x 48 comparisons) */
    for (a1 = -r; a1 <= r; a1++) {
        for (b1 = -r; b1 <= r; b1++) {
            uint32_t rank = 0;
            if (a1 == 0 && b1 == 0) continue;
            for (a2 = -r; a2 <= r; a2++)
                for (b2 = -r; b2 <= r; b2++)
                    if ((a2 != 0 || b2 != 0) && before(a2, b2, a1, b1, d1, d2, line)) rank++;
            if (rank == k) {
                *a = (int8_t)a1;
                *b = (int8_t)b1;
                return FX_OK;
            }
        }
    }
    return FX_ERR_PARAM;   /* unreachable: the order is total */
}
