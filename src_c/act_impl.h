/* Generic body of the fused per-step gate loops, included by act.c once per
 * (element type, ISA) with these macros set:
 *   REAL, NAME(x) (the function name), VSIGMOID(n, x, y) and VTANH(n, x, y)
 *   (y[k] = f(x[k]) over n contiguous values; y may equal x), TARGET (an ISA
 *   target attribute or nothing).
 * Nonlinearities run as passes over contiguous stretches of one row (in L1),
 * the remaining arithmetic as plain loops the compiler vectorises. A single
 * pass per row doing all four gates, the cell and m for a vector of units at
 * a time was slower (B = 32, H = 256: 11% with AVX-512, 20% with AVX2): its
 * body is one long dependency chain (gates, then c, then tanh(c)), while a
 * pass's iterations are independent and overlap in the out-of-order core. */

/* g[k H + j] = (g[k H + j] + rec[k n + j]) + bias[k H + j] for the four gates
 * of n units, either term NULL for none. */
static TARGET void NAME(add_terms)(size_t n, size_t H, const REAL *PYLSTM_RESTRICT rec,
                                   const REAL *PYLSTM_RESTRICT bias, REAL *PYLSTM_RESTRICT g) {
    size_t k, j;
    for (k = 0; k < 4; ++k) {
        REAL *row = g + k * H;
        const REAL *r = rec ? rec + k * n : NULL, *bk = bias ? bias + k * H : NULL;
        if (r && bk)
            for (j = 0; j < n; ++j) row[j] = (row[j] + r[j]) + bk[j];
        else if (r)
            for (j = 0; j < n; ++j) row[j] += r[j];
        else if (bk)
            for (j = 0; j < n; ++j) row[j] += bk[j];
    }
}

/* Forward, for hidden units j0 <= j < j1 of every row: gates (B, 4H) holds the
 * pre-activations of i, f, g, o on entry and their values on exit, less two
 * terms added here while the row is in L1, in this order: rec, a product kept
 * apart (NULL for none; row b's gate k of unit j at
 * rec[(4b + k)(j1 - j0) + j - j0]), then the bias (4H; NULL for none).
 * c_cur = f * c_prev + i * g; m = o * tanh(c_cur), row b at m + b * ldm
 * (ldm >= H). Padding rows (t >= lengths[b]) get rec only, carry c_prev over
 * and set m to 0. c_cur may be c_prev. */
TARGET void NAME(gates_fwd)(size_t B, size_t H, size_t j0, size_t j1, size_t t,
                            const int64_t *lengths, const REAL *bias, const REAL *rec,
                            REAL *gates, const REAL *c_prev, REAL *c_cur, REAL *m, size_t ldm) {
    const size_t n = j1 - j0;
    size_t b, j;
    for (b = 0; b < B; ++b) {
        REAL *gi = gates + b * 4 * H, *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
        const REAL *cp = c_prev + b * H, *rb = rec ? rec + b * 4 * n : NULL;
        REAL *cc = c_cur + b * H, *mb = m + b * ldm;
        if (lengths && (int64_t)t >= lengths[b]) {
            NAME(add_terms)(n, H, rb, NULL, gi + j0);
            for (j = j0; j < j1; ++j) {
                cc[j] = cp[j];
                mb[j] = 0;
            }
            continue;
        }
        NAME(add_terms)(n, H, rb, bias ? bias + j0 : NULL, gi + j0);
        VSIGMOID(n, gi + j0, gi + j0);
        VSIGMOID(n, gf + j0, gf + j0);
        VTANH(n, gg + j0, gg + j0);
        VSIGMOID(n, go + j0, go + j0);
        for (j = j0; j < j1; ++j) cc[j] = gf[j] * cp[j] + gi[j] * gg[j];
        VTANH(n, cc + j0, mb + j0);
        for (j = j0; j < j1; ++j) mb[j] *= go[j];
    }
}

/* The arithmetic of gates_bwd over n units of one row (tc: tanh(c_t), in
 * dout on entry). The pointers are restrict: otherwise the compiler has to
 * assume each store may change a later load and keeps the loop scalar (it
 * was 9% of a 2-thread backward of the medium case). */
static TARGET void NAME(gates_bwd_row)(size_t n, const REAL *PYLSTM_RESTRICT gi,
                                       const REAL *PYLSTM_RESTRICT gf,
                                       const REAL *PYLSTM_RESTRICT gg,
                                       const REAL *PYLSTM_RESTRICT go,
                                       const REAL *PYLSTM_RESTRICT cp,
                                       const REAL *PYLSTM_RESTRICT dm, REAL *PYLSTM_RESTRICT dc,
                                       REAL *PYLSTM_RESTRICT di, REAL *PYLSTM_RESTRICT df,
                                       REAL *PYLSTM_RESTRICT dg, REAL *PYLSTM_RESTRICT dout) {
    size_t j;
    for (j = 0; j < n; ++j) {
        const REAL i = gi[j], f = gf[j], gv = gg[j], o = go[j];
        const REAL tc = dout[j];
        const REAL dct = dc[j] + dm[j] * o * (1 - tc * tc);
        /* Through sigmoid (s(1-s)) and tanh (1-g^2). */
        di[j] = dct * gv * i * (1 - i);
        df[j] = dct * cp[j] * f * (1 - f);
        dg[j] = dct * i * (1 - gv * gv);
        dout[j] = dm[j] * tc * o * (1 - o);
        dc[j] = dct * f;
    }
}

/* Backward of the same step. From the saved i, f, g, o (gates), c_prev, c_cur,
 * dm = dL/dm and dc = dL/dc_t (updated in place to dL/dc_{t-1}), writes
 * dgates = dL/d(pre-activations) (zero on padding rows, whose dc passes
 * through unchanged), for hidden units j0 <= j < j1. */
TARGET void NAME(gates_bwd)(size_t B, size_t H, size_t j0, size_t j1, size_t t,
                            const int64_t *lengths, const REAL *gates, const REAL *c_prev,
                            const REAL *c_cur, const REAL *dm, REAL *dc, REAL *dgates) {
    const size_t n = j1 - j0;
    size_t b, j;
    for (b = 0; b < B; ++b) {
        const REAL *gi = gates + b * 4 * H, *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
        const REAL *cp = c_prev + b * H, *cc = c_cur + b * H, *dmb = dm + b * H;
        REAL *di = dgates + b * 4 * H, *df = di + H, *dg = di + 2 * H, *dout = di + 3 * H;
        REAL *dcb = dc + b * H;
        if (lengths && (int64_t)t >= lengths[b]) {
            for (j = j0; j < j1; ++j) di[j] = df[j] = dg[j] = dout[j] = 0;
            continue;
        }
        /* tanh(c_t), parked in the o slot of dgates until it is overwritten */
        VTANH(n, cc + j0, dout + j0);
        NAME(gates_bwd_row)(n, gi + j0, gf + j0, gg + j0, go + j0, cp + j0, dmb + j0, dcb + j0,
                            di + j0, df + j0, dg + j0, dout + j0);
    }
}
