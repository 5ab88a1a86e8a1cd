/* Generic body of the stacked model; model.c includes it once per element type
 * with REAL and SUFFIX set. Layer l's directions write their halves of one
 * (T, B, D*R) output, which (after dropout in training) is layer l+1's input. */

#define PYLSTM_CAT_(a, b) a##b
#define PYLSTM_CAT(a, b) PYLSTM_CAT_(a, b)
#define FN(name) PYLSTM_CAT(name, SUFFIX)
#define WEIGHTS PYLSTM_CAT(pylstm_weights_, SUFFIX)
#define GRADS PYLSTM_CAT(pylstm_grads_, SUFFIX)

static const pylstm_layer_plan *FN(model_layer_plan_)(const pylstm_model_plan *p, size_t l) {
    return l == 0 ? &p->first : &p->upper;
}

static unsigned char *FN(model_layer_reserve_)(const pylstm_model_plan *p, unsigned char *res,
                                               size_t l, size_t d) {
    if (l == 0) return res + p->res_layer0 + d * p->res_layer_stride0;
    return res + p->res_upper + ((l - 1) * p->D + d) * p->res_layer_stride;
}

static pylstm_status FN(model_check_)(const pylstm_model_desc *desc, const WEIGHTS *w, size_t T,
                                      size_t B, const int64_t *lengths, int purpose,
                                      size_t work_size, pylstm_model_plan *p) {
    pylstm_status st;
    size_t k;
    if (!desc || !w) return PYLSTM_ERR_NULL_POINTER;
    st = pylstm_model_plan_make(desc, T, B, sizeof(REAL), purpose, work_size, p);
    if (st != PYLSTM_OK) return st;
    for (k = 0; k < p->L * p->D; ++k) {
        pylstm_layer_desc ld;
        ld.input_size = k < p->D ? p->I : p->DR, ld.hidden_size = p->H, ld.proj_size = p->P;
        st = pylstm_layer_check_desc(&ld, T, B, w[k].W_ih, w[k].W_hh, w[k].W_hr);
        if (st != PYLSTM_OK) return st;
    }
    return pylstm_check_lengths(lengths, T, B);
}

pylstm_status FN(pylstm_model_sizes_)(const pylstm_model_desc *desc, size_t T, size_t B,
                                      pylstm_sizes *out) {
    pylstm_model_plan p;
    pylstm_status st;
    if (!desc || !out) return PYLSTM_ERR_NULL_POINTER;
    st = pylstm_model_plan_make(desc, T, B, sizeof(REAL), PYLSTM_PLAN_QUERY, 0, &p);
    if (st != PYLSTM_OK) return st;
    out->work_forward = p.wf_total;
    out->work_train = p.wt_total;
    out->reserve = p.res_total;
    out->work_backward = p.wb_total;
    return PYLSTM_OK;
}

/* One layer's forward, its directions at once (pylstm_model_plan.dir_par):
 * what FN(model_dir_job_) needs of FN(model_run_). */
typedef struct {
    const pylstm_model_plan *p;
    const pylstm_layer_plan *lp;
    const WEIGHTS *w;
    const pylstm_prep_layout *prep;
    const unsigned char *prep_start;
    const REAL *in, *h0, *c0;
    const int64_t *lengths;
    size_t l, ld_in;
    REAL *out, *h_n, *c_n;
    unsigned char *res, *work;
} FN(model_dir_ctx_);

/* Direction d of layer c->l, from layer work d (d = part; the same call as
 * FN(model_run_)'s loop over the directions makes). */
static void FN(model_dir_run_)(const FN(model_dir_ctx_) *c, size_t d, unsigned char *work) {
    const pylstm_model_plan *p = c->p;
    const size_t B = p->B, R = p->R, H = p->H, e = c->l * p->D + d;
    pylstm_layer_packed pk;
    if (c->prep) pylstm_prep_layer(c->prep, c->prep_start, e, &pk);
    FN(pylstm_layer_run_)(c->lp, &c->w[e], c->prep ? &pk : NULL, (int)d, c->in, c->ld_in,
                          c->h0 ? c->h0 + e * B * R : NULL, c->c0 ? c->c0 + e * B * H : NULL,
                          c->lengths, c->out + d * R, p->DR,
                          c->h_n ? c->h_n + e * B * R : NULL, c->c_n ? c->c_n + e * B * H : NULL,
                          c->res ? FN(model_layer_reserve_)(p, c->res, c->l, d) : NULL, work);
}

