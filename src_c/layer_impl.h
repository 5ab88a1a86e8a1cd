/* Generic body of one LSTM layer direction, forward and backward through time.
 * layer.c includes this file once per element type with REAL and SUFFIX set.
 *
 * The plan for speed: the input projection of all T steps is
 * one GEMM, X (T*B, I) * W_ih^T; each step then adds only the recurrent product
 * h_{t-1} (B, R) * W_hh^T and applies the gates. Backward keeps dgates of every
 * step and turns dx and the weight gradients into a few large GEMMs after the
 * step loop.
 *
 * State slots. The states live in T+1 slots of (B, H) for c and (B, R) for h.
 * Step t reads slot `prev` and writes slot `cur`:
 *     forward direction: prev = t,     cur = t + 1   (slot 0 holds h0, c0)
 *     reverse direction: prev = t + 1, cur = t       (slot T holds h0, c0)
 * so the inputs h_{t-1} of all steps, in time order, are the contiguous slots
 * 0..T-1 (forward) or 1..T (reverse): one matrix for the dW_hh GEMM. Inference
 * keeps only two slots, used alternately (prev and cur always differ by one);
 * without projection or lengths it keeps h_t in y alone (pylstm_layer_run_).
 *
 * Padding steps (t >= lengths[b]) copy the state from prev to cur and write a
 * zero output row: torch's packed-sequence semantics. In backward they pass the
 * state gradients through and contribute nothing else. */

#define PYLSTM_CAT_(a, b) a##b
#define PYLSTM_CAT(a, b) PYLSTM_CAT_(a, b)
#define FN(name) PYLSTM_CAT(name, SUFFIX)
#define WEIGHTS PYLSTM_CAT(pylstm_weights_, SUFFIX)
#define GRADS PYLSTM_CAT(pylstm_grads_, SUFFIX)
#define GEMM FN(pylstm_gemm_)
#define GEMM_PACKED FN(pylstm_gemm_packed_)
#define PACK_B FN(pylstm_gemm_pack_b_)

#define GEMM_PAR FN(pylstm_gemm_par_)

/* A step's work below this many multiply-adds per thread is not worth
 * splitting: a step inside the sequence loop finds the other thread spinning
 * (a wake-up costs about a microsecond). The large products before and after
 * the loop split by gemm.h's own rule (PYLSTM_GEMM_PAR_MIN). */
#define PYLSTM_PAR_MIN_STEP 65536.0
/* The same for the forward's step loop without projection, whose threads
 * stay in one job from step to step (pylstm_pool_run_steps: about 0.1 us a
 * step to meet instead of 0.4 us for a job per step). Measured on a 2-core
 * Zen 4 at 2 threads against 1, T = 100: with a batch of one (the one-row
 * product, nothing packed per part) it pays from 8192 per thread (B = 1,
 * H = 64: 88 -> 80 us; H = 128: 324 -> 240 us; H = 48, 4608 per thread:
 * 52 -> 58 us); with more rows, whose parts each pack all of h_{t-1}, from
 * 32768 (B = 4, H = 64: 239 -> 203 us; B = 2, H = 64, 16384 per thread:
 * 159 -> 166 us). */
#define PYLSTM_PAR_MIN_STEPS_ROW 8192.0
#define PYLSTM_PAR_MIN_STEPS 32768.0
/* A step loop with less than PYLSTM_STEPS_WAKE_MIN (layer.h) runs on the
 * threads that are awake. One with less than PYLSTM_STEPS_MIN runs in one
 * part: a job costs about 0.4 us to start and end, more than a few steps of
 * B = 1 gain (T = 1, H = 64: lstm(x) 2.8 -> 3.2 us at 2 threads). */
#define PYLSTM_STEPS_MIN 262144.0
/* (PYLSTM_ROWS_MIN_PART, the batch split's least rows a part: layer.h) */

static int FN(is_active_)(const int64_t *lengths, size_t b, size_t t) {
    return lengths == NULL || (int64_t)t < lengths[b];
}

/* bias (4H) = b_ih + b_hh, either term optional. */
static void FN(bias_sum_)(const WEIGHTS *w, size_t G4, REAL *bias) {
    size_t j;
    for (j = 0; j < G4; ++j)
        bias[j] = (w->b_ih ? w->b_ih[j] : 0) + (w->b_hh ? w->b_hh[j] : 0);
}

/* How many parts work of M x N x K multiply-adds is split into (1 or nt),
 * given the least worth a thread (PYLSTM_PAR_MIN_STEP). */
static size_t FN(parts_for_)(const pylstm_layer_plan *p, double M, double N, double K,
                             double min_per_part) {
    return M * N * K >= min_per_part * (double)p->nt ? p->nt : 1;
}

/* How a step loop (the forward's or the backward's) runs on the pool
 * (FN(loop_split_for_)). */
typedef struct {
    size_t parts;      /* the loop's parts: 1 or nt */
    int by_rows;       /* each part runs every step of its batch rows */
    size_t prod_parts; /* parts of each step's recurrent product: 1 by rows */
    int wake;          /* a job for the whole loop wakes sleeping workers */
    int asleep;        /* no part goes to the workers: they sleep, and the
                          loop is not worth waking them for */
    long kind;         /* the loop's kind for pylstm_pool_run_steps (0: the
                          loop is not timed) */
} FN(loop_split_);

/* The split of a step loop whose recurrent product (the forward's h_{t-1}
 * W_hh^T or the backward's dgates W_hh) is B x 4H x R multiply-adds a step:
 * the batch's rows when every part gets at least PYLSTM_ROWS_MIN_PART of
 * them, else each step's 4H or R columns (without projection in one stepped
 * job, with it in a job per step, PYLSTM_PAR_MIN_STEP). A job for the whole
 * loop (by rows, or stepped) runs on the threads that are awake unless it
 * is worth waking the others; it asks the pool which are, so this is called
 * just before the loop. */
