/* The streaming step: one time step of a unidirectional stacked model from
 * weights packed once (pylstm_stream_* in pylstm.h). This file holds the
 * buffer plans, the packed buffer's header and its checks; stream_impl.h the
 * float32 / float64 bodies.
 *
 * Why a separate path: pylstm_model_forward with T = 1 packs W_hh^T (and
 * W_hr^T) and reads W_ih^T unpacked on every call. At B = 1, H = I = 64 that
 * packing is most of the call (gemm.h: ~5 us unpacked against ~0.4 us packed
 * for a 1 x 256 x 64 product), so here every weight goes through the packed-B
 * API once, at pack time, and a step only multiplies and applies the gates.
 *
 * Packed buffer, from its first PYLSTM_ALIGN-aligned byte (the bytes before it
 * are zeroed, so a copy moved to another alignment does not find a header):
 *
 *   stream header (STREAM_HEADER_BYTES): magic, format version, the distance
 *       from the caller's pointer, and the layout: element size, I, H, P,
 *       num_layers, the offsets below, total bytes
 *   layer 0, then layers 1 .. L-1 (each the same size, input R instead of I):
 *       layer record (STREAM_RECORD_BYTES): whether the layer has a bias
 *       W_ih^T packed (K = input size, N = 4H)
 *       W_hh^T packed (K = R, N = 4H)
 *       W_hr^T packed (K = H, N = P), P > 0 only
 *       bias b_ih + b_hh (4H)
 *
 * each part starting on a PYLSTM_ALIGN boundary, as the packed-B API needs.
 * Every packed blob records the kernel that packed it (gemm.h), so a buffer
 * stays valid when the kernel choice changes later.
 *
 * Work: gates (B, 4H), the recurrent product (B, 4H), m = o*tanh(c) (B, H)
 * when P > 0, one GEMM workspace, and one byte that a step with B = 1 leaves
 * for the next: the direction in which it read the weights (stream_impl.h). */
#include <string.h>

#include "act.h"
#include "gemm.h"

#define STREAM_MAGIC 0x4d525453u /* "STRM" */
#define STREAM_VERSION 1u
#define STREAM_HEADER_BYTES 256
#define STREAM_RECORD_BYTES PYLSTM_ALIGN

/* Byte offsets inside one layer's block, from its start. */
typedef struct {
    size_t ih, hh, hr, bias, bytes;
} stream_layer_plan;

/* Everything about a packed buffer that depends on desc and the element type
 * only; recorded in the header, so a step reads it instead of recomputing it
 * (the packed-size queries are a noticeable part of a 1 us step). */
typedef struct {
    size_t I, H, P, R, L, G4, esize;
    stream_layer_plan first, upper; /* layer 0 (input I), layers >= 1 (input R) */
    size_t packed_total;            /* with PYLSTM_ALIGN slack */
    size_t gemm_bytes;              /* pylstm_gemm_work_size() rounded up */
} stream_layout;

typedef struct {
    stream_layout lay;
    size_t w_gates, w_tmp, w_m, w_gemm, w_hint, work_total; /* work, for a given B */
} stream_plan;

typedef struct {
    uint32_t magic, version;
    size_t lead; /* bytes from the caller's pointer to this header (< PYLSTM_ALIGN) */
    stream_layout lay;
} stream_header;
typedef char stream_header_fits[sizeof(stream_header) <= STREAM_HEADER_BYTES ? 1 : -1];

typedef struct {
    uint32_t has_bias; /* 0: neither b_ih nor b_hh given (nothing is added, as in layer.c) */
} stream_record;
typedef char stream_record_fits[sizeof(stream_record) <= STREAM_RECORD_BYTES ? 1 : -1];

static int layer_plan(size_t esize, size_t in, size_t H, size_t P, size_t R, size_t G4,
                      stream_layer_plan *lp) {
    const size_t ih = pylstm_gemm_packed_b_bytes(esize, G4, in);
    const size_t hh = pylstm_gemm_packed_b_bytes(esize, G4, R);
    const size_t hr = P ? pylstm_gemm_packed_b_bytes(esize, P, H) : 0;
    pylstm_carver cv;
    /* 0 from a size query is an overflow */
    cv.off = STREAM_RECORD_BYTES, cv.ok = ih && hh && (!P || hr);
    lp->ih = pylstm_carve(&cv, ih, 1);
    lp->hh = pylstm_carve(&cv, hh, 1);
    lp->hr = pylstm_carve(&cv, hr, 1);
    lp->bias = pylstm_carve(&cv, G4, esize);
    lp->bytes = cv.off;
    return cv.ok;
}