static void FN(model_dir_job_)(void *vctx, size_t part, size_t nparts) {
    const FN(model_dir_ctx_) *c = (const FN(model_dir_ctx_) *)vctx;
    const pylstm_model_plan *p = c->p;
    (void)nparts;
    FN(model_dir_run_)(c, part, c->work + part * (c->res ? p->wt_dir : p->wf_dir));
}

/* Runs every layer forward; reserve != NULL is training; prep != NULL reads
 * the weights packed ahead from the buffer at prep_start laid out as prep. */
static void FN(model_run_)(const pylstm_model_plan *p, const WEIGHTS *w,
                           const pylstm_prep_layout *prep, const unsigned char *prep_start,
                           const REAL *x,
                           const REAL *h0, const REAL *c0, const int64_t *lengths,
                           double dropout, uint64_t seed, REAL *y, REAL *h_n, REAL *c_n,
                           unsigned char *res, unsigned char *work) {
    const size_t D = p->D, B = p->B, DR = p->DR;
    const size_t n_seq = p->T * B * DR;
    const REAL *in = x;
    size_t ld_in = p->I, l, d, k;
    for (l = 0; l < p->L; ++l) {
        const pylstm_layer_plan *lp = FN(model_layer_plan_)(p, l);
        REAL *out;
        if (l + 1 == p->L)
            out = y;
        else if (res)
            out = (REAL *)(res + p->res_inputs + l * p->res_seq_stride);
        else
            out = (REAL *)(work + p->wf_seq + (l % 2) * p->res_seq_stride);
        FN(model_dir_ctx_) dc;
        dc.p = p, dc.lp = lp, dc.w = w, dc.prep = prep, dc.prep_start = prep_start;
        dc.in = in, dc.h0 = h0, dc.c0 = c0, dc.lengths = lengths, dc.l = l, dc.ld_in = ld_in;
        dc.out = out, dc.h_n = h_n, dc.c_n = c_n, dc.res = res;
        dc.work = work + (res ? p->wt_layer : p->wf_layer);
        if (p->dir_par)
            pylstm_pool_run_loops(FN(model_dir_job_), &dc, D, dir_par_wake(p, lp->I));
        else
            for (d = 0; d < D; ++d) FN(model_dir_run_)(&dc, d, dc.work);
        if (res && l + 1 < p->L) {
            /* Inverted dropout between layers (torch: every layer's output but the
             * last's); with dropout == 0 the mask is all ones. */
            REAL *mask = (REAL *)(res + p->res_masks + l * p->res_seq_stride);
            const REAL scale = dropout < 1 ? (REAL)(1.0 / (1.0 - dropout)) : 0;
            for (k = 0; k < n_seq; ++k) {
                mask[k] = (dropout == 0 || pylstm_dropout_uniform(seed, l, k) >= dropout) ? scale : 0;
                out[k] *= mask[k];
            }
        }
        in = out;
        ld_in = DR;
    }
}