static FN(loop_split_) FN(loop_split_for_)(const pylstm_layer_plan *p, int back) {
    const double per_step = (double)p->B * 4 * p->H * p->R, all = per_step * p->T;
    const double min_per_part = p->P         ? PYLSTM_PAR_MIN_STEP
                                : p->B == 1 ? PYLSTM_PAR_MIN_STEPS_ROW
                                            : PYLSTM_PAR_MIN_STEPS;
    FN(loop_split_) s;
    s.parts = 1, s.by_rows = 0, s.prod_parts = 1, s.asleep = 0, s.kind = 0;
    s.wake = all >= PYLSTM_STEPS_WAKE_MIN;
    if (per_step < min_per_part * (double)p->nt) return s;
    if (!p->P && all < PYLSTM_STEPS_MIN) return s;
    s.by_rows = p->B >= PYLSTM_ROWS_MIN_PART * p->nt;
    if ((s.by_rows || !p->P) && pylstm_pool_threads_for(&s.wake) < 2) {
        s.by_rows = 0, s.asleep = 1;
        return s;
    }
    if (!s.by_rows && !p->P && p->nt > 1) {
        /* a stepped job, whose threads meet every step: in one part in this
         * thread instead while that has been the faster way */
        s.kind = loop_kind(p->B * 4 * p->H * p->R, back, sizeof(REAL));
        if (!pylstm_pool_steps_split(s.kind)) return s;
    }
    s.parts = p->nt;
    s.prod_parts = s.by_rows ? 1 : p->nt;
    return s;
}

/* ---- forward ---- */

/* Where one step (time t) reads and writes for batch rows b0 .. b0 + nb - 1
 * (FN(step_at_)): every pointer is at row b0. */
typedef struct {
    size_t t, b0, nb;
    const REAL *h_prev, *c_prev;
    REAL *gates, *c_cur, *h_cur, *m;
    size_t ldh, ldm; /* row strides of h_prev and m (R or ldy, H or ldy) */
} FN(step_rows_);

/* What every step of a forward shares, and (for a job per step) `at`, the
 * rows of the step being run. */
typedef struct {
    const pylstm_layer_plan *p;
    const int64_t *lengths;
    const REAL *bias;
    REAL *y;
    size_t ldy;
    int h_in_y;                 /* h_t is y's row t itself: nothing to copy */
    const unsigned char *pk_hh; /* packed W_hh^T: whole, or one slice per part */
    const unsigned char *pk_hr; /* packed W_hr^T (with projection) */
    size_t pk_stride;           /* bytes between the parts' slices */
    REAL *tmp;                  /* the recurrent product h_{t-1} W_hh^T, (B, 4H) */
    unsigned char *gemm_work;
    int reverse, train;
    size_t slot_mask;
    REAL *gates_all, *c_slots, *h_slots, *m_all;
    FN(step_rows_) at;
} FN(step_ctx_);

/* W_hh^T packed for `nparts` parts (layer.h). One part: the whole matrix.
 * Several: part p's hidden units j0..j1 own the rows of their four gate
 * blocks, packed side by side as one operand (N = 4 (j1 - j0)), so a part
 * computes its units' gates with one product and updates their cells without
 * waiting for the others. */
typedef struct {
    size_t H, R, stride;
    const REAL *W;
    unsigned char *pk;
} FN(pack_ctx_);

/* Part p packs its own slice (in its own thread: the packing is a pass over
 * the weights, which one thread alone would do while the others wait). */
static void FN(pack_hh_job_)(void *vctx, size_t part, size_t nparts) {
    const FN(pack_ctx_) *c = (const FN(pack_ctx_) *)vctx;
    size_t j0, j1;
    pylstm_split(c->H, PYLSTM_SLICE_GRAIN, part, nparts, &j0, &j1);
    if (j0 < j1)
        FN(pylstm_gemm_pack_b_groups_)(4 * (j1 - j0), c->R, c->W + j0 * c->R, c->R, j1 - j0,
                                       c->H, c->pk + part * c->stride);
}

void FN(pylstm_layer_pack_hh_)(size_t H, size_t R, const REAL *W_hh, size_t nparts,
                               unsigned char *pk) {
    FN(pack_ctx_) c;
    if (nparts == 1) {
        PACK_B(1, 4 * H, R, W_hh, R, pk);
        return;
    }
    c.H = H, c.R = R, c.W = W_hh, c.pk = pk;
    c.stride = pylstm_hh_pack_stride(sizeof(REAL), H, R, nparts);
    pylstm_pool_run(FN(pack_hh_job_), &c, nparts);
}

/* Backward: W_hh (4H x R) as op(B) of dh_{t-1} = dgates W_hh, column slice
 * p (the columns of h part p computes) packed by part p. */
static void FN(pack_hhb_job_)(void *vctx, size_t part, size_t nparts) {
    const FN(pack_ctx_) *c = (const FN(pack_ctx_) *)vctx;
    size_t n0, n1;
    pylstm_split(c->R, PYLSTM_SLICE_GRAIN, part, nparts, &n0, &n1);
    if (n0 < n1) PACK_B(0, n1 - n0, 4 * c->H, c->W + n0, c->R, c->pk + part * c->stride);
}

/* One step (rows r: all of the batch's, or a part's of FN(rows_part_)) for
 * the hidden units of part `part` of `nparts`: recurrent product of their four
 * gate blocks, nonlinearities, cell update, and (without projection) h_t and
 * the output row. `work` is the product's scratch. */