/* The sizes every stream function checks first. Returns PYLSTM_ERR_BAD_SIZE,
 * PYLSTM_ERR_BAD_ARGUMENT (bidirectional) or PYLSTM_OK. */
static pylstm_status check_desc(const pylstm_model_desc *d) {
    if (d->input_size < 1 || d->hidden_size < 1 || d->num_layers < 1 ||
        d->proj_size >= d->hidden_size)
        return PYLSTM_ERR_BAD_SIZE;
    /* The reverse direction of step t needs steps t+1 .. T-1 first. */
    if (d->bidirectional != 0) return PYLSTM_ERR_BAD_ARGUMENT;
    return PYLSTM_OK;
}

/* The packed layout of a checked desc; PYLSTM_ERR_OVERFLOW if it does not fit. */
static pylstm_status plan_layout(const pylstm_model_desc *d, size_t esize, stream_layout *p) {
    size_t rest;
    memset(p, 0, sizeof *p); /* it is copied into the header whole, padding included */
    p->I = d->input_size, p->H = d->hidden_size, p->P = d->proj_size, p->L = d->num_layers;
    p->R = p->P ? p->P : p->H;
    p->esize = esize;
    if (!pylstm_mul_ok(p->H, 4, &p->G4) ||
        !layer_plan(esize, p->I, p->H, p->P, p->R, p->G4, &p->first) ||
        !layer_plan(esize, p->R, p->H, p->P, p->R, p->G4, &p->upper) ||
        !pylstm_mul_ok(p->L - 1, p->upper.bytes, &rest) ||
        !pylstm_add_ok(rest, p->first.bytes, &rest) ||
        !pylstm_add_ok(rest, STREAM_HEADER_BYTES + PYLSTM_ALIGN, &p->packed_total) ||
        !pylstm_round_up_ok(pylstm_gemm_work_size(), &p->gemm_bytes))
        return PYLSTM_ERR_OVERFLOW;
    return PYLSTM_OK;
}

/* The work layout for batch B (p->lay set). */
static pylstm_status plan_work(size_t B, stream_plan *p) {
    const stream_layout *y = &p->lay;
    size_t n = 0, state;
    pylstm_carver cv;
    /* The caller's h and c hold L*B*R and L*B*H elements: addressable. */
    cv.off = 0;
    cv.ok = pylstm_mul_ok(B, y->H, &state) && pylstm_mul_ok(state, y->L, &state) &&
            pylstm_mul_ok(state, y->esize, &state) && pylstm_mul_ok(B, y->G4, &n);
    p->w_gates = pylstm_carve(&cv, n, y->esize);
    p->w_tmp = pylstm_carve(&cv, n, y->esize); /* h W_hh^T, (B, 4H) like gates */
    p->w_m = pylstm_carve(&cv, y->P ? B * y->H : 0, y->esize); /* B * H checked above */
    p->w_gemm = pylstm_carve(&cv, y->gemm_bytes, 1);
    p->w_hint = pylstm_carve(&cv, 1, 1); /* stream_impl.h: the direction of the last step */
    p->work_total = pylstm_carve_total(&cv);
    return cv.ok ? PYLSTM_OK : PYLSTM_ERR_OVERFLOW;
}

/* Offset of layer l's block from the aligned start of the packed buffer. */
static size_t layer_offset(const stream_layout *p, size_t l) {
    return STREAM_HEADER_BYTES + (l ? p->first.bytes + (l - 1) * p->upper.bytes : 0);
}

static pylstm_status stream_sizes(const pylstm_model_desc *desc, size_t esize, size_t B,
                                  size_t *packed_bytes, size_t *work_bytes) {
    stream_plan p;
    pylstm_status st;
    if (!desc || !packed_bytes || !work_bytes) return PYLSTM_ERR_NULL_POINTER;
    if ((st = check_desc(desc)) != PYLSTM_OK) return st;
    if (B < 1) return PYLSTM_ERR_BAD_SIZE;
    if ((st = plan_layout(desc, esize, &p.lay)) != PYLSTM_OK) return st;
    if ((st = plan_work(B, &p)) != PYLSTM_OK) return st;
    *packed_bytes = p.lay.packed_total;
    *work_bytes = p.work_total;
    return PYLSTM_OK;
}