static pylstm_status FN(model_forward_common_)(const pylstm_model_desc *desc, const WEIGHTS *w,
                                               const void *prep, size_t prep_size,
                                               size_t T, size_t B, const REAL *x,
                                               const REAL *h0, const REAL *c0,
                                               const int64_t *lengths, double dropout,
                                               uint64_t seed, REAL *y, REAL *h_n, REAL *c_n,
                                               void *reserve, size_t reserve_size, void *work,
                                               size_t work_size, int train) {
    pylstm_model_plan p;
    pylstm_prep_layout lay;
    const unsigned char *prep_start = NULL;
    pylstm_status st = FN(model_check_)(desc, w, T, B, lengths,
                                        train ? PYLSTM_PLAN_TRAIN : PYLSTM_PLAN_FORWARD,
                                        work_size, &p);
    if (st != PYLSTM_OK) return st;
    if (!x || !y || !work || (train && !reserve)) return PYLSTM_ERR_NULL_POINTER;
    if (!(dropout >= 0 && dropout <= 1)) return PYLSTM_ERR_BAD_ARGUMENT; /* NaN too */
    if (work_size < (train ? p.wt_total : p.wf_total)) return PYLSTM_ERR_WORK_TOO_SMALL;
    if (train && reserve_size < p.res_total) return PYLSTM_ERR_RESERVE_TOO_SMALL;
    if (prep && (st = pylstm_prep_read(desc, sizeof(REAL), prep, prep_size, &lay,
                                       &prep_start)) != PYLSTM_OK)
        return st;
    FN(model_run_)(&p, w, prep ? &lay : NULL, prep_start, x, h0, c0, lengths, dropout, seed, y, h_n, c_n,
                   train ? (unsigned char *)pylstm_align_ptr(reserve) : NULL,
                   (unsigned char *)pylstm_align_ptr(work));
    return PYLSTM_OK;
}

pylstm_status FN(pylstm_model_forward_)(const pylstm_model_desc *desc, const WEIGHTS *w,
                                        size_t T, size_t B, const REAL *x, const REAL *h0,
                                        const REAL *c0, const int64_t *lengths, REAL *y,
                                        REAL *h_n, REAL *c_n, void *work, size_t work_size) {
    return FN(model_forward_common_)(desc, w, NULL, 0, T, B, x, h0, c0, lengths, 0.0, 0, y, h_n,
                                     c_n, NULL, 0, work, work_size, 0);
}

size_t FN(pylstm_model_prep_size_)(const pylstm_model_desc *desc) {
    pylstm_prep_layout lay;
    if (!desc ||
        pylstm_prep_layout_make(desc, sizeof(REAL), pylstm_pool_threads(), &lay) != PYLSTM_OK)
        return 0;
    return lay.total;
}

pylstm_status FN(pylstm_model_prep_)(const pylstm_model_desc *desc, const WEIGHTS *w, void *prep,
                                     size_t prep_size) {
    pylstm_prep_layout lay;
    pylstm_model_plan p;
    unsigned char *start;
    size_t e;
    /* The forward's checks of desc and weights (T = B = 1 stand for any). */
    pylstm_status st = FN(model_check_)(desc, w, 1, 1, NULL, PYLSTM_PLAN_QUERY, 0, &p);
    if (st != PYLSTM_OK) return st;
    if (!prep) return PYLSTM_ERR_NULL_POINTER;
    if ((st = pylstm_prep_layout_fit(desc, sizeof(REAL), prep_size, &lay)) != PYLSTM_OK)
        return st;
    start = pylstm_prep_write_header(&lay, prep);
    for (e = 0; e < lay.L * lay.D; ++e) {
        pylstm_layer_packed pk;
        const size_t in = e < lay.D ? lay.I : lay.D * lay.R;
        pylstm_prep_layer(&lay, start, e, &pk);
        /* op(B) = W^T with W stored (N, K) row-major: trans_b = 1. */
        FN(pylstm_gemm_pack_b_)(1, 4 * lay.H, in, w[e].W_ih, in, (void *)(uintptr_t)pk.ih);
        FN(pylstm_layer_pack_hh_)(lay.H, lay.R, w[e].W_hh, 1, (unsigned char *)(uintptr_t)pk.hh_one);
        if (pk.hh_many)
            FN(pylstm_layer_pack_hh_)(lay.H, lay.R, w[e].W_hh, lay.nt,
                                      (unsigned char *)(uintptr_t)pk.hh_many);
        if (lay.P)
            FN(pylstm_gemm_pack_b_)(1, lay.P, lay.H, w[e].W_hr, lay.H, (void *)(uintptr_t)pk.hr);
    }
    return PYLSTM_OK;
}