static void FN(step_run_)(const FN(step_ctx_) *c, const FN(step_rows_) *r, size_t part,
                          size_t nparts, unsigned char *work) {
    const pylstm_layer_plan *p = c->p;
    const size_t H = p->H, R = p->R, G4 = 4 * H, b0 = r->b0, B = r->nb;
    const REAL *rec = NULL;
    size_t j0, j1, b, j;
    pylstm_split(H, PYLSTM_SLICE_GRAIN, part, nparts, &j0, &j1);
    if (j0 >= j1) return;
    if (B > 1) {
        /* The product of the part's units' gate blocks accumulates into the
         * input projection in place (column n of the part's operand is gate
         * n / width, unit j0 + n % width): gates + the sum of each depth
         * block, whatever the split, so the result does not depend on the
         * thread count. The micro-kernel asks for the gate rows (far out in
         * L3 or memory by now) before its depth loop; a scratch product
         * added afterwards waited for them. */
        const size_t width = j1 - j0;
        FN(pylstm_gemm_packed_groups_)(B, 4 * width, R, r->h_prev, r->ldh,
                                       c->pk_hh + part * c->pk_stride, 1, r->gates + j0, G4,
                                       width, H, work);
    } else {
        /* A batch of one reads W_hh^T in alternating directions (gemm.h),
         * into a scratch row that the gate loop adds: gates + the whole sum,
         * for any number of parts. Part p's row starts at 4 * j0. */
        REAL *tmp = c->tmp + 4 * j0;
        if (nparts > 1) {
            /* h_{t-1} is every part's, and the part's gate rows were
             * written by the input projection's threads in columns of their
             * own: the lines from the other threads' caches are asked for
             * here all at once rather than one by one as the product and
             * the gate loop reach them. From C at 2 threads on a Zen 4,
             * T = 100, H = 64: 69-70 -> 66-67 us for h_{t-1}, 65-66 with
             * the gate rows; H = 128: 188 -> 185 us for h_{t-1}. (With B
             * = 2-6, whose product packs h_{t-1} first, no change.) */
            const size_t line = PYLSTM_ALIGN / sizeof(REAL);
            size_t k;
            for (j = 0; j < R; j += line) PYLSTM_PREFETCH(r->h_prev + j);
            for (k = 0; k < 4; ++k)
                for (j = j0; j < j1; j += line) PYLSTM_PREFETCH(r->gates + k * H + j);
        }
        FN(pylstm_gemv_packed_)(4 * (j1 - j0), R, r->h_prev, c->pk_hh + part * c->pk_stride,
                                tmp, (int)(r->t & 1));
        rec = tmp;
    }
    FN(pylstm_gates_fwd_)(B, H, j0, j1, r->t, c->lengths ? c->lengths + b0 : NULL, c->bias, rec,
                          r->gates, r->c_prev, r->c_cur, r->m, r->ldm);
    if (p->P || c->h_in_y) return;
    /* m is h_t itself (written into its slot); copy to y, or on padding rows
     * carry h_{t-1} and output zero. */
    for (b = 0; b < B; ++b) {
        REAL *yb = c->y + (r->t * p->B + b0 + b) * c->ldy, *hb = r->h_cur + b * R;
        if (FN(is_active_)(c->lengths, b0 + b, r->t)) {
            for (j = j0; j < j1; ++j) yb[j] = hb[j];
        } else {
            const REAL *hp = r->h_prev + b * R;
            for (j = j0; j < j1; ++j) {
                hb[j] = hp[j];
                yb[j] = 0;
            }
        }
    }
}

/* The rows b0 .. b0 + nb - 1 of step s (the s-th in the direction of
 * travel): their gate rows, c_{t-1} and c_t, h_{t-1} and h_t, and where m
 * goes. */
static void FN(step_at_)(const FN(step_ctx_) *c, size_t s, size_t b0, size_t nb,
                         FN(step_rows_) *r) {
    const pylstm_layer_plan *p = c->p;
    const size_t T = p->T, B = p->B, H = p->H, R = p->R, mask = c->slot_mask;
    const size_t t = c->reverse ? T - 1 - s : s;
    const size_t prev = c->reverse ? t + 1 : t, cur = c->reverse ? t : t + 1;
    r->t = t, r->b0 = b0, r->nb = nb;
    r->c_prev = c->c_slots + ((prev & mask) * B + b0) * H;
    r->c_cur = c->c_slots + ((cur & mask) * B + b0) * H;
    r->gates = c->gates_all + (t * B + b0) * 4 * H;
    if (c->h_in_y) {
        /* h_{t-1}: y's previous row, or h0's slot at the first step */
        r->h_prev = s ? c->y + ((c->reverse ? t + 1 : t - 1) * B + b0) * c->ldy
                      : c->h_slots + ((prev & 1) * B + b0) * R;
        r->ldh = s ? c->ldy : R;
        r->h_cur = r->m = c->y + (t * B + b0) * c->ldy;
        r->ldm = c->ldy;
    } else {
        r->h_prev = c->h_slots + ((prev & mask) * B + b0) * R;
        r->h_cur = c->h_slots + ((cur & mask) * B + b0) * R;
        r->ldh = R;
        /* Without projection o*tanh(c) is h itself, written straight to its slot. */
        r->m = p->P ? c->m_all + ((c->train ? t * B : 0) + b0) * H : r->h_cur;
        r->ldm = p->P ? H : R;
    }
}

/* Part `part` of the step c->at, for pylstm_pool_run (a job per step). */
static void FN(step_job_)(void *vctx, size_t part, size_t nparts) {
    const FN(step_ctx_) *c = (const FN(step_ctx_) *)vctx;
    FN(step_run_)(c, &c->at, part, nparts, c->gemm_work + part * c->p->gemm_stride);
}

/* Part `part` of step s, for pylstm_pool_run_steps (no projection: the step
 * ends with its parts). */
static void FN(step_part_)(void *vctx, size_t s, size_t part, size_t nparts) {
    const FN(step_ctx_) *c = (const FN(step_ctx_) *)vctx;
    FN(step_rows_) r;
    FN(step_at_)(c, s, 0, c->p->B, &r);
    FN(step_run_)(c, &r, part, nparts, c->gemm_work + part * c->p->gemm_stride);
}

/* With projection, after the gates of a step's rows r: h_t = m W_hr^T into
 * the state slot and y, or on padding rows h_{t-1} carried over and a zero
 * output row. */
static void FN(project_rows_)(const FN(step_ctx_) *c, const FN(step_rows_) *r,
                              unsigned char *work) {
    const pylstm_layer_plan *p = c->p;
    const size_t P = p->P, R = p->R, H = p->H, b0 = r->b0, B = r->nb;
    size_t b, j;
    GEMM_PACKED(0, B, P, H, r->m, H, c->pk_hr, 0, r->h_cur, R, work);
    for (b = 0; b < B; ++b) {
        REAL *yb = c->y + (r->t * p->B + b0 + b) * c->ldy, *hb = r->h_cur + b * R;
        if (FN(is_active_)(c->lengths, b0 + b, r->t)) {
            for (j = 0; j < R; ++j) yb[j] = hb[j];
        } else {
            const REAL *hp = r->h_prev + b * R;
            for (j = 0; j < R; ++j) {
                hb[j] = hp[j];
                yb[j] = 0;
            }
        }
    }
}

/* Part `part` of the forward split by rows of the batch, for
 * pylstm_pool_run_loops: all the steps of its rows, every unit, with the
 * whole of W_hh (and W_hr). A row's steps depend on no other row, so the
 * parts never meet. */