/* Checks of a pack call that do not depend on the element type or weights. */
static pylstm_status pack_check(const pylstm_model_desc *desc, size_t esize, size_t packed_size,
                                stream_layout *p) {
    pylstm_status st;
    if ((st = check_desc(desc)) != PYLSTM_OK) return st;
    if ((st = plan_layout(desc, esize, p)) != PYLSTM_OK) return st;
    return packed_size < p->packed_total ? PYLSTM_ERR_BUFFER_TOO_SMALL : PYLSTM_OK;
}

/* Writes the header at the aligned start of packed (zeroing the bytes before
 * it) and returns that start. */
static unsigned char *pack_header(const stream_layout *p, void *packed) {
    unsigned char *s = (unsigned char *)pylstm_align_ptr(packed);
    stream_header hd;
    memset(&hd, 0, sizeof hd);
    hd.magic = STREAM_MAGIC, hd.version = STREAM_VERSION;
    hd.lead = (size_t)(s - (unsigned char *)packed);
    hd.lay = *p;
    memset(packed, 0, hd.lead);
    memset(s, 0, STREAM_HEADER_BYTES);
    memcpy(s, &hd, sizeof hd);
    return s;
}

static void pack_record(unsigned char *block, int has_bias) {
    stream_record r;
    memset(block, 0, STREAM_RECORD_BYTES);
    r.has_bias = (uint32_t)(has_bias != 0);
    memcpy(block, &r, sizeof r);
}

static int record_has_bias(const unsigned char *block) {
    stream_record r;
    memcpy(&r, block, sizeof r);
    return r.has_bias != 0;
}

/* Checks of a step call that do not depend on the element type; on success p
 * is the plan for B and *start the aligned packed buffer. The layout comes
 * from the header once the header is found to be pack's for this desc and
 * element size (a buffer that passes these checks and was not written by
 * pack is as much beyond checking as one whose weights were overwritten). */
static pylstm_status step_begin(const pylstm_model_desc *desc, size_t esize, const void *packed,
                                size_t packed_size, size_t B, size_t work_size, stream_plan *p,
                                const unsigned char **start) {
    const unsigned char *s;
    stream_header hd;
    pylstm_status st;
    if ((st = check_desc(desc)) != PYLSTM_OK) return st;
    if (B < 1) return PYLSTM_ERR_BAD_SIZE;
    /* Every packed buffer is larger than this, so the header can be read. */
    if (packed_size < STREAM_HEADER_BYTES + PYLSTM_ALIGN) return PYLSTM_ERR_BUFFER_TOO_SMALL;
    s = (const unsigned char *)pylstm_align_ptr((void *)(uintptr_t)packed);
    memcpy(&hd, s, sizeof hd);
    if (hd.magic != STREAM_MAGIC || hd.version != STREAM_VERSION ||
        hd.lead != (size_t)(s - (const unsigned char *)packed) || hd.lay.esize != esize ||
        hd.lay.I != desc->input_size || hd.lay.H != desc->hidden_size ||
        hd.lay.P != desc->proj_size || hd.lay.L != desc->num_layers)
        return PYLSTM_ERR_BAD_ARGUMENT;
    if (packed_size < hd.lay.packed_total) return PYLSTM_ERR_BUFFER_TOO_SMALL;
    p->lay = hd.lay;
    if ((st = plan_work(B, p)) != PYLSTM_OK) return st;
    if (work_size < p->work_total) return PYLSTM_ERR_WORK_TOO_SMALL;
    *start = s;
    return PYLSTM_OK;
}

pylstm_status pylstm_stream_sizes_f32(const pylstm_model_desc *desc, size_t B,
                                      size_t *packed_bytes, size_t *work_bytes) {
    return stream_sizes(desc, sizeof(float), B, packed_bytes, work_bytes);
}

pylstm_status pylstm_stream_sizes_f64(const pylstm_model_desc *desc, size_t B,
                                      size_t *packed_bytes, size_t *work_bytes) {
    return stream_sizes(desc, sizeof(double), B, packed_bytes, work_bytes);
}

#define REAL float
#define SUFFIX f32
#include "stream_impl.h"
#undef REAL
#undef SUFFIX

#define REAL double
#define SUFFIX f64
#include "stream_impl.h"
#undef REAL
#undef SUFFIX