pylstm_status FN(pylstm_model_forward_prep_)(const pylstm_model_desc *desc, const WEIGHTS *w,
                                             const void *prep, size_t prep_size, size_t T,
                                             size_t B, const REAL *x, const REAL *h0,
                                             const REAL *c0, const int64_t *lengths, REAL *y,
                                             REAL *h_n, REAL *c_n, void *work,
                                             size_t work_size) {
    if (!prep) return PYLSTM_ERR_NULL_POINTER;
    return FN(model_forward_common_)(desc, w, prep, prep_size, T, B, x, h0, c0, lengths, 0.0, 0,
                                     y, h_n, c_n, NULL, 0, work, work_size, 0);
}

pylstm_status FN(pylstm_model_forward_train_)(const pylstm_model_desc *desc, const WEIGHTS *w,
                                              size_t T, size_t B, const REAL *x,
                                              const REAL *h0, const REAL *c0,
                                              const int64_t *lengths, double dropout,
                                              uint64_t seed, REAL *y, REAL *h_n, REAL *c_n,
                                              void *reserve, size_t reserve_size, void *work,
                                              size_t work_size) {
    return FN(model_forward_common_)(desc, w, NULL, 0, T, B, x, h0, c0, lengths, dropout, seed,
                                     y, h_n, c_n, reserve, reserve_size, work, work_size, 1);
}

/* One layer's backward (FN(model_back_run_)), its directions at once or
 * not (pylstm_model_plan.dir_par). */
typedef struct {
    const pylstm_model_plan *p;
    const pylstm_layer_plan *lp;
    const WEIGHTS *w;
    const GRADS *g;
    const REAL *in, *dcur, *dh_n, *dc_n;
    const int64_t *lengths;
    unsigned char *res;
    size_t l, ld_in;
    REAL *dx, *dh0, *dc0; /* dx: layer l's dx, or NULL to leave it for later */
    unsigned char *work;
} FN(model_back_ctx_);

/* Direction d of layer c->l from layer work `work`: the second direction
 * adds its dx into the first's. */
static void FN(model_back_run_)(const FN(model_back_ctx_) *c, size_t d, unsigned char *work) {
    const pylstm_model_plan *p = c->p;
    const size_t B = p->B, R = p->R, H = p->H, e = c->l * p->D + d;
    FN(pylstm_layer_back_)(c->lp, &c->w[e], (int)d, c->in, c->ld_in, c->lengths,
                           FN(model_layer_reserve_)(p, c->res, c->l, d),
                           c->dcur ? c->dcur + d * R : NULL, p->DR,
                           c->dh_n ? c->dh_n + e * B * R : NULL,
                           c->dc_n ? c->dc_n + e * B * H : NULL, c->dx, c->ld_in, d > 0,
                           c->dh0 ? c->dh0 + e * B * R : NULL, c->dc0 ? c->dc0 + e * B * H : NULL,
                           c->g ? &c->g[e] : NULL, work);
}

static void FN(model_back_job_)(void *vctx, size_t part, size_t nparts) {
    const FN(model_back_ctx_) *c = (const FN(model_back_ctx_) *)vctx;
    (void)nparts;
    FN(model_back_run_)(c, part, c->work + part * c->p->wb_dir);
}