static void FN(rows_part_)(void *vctx, size_t part, size_t nparts) {
    const FN(step_ctx_) *c = (const FN(step_ctx_) *)vctx;
    unsigned char *work = c->gemm_work + part * c->p->gemm_stride;
    size_t b0, b1, s;
    pylstm_split(c->p->B, 1, part, nparts, &b0, &b1);
    for (s = 0; s < c->p->T; ++s) {
        FN(step_rows_) r;
        FN(step_at_)(c, s, b0, b1 - b0, &r);
        FN(step_run_)(c, &r, 0, 1, work);
        if (c->p->P) FN(project_rows_)(c, &r, work);
    }
}

void FN(pylstm_layer_run_)(const pylstm_layer_plan *p, const WEIGHTS *w,
                           const pylstm_layer_packed *pre, int reverse, const REAL *x,
                           size_t ldx, const REAL *h0, const REAL *c0, const int64_t *lengths,
                           REAL *y, size_t ldy, REAL *h_n, REAL *c_n, unsigned char *reserve,
                           unsigned char *work) {
    const size_t T = p->T, B = p->B, I = p->I, H = p->H, P = p->P, R = p->R, G4 = 4 * H;
    const int train = reserve != NULL;
    REAL *gates_all, *c_slots, *h_slots, *m_all, *bias;
    unsigned char *pk_hh, *pk_hr, *gemm_work, *tmp;
    const unsigned char *hh, *hr;
    FN(loop_split_) ls; /* how the step loop runs (FN(loop_split_for_)) */
    FN(step_ctx_) sc;
    size_t s, b, j;
    /* Slot index -> state buffer; inference folds T+1 slots onto two. */
    const size_t slot_mask = train ? ~(size_t)0 : 1;
    /* Inference without projection or lengths keeps h_t nowhere but in y's
     * row t: the gate loop writes it there, the next step's product reads it
     * from there (row stride ldy), and no copy is made. Otherwise h_t goes to
     * its slot and is copied to y (padding rows carry h over but output 0;
     * training keeps every h_{t-1} for backward). */
    const int h_in_y = !train && !P && !lengths && T > 0;

    if (train) {
        gates_all = (REAL *)(reserve + p->res_gates);
        c_slots = (REAL *)(reserve + p->res_c);
        h_slots = (REAL *)(reserve + p->res_h);
        m_all = P ? (REAL *)(reserve + p->res_m) : NULL;
        bias = (REAL *)(work + p->wt_bias);
        pk_hh = work + p->wt_pk_hh, pk_hr = work + p->wt_pk_hr, gemm_work = work + p->wt_gemm;
        tmp = work + p->wt_tmp;
    } else {
        gates_all = (REAL *)(work + p->wf_gates);
        c_slots = (REAL *)(work + p->wf_c);
        h_slots = (REAL *)(work + p->wf_h);
        m_all = P ? (REAL *)(work + p->wf_m) : NULL;
        bias = (REAL *)(work + p->wf_bias);
        pk_hh = work + p->wf_pk_hh, pk_hr = work + p->wf_pk_hr, gemm_work = work + p->wf_gemm;
        tmp = work + p->wf_tmp;
    }

    /* Input projection of every step at once; the biases are added step by
     * step in the gate loop, while each row is in L1. */
    if (pre)
        FN(pylstm_gemm_packed_par_)(p->nt, gemm_work, p->gemm_stride, T * B, G4, I, x, ldx,
                                    pre->ih, 0, gates_all, G4);
    else
        GEMM_PAR(p->nt, gemm_work, p->gemm_stride, 0, 1, T * B, G4, I, x, ldx, w->W_ih, I, 0,
                 gates_all, G4);
    if (w->b_ih || w->b_hh) FN(bias_sum_)(w, G4, bias);
    /* after the input projection, which may have woken the workers */
    ls = FN(loop_split_for_)(p, 0);
    /* The recurrent weights are packed once per call, not once per step,
     * unless prepared in the layout this call's split needs. */
    sc.pk_stride =
        ls.prod_parts == 1 ? 0 : pylstm_hh_pack_stride(sizeof(REAL), H, R, ls.prod_parts);
    if (pre && ls.prod_parts == 1) {
        hh = pre->hh_one;
    } else if (pre && pre->hh_many && ls.prod_parts == pre->nt) {
        hh = pre->hh_many;
    } else {
        FN(pylstm_layer_pack_hh_)(H, R, w->W_hh, ls.prod_parts, pk_hh);
        hh = pk_hh;
    }
    sc.tmp = (REAL *)tmp;
    hr = pre ? pre->hr : pk_hr;
    if (P && !pre) PACK_B(1, P, H, w->W_hr, H, pk_hr);

    {
        const size_t init = reverse ? T : 0;
        REAL *hi = h_slots + (init & slot_mask) * B * R, *ci = c_slots + (init & slot_mask) * B * H;
        for (j = 0; j < B * R; ++j) hi[j] = h0 ? h0[j] : 0;
        for (j = 0; j < B * H; ++j) ci[j] = c0 ? c0[j] : 0;
    }

    sc.p = p, sc.lengths = lengths, sc.y = y, sc.ldy = ldy, sc.pk_hh = hh, sc.pk_hr = hr;
    sc.bias = (w->b_ih || w->b_hh) ? bias : NULL;
    sc.gemm_work = gemm_work;
    sc.h_in_y = h_in_y;
    sc.reverse = reverse, sc.train = train, sc.slot_mask = slot_mask;
    sc.gates_all = gates_all, sc.c_slots = c_slots, sc.h_slots = h_slots, sc.m_all = m_all;
    if (ls.by_rows) {
        pylstm_pool_run_loops(FN(rows_part_), &sc, ls.parts, ls.wake);
    } else if (!P) {
        /* the threads stay in one job from step to step */
        pylstm_pool_run_steps(FN(step_part_), &sc, T, ls.parts, ls.wake, ls.kind);
    } else {
        /* a job per step, then h = W_hr m in this thread */
        for (s = 0; s < T; ++s) {
            FN(step_at_)(&sc, s, 0, B, &sc.at);
            pylstm_pool_run(FN(step_job_), &sc, ls.parts);
            FN(project_rows_)(&sc, &sc.at, gemm_work);
        }
    }

    {
        const size_t fin = reverse ? 0 : T;
        const REAL *cf = c_slots + (fin & slot_mask) * B * H;
        if (h_n && h_in_y) {
            const REAL *hf = y + (reverse ? 0 : T - 1) * B * ldy;
            for (b = 0; b < B; ++b)
                for (j = 0; j < R; ++j) h_n[b * R + j] = hf[b * ldy + j];
        } else if (h_n) {
            const REAL *hf = h_slots + (fin & slot_mask) * B * R;
            for (j = 0; j < B * R; ++j) h_n[j] = hf[j];
        }
        if (c_n)
            for (j = 0; j < B * H; ++j) c_n[j] = cf[j];
    }
}

