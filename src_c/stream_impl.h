/* Generic body of the streaming step (contracts in pylstm.h, layout in
 * stream.c); stream.c includes it once per element type with REAL and SUFFIX
 * set.
 *
 * A step computes exactly what layer_impl.h computes for T = 1, in the same
 * order, so the results are bit-identical to pylstm_model_forward with T = 1:
 *     gates  = in W_ih^T              (packed, overwrites)
 *     gates += h_{t-1} W_hh^T         (packed, accumulates)
 *     gates += b_ih + b_hh, then i, f, g, o, c_t, m = o*tanh(c_t)
 *                                     (pylstm_gates_fwd over all H units; no
 *                                     bias term when the layer has none)
 *     h_t    = m, or m W_hr^T (packed) when P > 0
 * Each column of a product is summed in the same order whatever N and however
 * the columns are cut into panels (gemm.h), so one 4H-wide product here equals
 * layer.c's per-gate slices. */

#define PYLSTM_CAT_(a, b) a##b
#define PYLSTM_CAT(a, b) PYLSTM_CAT_(a, b)
#define FN(name) PYLSTM_CAT(name, SUFFIX)
#define WEIGHTS PYLSTM_CAT(pylstm_weights_, SUFFIX)
#define GEMM_PACKED FN(pylstm_gemm_packed_)
#define PACK_B FN(pylstm_gemm_pack_b_)

pylstm_status FN(pylstm_stream_pack_)(const pylstm_model_desc *desc, const WEIGHTS *w,
                                      void *packed, size_t packed_size) {
    stream_layout p;
    unsigned char *s;
    pylstm_status st;
    size_t l, j;
    if (!desc || !w || !packed) return PYLSTM_ERR_NULL_POINTER;
    if ((st = pack_check(desc, sizeof(REAL), packed_size, &p)) != PYLSTM_OK) return st;
    for (l = 0; l < p.L; ++l) {
        if (!w[l].W_ih || !w[l].W_hh || (p.P && !w[l].W_hr)) return PYLSTM_ERR_NULL_POINTER;
        if (!p.P && w[l].W_hr) return PYLSTM_ERR_BAD_ARGUMENT; /* as layer.c */
    }
    s = pack_header(&p, packed);
    for (l = 0; l < p.L; ++l) {
        const stream_layer_plan *lp = l ? &p.upper : &p.first;
        const size_t in = l ? p.R : p.I;
        unsigned char *blk = s + layer_offset(&p, l);
        REAL *bias = (REAL *)(blk + lp->bias);
        const int has_bias = w[l].b_ih || w[l].b_hh;
        pack_record(blk, has_bias);
        /* op(B) = W^T with W stored (N, K) row-major: trans_b = 1. */
        PACK_B(1, p.G4, in, w[l].W_ih, in, blk + lp->ih);
        PACK_B(1, p.G4, p.R, w[l].W_hh, p.R, blk + lp->hh);
        if (p.P) PACK_B(1, p.P, p.H, w[l].W_hr, p.H, blk + lp->hr);
        /* The same sum as layer_impl.h's bias_sum_, so the rounding matches. */
        for (j = 0; j < p.G4; ++j)
            bias[j] = (w[l].b_ih ? w[l].b_ih[j] : 0) + (w[l].b_hh ? w[l].b_hh[j] : 0);
    }
    return PYLSTM_OK;
}

pylstm_status FN(pylstm_stream_step_)(const pylstm_model_desc *desc, const void *packed,
                                      size_t packed_size, size_t B, const REAL *x, REAL *h,
                                      REAL *c, REAL *y, void *work, size_t work_size) {
    stream_plan pl;
    const stream_layout *const p = &pl.lay;
    const unsigned char *s;
    unsigned char *wk, *hint;
    int backward;
    REAL *gates, *rec, *m;
    void *gemm_work;
    const REAL *in;
    size_t K, l;
    pylstm_status st;
    if (!desc || !packed || !x || !h || !c || !y || !work) return PYLSTM_ERR_NULL_POINTER;
    st = step_begin(desc, sizeof(REAL), packed, packed_size, B, work_size, &pl, &s);
    if (st != PYLSTM_OK) return st;
    wk = (unsigned char *)pylstm_align_ptr(work);
    gates = (REAL *)(wk + pl.w_gates);
    rec = (REAL *)(wk + pl.w_tmp);
    m = p->P ? (REAL *)(wk + pl.w_m) : NULL;
    gemm_work = wk + pl.w_gemm;
    /* With B = 1 the weights are read in one direction (W_ih^T then W_hh^T,
     * first panel to last) and back again in the next step, so that the next
     * step starts with what is still in L1 (gemm.h, pylstm_gemv_packed_*).
     * The direction is a hint left in work: any value gives the same results
     * (the products' panels are independent), so a work buffer that is new,
     * or shared with other streams, costs only the cache reuse. */
    hint = wk + pl.w_hint;
    backward = B == 1 && (*hint & 1);
    *hint = (unsigned char)!backward;

    in = x, K = p->I;
    for (l = 0; l < p->L; ++l) {
        const stream_layer_plan *lp = l ? &p->upper : &p->first;
        const unsigned char *blk = s + layer_offset(p, l);
        REAL *hl = h + l * B * p->R, *cl = c + l * B * p->H;
        /* The recurrent product is added to the input projection as
         * layer_impl.h does (B > 1: accumulated into it, depth block by depth
         * block; B = 1: the whole sum kept apart and added by the gate loop),
         * so the rounding is the model's exactly. */
        if (B > 1) {
            GEMM_PACKED(0, B, p->G4, K, in, K, blk + lp->ih, 0, gates, p->G4, gemm_work);
            GEMM_PACKED(0, B, p->G4, p->R, hl, p->R, blk + lp->hh, 1, gates, p->G4, gemm_work);
        } else {
            if (!backward) {
                FN(pylstm_gemv_packed_)(p->G4, K, in, blk + lp->ih, gates, 0);
                FN(pylstm_gemv_packed_)(p->G4, p->R, hl, blk + lp->hh, rec, 0);
            } else {
                FN(pylstm_gemv_packed_)(p->G4, p->R, hl, blk + lp->hh, rec, 1);
                FN(pylstm_gemv_packed_)(p->G4, K, in, blk + lp->ih, gates, 1);
            }
        }
        /* The gates run after both products. Running them block by block
         * (32 units) right after that block's columns of the second
         * product, so that they overlap its reads, was 8-24% slower at
         * H = 64 and 128 with AVX2 on Zen 3.
         * h_{t-1} of this layer has been read for the last time: without a
         * projection m = h_t goes straight into it. c is updated element by
         * element, so c_{t-1} and c_t may share storage. */
        FN(pylstm_gates_fwd_)(B, p->H, 0, p->H, 0, NULL,
                              record_has_bias(blk) ? (const REAL *)(blk + lp->bias) : NULL,
                              B > 1 ? NULL : rec, gates, cl, cl, p->P ? m : hl, p->H);
        if (p->P) GEMM_PACKED(0, B, p->P, p->H, m, p->H, blk + lp->hr, 0, hl, p->R, gemm_work);
        in = hl, K = p->R;
    }
    memcpy(y, in, B * p->R * sizeof(REAL));
    return PYLSTM_OK;
}

#undef PYLSTM_CAT_
#undef PYLSTM_CAT
#undef FN
#undef WEIGHTS
#undef GEMM_PACKED
#undef PACK_B