pylstm_status FN(pylstm_model_backward_)(const pylstm_model_desc *desc, const WEIGHTS *w,
                                         size_t T, size_t B, const REAL *x,
                                         const int64_t *lengths, const void *reserve,
                                         size_t reserve_size, const REAL *dy, const REAL *dh_n,
                                         const REAL *dc_n, REAL *dx, REAL *dh0, REAL *dc0,
                                         const GRADS *g, void *work, size_t work_size) {
    pylstm_model_plan p;
    unsigned char *res, *wk;
    const REAL *dcur;
    size_t l, d, k, n_seq;
    pylstm_status st =
        FN(model_check_)(desc, w, T, B, lengths, PYLSTM_PLAN_BACKWARD, work_size, &p);
    if (st != PYLSTM_OK) return st;
    if (!x || !reserve || !work) return PYLSTM_ERR_NULL_POINTER;
    if (reserve_size < p.res_total) return PYLSTM_ERR_RESERVE_TOO_SMALL;
    if (work_size < p.wb_total) return PYLSTM_ERR_WORK_TOO_SMALL;
    res = (unsigned char *)pylstm_align_ptr((void *)(uintptr_t)reserve);
    wk = (unsigned char *)pylstm_align_ptr(work);
    n_seq = T * B * p.DR;

    dcur = dy;
    for (l = p.L; l-- > 0;) {
        const pylstm_layer_plan *lp = FN(model_layer_plan_)(&p, l);
        const REAL *in = l == 0 ? x : (const REAL *)(res + p.res_inputs + (l - 1) * p.res_seq_stride);
        const size_t ld_in = l == 0 ? p.I : p.DR;
        REAL *dx_l = l == 0 ? dx : (REAL *)(wk + p.wb_seq + (l % 2) * p.res_seq_stride);
        FN(model_back_ctx_) bc;
        bc.p = &p, bc.lp = lp, bc.w = w, bc.g = g, bc.in = in, bc.ld_in = ld_in;
        bc.lengths = lengths, bc.res = res, bc.l = l, bc.dcur = dcur, bc.dh_n = dh_n;
        bc.dc_n = dc_n, bc.dh0 = dh0, bc.dc0 = dc0, bc.work = wk + p.wb_layer;
        if (p.dir_par) {
            /* The directions at once without their dx products, then those
             * (each split between the threads, from the two layer works'
             * GEMM scratch) in the order of the loop below: dx_l, then dx_l
             * plus the second, with the same bits. */
            bc.dx = NULL;
            pylstm_pool_run_loops(FN(model_back_job_), &bc, 2, dir_par_wake(&p, lp->I));
            if (dx_l)
                for (d = 0; d < 2; ++d)
                    FN(pylstm_gemm_par_)(2, bc.work + lp->wb_gemm, p.wb_dir, 0, 0, T * B,
                                         lp->I, 4 * p.H,
                                         (const REAL *)(bc.work + d * p.wb_dir + lp->wb_dgates),
                                         4 * p.H, w[l * 2 + d].W_ih, lp->I, d > 0, dx_l, ld_in);
        } else {
            bc.dx = dx_l;
            for (d = 0; d < p.D; ++d) FN(model_back_run_)(&bc, d, bc.work);
        }
        if (l > 0) {
            const REAL *mask = (const REAL *)(res + p.res_masks + (l - 1) * p.res_seq_stride);
            for (k = 0; k < n_seq; ++k) dx_l[k] *= mask[k];
            dcur = dx_l;
        }
    }
    return PYLSTM_OK;
}

pylstm_status FN(pylstm_model_trace_)(const pylstm_model_desc *desc, size_t T, size_t B,
                                      const void *reserve, size_t reserve_size, size_t layer,
                                      int direction, PYLSTM_CAT(pylstm_trace_, SUFFIX) *out) {
    pylstm_model_plan p;
    const pylstm_layer_plan *lp;
    const unsigned char *lr;
    pylstm_status st;
    if (!desc || !reserve || !out) return PYLSTM_ERR_NULL_POINTER;
    st = pylstm_model_plan_make(desc, T, B, sizeof(REAL), PYLSTM_PLAN_QUERY, 0, &p);
    if (st != PYLSTM_OK) return st;
    if (layer >= p.L || direction < 0 || (size_t)direction >= p.D) return PYLSTM_ERR_BAD_SIZE;
    if (reserve_size < p.res_total) return PYLSTM_ERR_RESERVE_TOO_SMALL;
    lp = FN(model_layer_plan_)(&p, layer);
    lr = FN(model_layer_reserve_)(
        &p, (unsigned char *)pylstm_align_ptr((void *)(uintptr_t)reserve), layer,
        (size_t)direction);
    /* The state written by step t is slot t+1 (forward) or slot t (reverse):
     * see the slot convention in layer_impl.h. */
    out->gates = (const REAL *)(lr + lp->res_gates);
    out->c = (const REAL *)(lr + lp->res_c) + (direction ? 0 : B * p.H);
    out->h = (const REAL *)(lr + lp->res_h) + (direction ? 0 : B * p.R);
    return PYLSTM_OK;
}

#undef FN
#undef WEIGHTS
#undef GRADS
#undef PYLSTM_CAT
#undef PYLSTM_CAT_