/* ---- backward ---- */

/* Where one backward step (time t) reads and writes for batch rows b0 .. b0
 * + nb - 1 (FN(back_at_)): every pointer is at row b0. */
typedef struct {
    size_t t, b0, nb;
    const REAL *gates, *c_prev, *c_cur, *dm;
    REAL *dgates, *dh, *dh_prev, *dc; /* dh: dL/dh_t (dm without projection) */
} FN(back_rows_);

/* What every step of a backward shares, and (for a job per step) `at`, the
 * rows of the step being run. */
typedef struct {
    const pylstm_layer_plan *p;
    const int64_t *lengths;
    REAL *dc;
    REAL *db_rows; /* the bias gradient's running sums, one per batch row (B x 4H) */
    const unsigned char *pk_hhb, *pk_hrb;
    size_t pk_stride;
    unsigned char *gemm_work;
    int reverse;
    const REAL *dy; /* dL/dy (row stride lddy), NULL for none */
    size_t lddy;
    const REAL *gates_all, *c_slots;
    REAL *dgates_all, *dh_bufs; /* dL/dh of steps s and s + 1, alternately */
    REAL *dm_buf, *dh_all;      /* with projection: dm of a step, dh of every step */
    FN(back_rows_) at;
} FN(back_ctx_);

/* The rows b0 .. b0 + nb - 1 of backward step s (the s-th from the end of
 * the forward's travel). Without projection, dm is dh. */
static void FN(back_at_)(const FN(back_ctx_) *c, size_t s, size_t b0, size_t nb,
                         FN(back_rows_) *r) {
    const pylstm_layer_plan *p = c->p;
    const size_t T = p->T, B = p->B, H = p->H, R = p->R;
    const size_t t = c->reverse ? s : T - 1 - s;
    const size_t prev = c->reverse ? t + 1 : t, cur = c->reverse ? t : t + 1;
    r->t = t, r->b0 = b0, r->nb = nb;
    r->gates = c->gates_all + (t * B + b0) * 4 * H;
    r->c_prev = c->c_slots + (prev * B + b0) * H;
    r->c_cur = c->c_slots + (cur * B + b0) * H;
    r->dgates = c->dgates_all + (t * B + b0) * 4 * H;
    r->dh = c->dh_bufs + ((s & 1) * B + b0) * R;
    r->dh_prev = c->dh_bufs + (((s + 1) & 1) * B + b0) * R;
    r->dm = p->P ? c->dm_buf + b0 * H : r->dh;
    r->dc = c->dc + b0 * H;
}

/* Gate derivatives of one step for the hidden units of one part, and each
 * row of them added to its batch row's running sum of the bias gradient
 * while it is in L1. (A pass over all of dgates after the loop reads 13 MB
 * back from L3 for the medium case: 2.8% of the backward's samples at 2
 * threads, about what the split of the batch's rows saves there.) */
static void FN(back_gates_run_)(const FN(back_ctx_) *c, const FN(back_rows_) *r, size_t part,
                                size_t nparts) {
    const size_t B = r->nb, H = c->p->H;
    size_t j0, j1, b, k, j;
    pylstm_split(H, PYLSTM_SLICE_GRAIN, part, nparts, &j0, &j1);
    if (j0 >= j1) return;
    FN(pylstm_gates_bwd_)(B, H, j0, j1, r->t, c->lengths ? c->lengths + r->b0 : NULL, r->gates,
                          r->c_prev, r->c_cur, r->dm, r->dc, r->dgates);
    if (!c->db_rows) return;
    for (b = 0; b < B; ++b)
        for (k = 0; k < 4; ++k) {
            REAL *PYLSTM_RESTRICT db = c->db_rows + (r->b0 + b) * 4 * H + k * H;
            const REAL *PYLSTM_RESTRICT row = r->dgates + b * 4 * H + k * H;
            for (j = j0; j < j1; ++j) db[j] += row[j];
        }
}

static void FN(back_gates_job_)(void *vctx, size_t part, size_t nparts) {
    const FN(back_ctx_) *c = (const FN(back_ctx_) *)vctx;
    FN(back_gates_run_)(c, &c->at, part, nparts);
}

/* dh_{t-1} = dgates W_hh for the columns of h of part `part` of `nparts`,
 * with the product's scratch `work`. */
static void FN(back_dh_run_)(const FN(back_ctx_) *c, const FN(back_rows_) *r, size_t part,
                             size_t nparts, unsigned char *work) {
    const pylstm_layer_plan *p = c->p;
    size_t n0, n1;
    pylstm_split(p->R, PYLSTM_SLICE_GRAIN, part, nparts, &n0, &n1);
    if (n0 >= n1) return;
    if (nparts > 1 && r->nb == 1) {
        /* every part's dgates, asked for at once (as h_{t-1} in
         * step_run_; H = 64, T = 100 at 2 threads: best of 150 calls
         * 108-110 -> 106-107 us) */
        size_t j;
        for (j = 0; j < 4 * p->H; j += PYLSTM_ALIGN / sizeof(REAL))
            PYLSTM_PREFETCH(r->dgates + j);
    }
    /* A batch of one reads W_hh in alternating directions (gemm.h). */
    if (r->nb == 1)
        FN(pylstm_gemv_packed_)(n1 - n0, 4 * p->H, r->dgates, c->pk_hhb + part * c->pk_stride,
                                r->dh_prev + n0, (int)(r->t & 1));
    else
        GEMM_PACKED(0, r->nb, n1 - n0, 4 * p->H, r->dgates, 4 * p->H,
                    c->pk_hhb + part * c->pk_stride, 0, r->dh_prev + n0, p->R, work);
}

static void FN(back_dh_job_)(void *vctx, size_t part, size_t nparts) {
    const FN(back_ctx_) *c = (const FN(back_ctx_) *)vctx;
    FN(back_dh_run_)(c, &c->at, part, nparts, c->gemm_work + part * c->p->gemm_stride);
}

/* Columns [n0, n1) of dh_t pass on to dh_{t-1} unchanged in the rows whose
 * step t is padding. */
static void FN(back_pad_)(const FN(back_ctx_) *c, const FN(back_rows_) *r, size_t n0,
                          size_t n1) {
    const size_t R = c->p->R;
    size_t b, j;
    for (b = 0; b < r->nb; ++b) {
        if (FN(is_active_)(c->lengths, r->b0 + b, r->t)) continue;
        for (j = n0; j < n1; ++j) r->dh_prev[b * R + j] = r->dh[b * R + j];
    }
}

/* dh_t += dL/dy_t in columns [n0, n1), on real steps. */
static void FN(back_add_dy_)(const FN(back_ctx_) *c, const FN(back_rows_) *r, size_t n0,
                             size_t n1) {
    const size_t B = c->p->B, R = c->p->R;
    size_t b, j;
    for (b = 0; b < r->nb; ++b) {
        const REAL *dyb = c->dy + (r->t * B + r->b0 + b) * c->lddy;
        REAL *dhb = r->dh + b * R;
        if (!FN(is_active_)(c->lengths, r->b0 + b, r->t)) continue;
        for (j = n0; j < n1; ++j) dhb[j] += dyb[j];
    }
}

/* Part `part` of step k of the backward without projection, for
 * pylstm_pool_run_steps (T + 1 steps). Without projection a hidden unit's
 * column of h is its own, and the split of the columns of dh is that of the
 * units, so a part needs only its own columns of dL/dh_t for its units' gate
 * derivatives: it computes them (dh_{t-1} of backward step k - 1, from every
 * unit's dgates of that step, which the step boundary has made whole) and
 * goes on to step k's gates of its units. One boundary per step, as in the
 * forward. With a boundary between the two products as well, a batch of one
 * at H = 64, T = 100 took 218 us at 2 threads against 71 us at 1; with one,
 * 93-171 us; both with a gemv whose lone panel had one FMA chain per vector.
 * With two (gemm_kernel_impl.h), 66-79 us. */
static void FN(back_step_)(void *vctx, size_t k, size_t part, size_t nparts) {
    const FN(back_ctx_) *c = (const FN(back_ctx_) *)vctx;
    FN(back_rows_) r;
    size_t n0, n1;
    pylstm_split(c->p->H, PYLSTM_SLICE_GRAIN, part, nparts, &n0, &n1);
    if (k > 0) {
        FN(back_at_)(c, k - 1, 0, c->p->B, &r);
        FN(back_dh_run_)(c, &r, part, nparts, c->gemm_work + part * c->p->gemm_stride);
        if (c->lengths) FN(back_pad_)(c, &r, n0, n1);
    }
    if (k < c->p->T) {
        FN(back_at_)(c, k, 0, c->p->B, &r);
        if (c->dy) FN(back_add_dy_)(c, &r, n0, n1);
        FN(back_gates_run_)(c, &r, part, nparts);
    }
}

/* With projection (h = m W_hr^T), a step's rows r: their dL/dh kept for
 * dW_hr (zero on padding rows) and dm = dh W_hr. */
static void FN(back_project_rows_)(const FN(back_ctx_) *c, const FN(back_rows_) *r,
                                   unsigned char *work) {
    const size_t P = c->p->P, H = c->p->H;
    REAL *dha = c->dh_all + (r->t * c->p->B + r->b0) * P;
    size_t b, j;
    for (b = 0; b < r->nb; ++b) {
        const int act = FN(is_active_)(c->lengths, r->b0 + b, r->t);
        for (j = 0; j < P; ++j) dha[b * P + j] = act ? r->dh[b * P + j] : 0;
    }
    GEMM_PACKED(0, r->nb, H, P, r->dh, P, c->pk_hrb, 0, c->dm_buf + r->b0 * H, H, work);
}

/* Part `part` of the backward split by rows of the batch, for
 * pylstm_pool_run_loops: every step of its rows, every unit, with the whole
 * of W_hh (and W_hr), the parts never meeting (as the forward's
 * FN(rows_part_)). */
static void FN(back_rows_part_)(void *vctx, size_t part, size_t nparts) {
    const FN(back_ctx_) *c = (const FN(back_ctx_) *)vctx;
    unsigned char *work = c->gemm_work + part * c->p->gemm_stride;
    size_t b0, b1, s;
    pylstm_split(c->p->B, 1, part, nparts, &b0, &b1);
    for (s = 0; s < c->p->T; ++s) {
        FN(back_rows_) r;
        FN(back_at_)(c, s, b0, b1 - b0, &r);
        if (c->dy) FN(back_add_dy_)(c, &r, 0, c->p->R);
        if (c->p->P) FN(back_project_rows_)(c, &r, work);
        FN(back_gates_run_)(c, &r, 0, 1);
        FN(back_dh_run_)(c, &r, 0, 1, work);
        if (c->lengths) FN(back_pad_)(c, &r, 0, c->p->R);
    }
}

void FN(pylstm_layer_back_)(const pylstm_layer_plan *p, const WEIGHTS *w, int reverse,
                            const REAL *x, size_t ldx, const int64_t *lengths,
                            const unsigned char *reserve, const REAL *dy, size_t lddy,
                            const REAL *dh_n, const REAL *dc_n, REAL *dx, size_t lddx,
                            int accumulate_dx, REAL *dh0, REAL *dc0, const GRADS *g,
                            unsigned char *work) {
    const size_t T = p->T, B = p->B, I = p->I, H = p->H, P = p->P, R = p->R, G4 = 4 * H;
    const REAL *gates_all = (const REAL *)(reserve + p->res_gates);
    const REAL *c_slots = (const REAL *)(reserve + p->res_c);
    const REAL *h_slots = (const REAL *)(reserve + p->res_h);
    const REAL *m_all = P ? (const REAL *)(reserve + p->res_m) : NULL;
    REAL *dgates_all = (REAL *)(work + p->wb_dgates);
    REAL *dh = (REAL *)(work + p->wb_dh);
    REAL *dc = (REAL *)(work + p->wb_dc);
    REAL *dm_buf = P ? (REAL *)(work + p->wb_dm) : NULL;
    REAL *dh_all = P ? (REAL *)(work + p->wb_dhall) : NULL;
    unsigned char *pk_hhb = work + p->wb_pk_hh, *pk_hrb = work + p->wb_pk_hr;
    unsigned char *gemm_work = work + p->wb_gemm;
    /* The step loop splits as the forward's does (FN(loop_split_for_): its
     * product for dh has the size of the forward's recurrent product). Split
     * by units, with projection it runs a job per product, with the product
     * with W_hr between them in this thread; the gate derivatives' job, too,
     * stays in this thread when the loop does for the sleeping workers. */
    const FN(loop_split_) ls = FN(loop_split_for_)(p, 1);
    const size_t dh_parts = ls.prod_parts;
    const size_t gate_parts =
        P && !ls.asleep ? FN(parts_for_)(p, (double)B, (double)G4, 8.0, PYLSTM_PAR_MIN_STEP)
                        : 1;
    FN(back_ctx_) bc;
    size_t s, b, j;

    bc.pk_stride = pylstm_slice_stride(sizeof(REAL), R, G4, dh_parts);
    {
        FN(pack_ctx_) pc;
        pc.H = H, pc.R = R, pc.stride = bc.pk_stride, pc.W = w->W_hh, pc.pk = pk_hhb;
        pylstm_pool_run(FN(pack_hhb_job_), &pc, dh_parts);
    }
    if (P) PACK_B(0, H, P, w->W_hr, H, pk_hrb);

    for (j = 0; j < B * R; ++j) dh[j] = dh_n ? dh_n[j] : 0;
    for (j = 0; j < B * H; ++j) dc[j] = dc_n ? dc_n[j] : 0;

    bc.p = p, bc.lengths = lengths, bc.dc = dc, bc.gemm_work = gemm_work;
    bc.pk_hhb = pk_hhb, bc.pk_hrb = pk_hrb;
    bc.reverse = reverse, bc.dy = dy, bc.lddy = lddy;
    bc.gates_all = gates_all, bc.c_slots = c_slots, bc.dgates_all = dgates_all, bc.dh_bufs = dh;
    bc.dm_buf = dm_buf, bc.dh_all = dh_all;
    /* db_ih = db_hh = the sum of dgates over every step and row: each batch
     * row's over the steps, in the loop, then those over the rows, in order.
     * Each sum's order is that of the steps and the rows, whatever the split
     * (of the units or of the rows), and it adds T and then B terms instead
     * of T B in one sum. */
    bc.db_rows = g && (g->b_ih || g->b_hh) ? (REAL *)(work + p->wb_dbias) : NULL;
    if (bc.db_rows)
        for (j = 0; j < B * G4; ++j) bc.db_rows[j] = 0;
    if (ls.by_rows) {
        pylstm_pool_run_loops(FN(back_rows_part_), &bc, ls.parts, ls.wake);
    } else if (!P) {
        pylstm_pool_run_steps(FN(back_step_), &bc, T + 1, dh_parts, ls.wake, ls.kind);
    } else {
        /* Steps in the opposite order of the forward pass. */
        for (s = 0; s < T; ++s) {
            FN(back_rows_) *r = &bc.at;
            FN(back_at_)(&bc, s, 0, B, r);
            if (dy) FN(back_add_dy_)(&bc, r, 0, R);
            /* h = m W_hr^T: dm = dh W_hr; dW_hr gets dh^T m after the loop. */
            FN(back_project_rows_)(&bc, r, gemm_work);
            pylstm_pool_run(FN(back_gates_job_), &bc, gate_parts);
            pylstm_pool_run(FN(back_dh_job_), &bc, dh_parts);
            FN(back_pad_)(&bc, r, 0, R);
        }
    }
    /* dL/dh_0 is where step T would read it */
    dh += (T & 1) * B * R;

    if (dh0)
        for (j = 0; j < B * R; ++j) dh0[j] = dh[j];
    if (dc0)
        for (j = 0; j < B * H; ++j) dc0[j] = dc[j];

    if (dx)
        GEMM_PAR(p->nt, gemm_work, p->gemm_stride, 0, 0, T * B, I, G4, dgates_all, G4, w->W_ih,
                 I, accumulate_dx, dx, lddx);
    if (g) {
        const REAL *h_prev_all = h_slots + (reverse ? B * R : 0);
        /* dW_ih += dgates^T x and dW_hh += dgates^T h_prev share dgates^T */
        if (g->W_ih && g->W_hh)
            FN(pylstm_gemm_tn_pair_par_)(p->nt, gemm_work, p->gemm_stride, G4, T * B, dgates_all,
                                         G4, I, x, ldx, g->W_ih, I, R, h_prev_all, R, g->W_hh,
                                         R, 1);
        else if (g->W_ih)
            GEMM_PAR(p->nt, gemm_work, p->gemm_stride, 1, 0, G4, I, T * B, dgates_all, G4, x, ldx,
                     1, g->W_ih, I);
        else if (g->W_hh)
            GEMM_PAR(p->nt, gemm_work, p->gemm_stride, 1, 0, G4, R, T * B, dgates_all, G4,
                     h_prev_all, R, 1, g->W_hh, R);
        if (P && g->W_hr)
            GEMM_PAR(p->nt, gemm_work, p->gemm_stride, 1, 0, P, H, T * B, dh_all, P, m_all, H, 1,
                     g->W_hr, H);
        if (bc.db_rows) {
            REAL *PYLSTM_RESTRICT db = bc.db_rows; /* row 0 becomes the sum */
            for (b = 1; b < B; ++b) {
                const REAL *PYLSTM_RESTRICT row = bc.db_rows + b * G4;
                for (j = 0; j < G4; ++j) db[j] += row[j];
            }
            for (j = 0; j < G4; ++j) {
                if (g->b_ih) g->b_ih[j] += db[j];
                if (g->b_hh) g->b_hh[j] += db[j];
            }
        }
    }
    if (T > 1) pylstm_pool_note_end();
}

/* ---- public entry points: check everything, then run ---- */

static pylstm_status FN(layer_prepare_)(const pylstm_layer_desc *desc, const WEIGHTS *w,
                                        size_t T, size_t B, int purpose, size_t work_size,
                                        pylstm_layer_plan *plan) {
    pylstm_status st;
    if (!desc || !w) return PYLSTM_ERR_NULL_POINTER;
    st = pylstm_layer_check_desc(desc, T, B, w->W_ih, w->W_hh, w->W_hr);
    if (st != PYLSTM_OK) return st;
    return pylstm_layer_plan_fit(T, B, desc->input_size, desc->hidden_size, desc->proj_size,
                                 sizeof(REAL), purpose, work_size, plan);
}

pylstm_status FN(pylstm_layer_sizes_)(const pylstm_layer_desc *desc, size_t T, size_t B,
                                      pylstm_sizes *out) {
    pylstm_layer_plan plan;
    pylstm_status st;
    if (!desc || !out) return PYLSTM_ERR_NULL_POINTER;
    st = pylstm_layer_check_desc(desc, T, B, (const void *)desc, (const void *)desc,
                                 desc->proj_size ? (const void *)desc : NULL);
    if (st != PYLSTM_OK) return st;
    st = pylstm_layer_plan_fit(T, B, desc->input_size, desc->hidden_size, desc->proj_size,
                               sizeof(REAL), PYLSTM_PLAN_QUERY, 0, &plan);
    if (st != PYLSTM_OK) return st;
    out->work_forward = plan.wf_total;
    out->work_train = plan.wt_total;
    out->reserve = plan.res_total;
    out->work_backward = plan.wb_total;
    return PYLSTM_OK;
}

static pylstm_status FN(layer_forward_common_)(const pylstm_layer_desc *desc, const WEIGHTS *w,
                                               size_t T, size_t B, int reverse, const REAL *x,
                                               size_t ldx, const REAL *h0, const REAL *c0,
                                               const int64_t *lengths, REAL *y, size_t ldy,
                                               REAL *h_n, REAL *c_n, void *reserve,
                                               size_t reserve_size, void *work,
                                               size_t work_size, int train) {
    pylstm_layer_plan plan;
    pylstm_status st = FN(layer_prepare_)(desc, w, T, B,
                                          train ? PYLSTM_PLAN_TRAIN : PYLSTM_PLAN_FORWARD,
                                          work_size, &plan);
    if (st != PYLSTM_OK) return st;
    if (!x || !y || !work) return PYLSTM_ERR_NULL_POINTER;
    if (train && !reserve) return PYLSTM_ERR_NULL_POINTER;
    if (reverse != 0 && reverse != 1) return PYLSTM_ERR_BAD_ARGUMENT;
    if (!pylstm_rows_ok(T * B, ldx, plan.I) || !pylstm_rows_ok(T * B, ldy, plan.R))
        return PYLSTM_ERR_BAD_SIZE;
    st = pylstm_check_lengths(lengths, T, B);
    if (st != PYLSTM_OK) return st;
    if (work_size < (train ? plan.wt_total : plan.wf_total)) return PYLSTM_ERR_WORK_TOO_SMALL;
    if (train && reserve_size < plan.res_total) return PYLSTM_ERR_RESERVE_TOO_SMALL;
    FN(pylstm_layer_run_)(&plan, w, NULL, reverse, x, ldx, h0, c0, lengths, y, ldy, h_n, c_n,
                          train ? (unsigned char *)pylstm_align_ptr(reserve) : NULL,
                          (unsigned char *)pylstm_align_ptr(work));
    return PYLSTM_OK;
}

pylstm_status FN(pylstm_layer_forward_)(const pylstm_layer_desc *desc, const WEIGHTS *w,
                                        size_t T, size_t B, int reverse, const REAL *x,
                                        size_t ldx, const REAL *h0, const REAL *c0,
                                        const int64_t *lengths, REAL *y, size_t ldy, REAL *h_n,
                                        REAL *c_n, void *work, size_t work_size) {
    return FN(layer_forward_common_)(desc, w, T, B, reverse, x, ldx, h0, c0, lengths, y, ldy,
                                     h_n, c_n, NULL, 0, work, work_size, 0);
}

pylstm_status FN(pylstm_layer_forward_train_)(const pylstm_layer_desc *desc, const WEIGHTS *w,
                                              size_t T, size_t B, int reverse, const REAL *x,
                                              size_t ldx, const REAL *h0, const REAL *c0,
                                              const int64_t *lengths, REAL *y, size_t ldy,
                                              REAL *h_n, REAL *c_n, void *reserve,
                                              size_t reserve_size, void *work,
                                              size_t work_size) {
    return FN(layer_forward_common_)(desc, w, T, B, reverse, x, ldx, h0, c0, lengths, y, ldy,
                                     h_n, c_n, reserve, reserve_size, work, work_size, 1);
}

pylstm_status FN(pylstm_layer_backward_)(const pylstm_layer_desc *desc, const WEIGHTS *w,
                                         size_t T, size_t B, int reverse, const REAL *x,
                                         size_t ldx, const int64_t *lengths, const void *reserve,
                                         size_t reserve_size, const REAL *dy, size_t lddy,
                                         const REAL *dh_n, const REAL *dc_n, REAL *dx,
                                         size_t lddx, REAL *dh0, REAL *dc0, const GRADS *g,
                                         void *work, size_t work_size) {
    pylstm_layer_plan plan;
    pylstm_status st = FN(layer_prepare_)(desc, w, T, B, PYLSTM_PLAN_BACKWARD, work_size, &plan);
    if (st != PYLSTM_OK) return st;
    if (!x || !reserve || !work) return PYLSTM_ERR_NULL_POINTER;
    if (reverse != 0 && reverse != 1) return PYLSTM_ERR_BAD_ARGUMENT;
    if (!pylstm_rows_ok(T * B, ldx, plan.I) || (dy && !pylstm_rows_ok(T * B, lddy, plan.R)) ||
        (dx && !pylstm_rows_ok(T * B, lddx, plan.I)))
        return PYLSTM_ERR_BAD_SIZE;
    st = pylstm_check_lengths(lengths, T, B);
    if (st != PYLSTM_OK) return st;
    if (reserve_size < plan.res_total) return PYLSTM_ERR_RESERVE_TOO_SMALL;
    if (work_size < plan.wb_total) return PYLSTM_ERR_WORK_TOO_SMALL;
    FN(pylstm_layer_back_)(&plan, w, reverse, x, ldx, lengths,
                           (const unsigned char *)pylstm_align_ptr((void *)(uintptr_t)reserve),
                           dy, lddy, dh_n, dc_n, dx, lddx, 0, dh0, dc0, g,
                           (unsigned char *)pylstm_align_ptr(work));
    return PYLSTM_OK;
}

#undef FN
#undef WEIGHTS
#undef GRADS
#undef GEMM
#undef GEMM_PACKED
#undef PACK_B
#undef GEMM_PAR
#undef PYLSTM_CAT
#undef PYLSTM_CAT_
