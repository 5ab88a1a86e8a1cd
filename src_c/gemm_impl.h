/* Generic body of the blocked product and the packed-B API (contracts in
 * gemm.h); included by gemm.c once per type with REAL and SUFFIX defined.
 *
 * The loops are BLIS's (Van Zee & van de Geijn, "BLIS: A Framework for Rapidly
 * Instantiating BLAS Functionality", TOMS 2015):
 *
 *   for jc in N by NC            B block columns (packed block sized for L3)
 *     for pc in K by KC          depth; pack KC x NC of op(B) into NR panels
 *       for ic in M by MC        pack MC x KC of op(A) into MR panels (L2)
 *         for jr in NC by NR     one KC x NR panel of B (L1, or L1+L2 when deep)
 *           for ir in MC by MR   micro-kernel: MR x NR tile of C in registers
 *
 * Products split between threads: at the end of this file.
 *
 * Shortcuts for small M (the LSTM's per-step products, M = batch): when the
 * operand already has the micro-panel layout it is not packed at all
 * (op(A) = A^T with M <= MR, or M = 1: the k stride is lda or 1; a row-major B
 * when M <= 32, so that B's panels would be used only a few times). */

#define PYLSTM_CAT_(a, b) a##b
#define PYLSTM_CAT(a, b) PYLSTM_CAT_(a, b)
#define FN(name) PYLSTM_CAT(name, SUFFIX)
#define BLK PYLSTM_CAT(PYLSTM_CAT(pylstm_gemm_blocking_, SUFFIX), _t)
#define KBLK(kern) (&(kern)->SUFFIX)

/* The blocks of kernel `kern` on this CPU. The kernel table (gemm_<isa>.c)
 * holds the sizes tuned per ISA, which are also the largest (so the workspace
 * size stays one constant); they shrink to the caches read at run time
 * (cpu.h), never grow: KC when the KC x NR panel of B would exceed twice the
 * L1 data cache (the tuned panels already exceed L1 on purpose, streamed from
 * L2, see gemm_avx512.c), MC when the MC x KC block of A would take more than
 * half of L2, NC when the KC x NC block of B more than half of L3. On the
 * machines the tables were tuned on (Zen 3, 4, 5) nothing shrinks; on a
 * 256 KiB-L2 core (Intel client) the AVX2 MC drops from 96 to 60. An unknown
 * size (0) keeps the tuned value. */
static void FN(blocking_)(const pylstm_gemm_kernel_t *kern, BLK *bk) {
    const size_t es = sizeof(REAL), l1 = pylstm_cpu_cache_size(1);
    const size_t l2 = pylstm_cpu_cache_size(2), l3 = pylstm_cpu_cache_size(3);
    *bk = *KBLK(kern);
    if (l1 && bk->kc * bk->nr * es > 2 * l1) {
        const size_t kc = 2 * l1 / (bk->nr * es) / 16 * 16;
        bk->kc = kc > 64 ? kc : 64;
    }
    if (l2 && bk->mc * bk->kc * es > l2 / 2) {
        const size_t mc = l2 / 2 / (bk->kc * es) / bk->mr * bk->mr;
        /* at least two tiles, so that rows_ can end a block one tile early */
        bk->mc = mc > 2 * bk->mr ? mc : 2 * bk->mr;
    }
    if (!bk->mc_deep || bk->mc_deep > bk->mc) bk->mc_deep = bk->mc;
    if (l3 && bk->kc * bk->nc * es > l3 / 2) {
        const size_t nc = l3 / 2 / (bk->kc * es) / bk->nr * bk->nr;
        bk->nc = nc > bk->nr ? nc : bk->nr;
    }
}

/* dst[k*dld + i] = src[i*ld + k] for i < m, k < kc: a transposing copy (see
 * tr4 in gemm.c), by 4 x 4 blocks (then one of 2 x 4) where the platform has
 * them. */
static void FN(transpose_)(size_t m, size_t kc, const REAL *src, size_t ld, REAL *dst,
                           size_t dld) {
    size_t i = 0, k;
#ifdef PYLSTM_HAVE_TR4
    for (; i + 4 <= m; i += 4) {
        for (k = 0; k + 4 <= kc; k += 4) FN(tr4_)(src + i * ld + k, ld, dst + k * dld + i, dld);
        for (; k < kc; ++k) {
            dst[k * dld + i] = src[i * ld + k];
            dst[k * dld + i + 1] = src[(i + 1) * ld + k];
            dst[k * dld + i + 2] = src[(i + 2) * ld + k];
            dst[k * dld + i + 3] = src[(i + 3) * ld + k];
        }
    }
    if (i + 2 <= m) {
        for (k = 0; k + 4 <= kc; k += 4) FN(tr2_)(src + i * ld + k, ld, dst + k * dld + i, dld);
        for (; k < kc; ++k) {
            dst[k * dld + i] = src[i * ld + k];
            dst[k * dld + i + 1] = src[(i + 1) * ld + k];
        }
        i += 2;
    }
#endif
    for (; i < m; ++i)
        for (k = 0; k < kc; ++k) dst[k * dld + i] = src[i * ld + k];
}

/* d[0, m) = s[0, m), with the kernels' panel widths as constants: straight
 * vector moves instead of a loop and its remainder for each short run (the
 * weight gradients' 1024 x 256 x 3200 product, whose A is packed by such
 * runs of 12: 99.5 -> 102 GFLOP/s with AVX-512 on Zen 4). restrict: no
 * check for overlap either. Written out, not as loops of constant length:
 * gcc at -O2 (CMake's RelWithDebInfo, or a parent project's flags) turned
 * each such loop into a call to memcpy, and with AVX2 (runs of 6) that
 * product then ran at 0.94 of OpenBLAS in three runs, 0.97-1.00 written out
 * (as at -O3). */
static void FN(copy_run_)(REAL *PYLSTM_RESTRICT d, const REAL *PYLSTM_RESTRICT s, size_t m) {
    size_t j;
#define COPY4_(o) \
    (d[(o)] = s[(o)], d[(o) + 1] = s[(o) + 1], d[(o) + 2] = s[(o) + 2], d[(o) + 3] = s[(o) + 3])
    switch (m) {
    case 4: COPY4_(0); break;
    case 6: COPY4_(0), d[4] = s[4], d[5] = s[5]; break;
    case 8: COPY4_(0), COPY4_(4); break;
    case 12: COPY4_(0), COPY4_(4), COPY4_(8); break;
    case 16: COPY4_(0), COPY4_(4), COPY4_(8), COPY4_(12); break;
    case 32:
        COPY4_(0), COPY4_(4), COPY4_(8), COPY4_(12);
        COPY4_(16), COPY4_(20), COPY4_(24), COPY4_(28);
        break;
    default: for (j = 0; j < m; ++j) d[j] = s[j];
    }
#undef COPY4_
}

/* Packs the kc x n matrix src (row-major, ld) into panels of w columns:
 * panel q at dst + q*kc (q a multiple of w), element (k, j) at [k*w + j].
 * By blocks of COPY_ROWS rows, each block once for all panels: a panel at a
 * time over all kc rows would walk rows ld apart per panel (a TLB miss per
 * row when ld is a page), and a row at a time for all panels scattered each
 * row's stores over every panel (the packing of the weight gradients' A,
 * n = 192 rows of dgates^T, ran at about 4.5 GB/s). A block's rows stay in
 * L1 while its panels are written, each a contiguous run. */
#define COPY_ROWS 16
static void FN(copy_panels_)(size_t kc, size_t n, const REAL *src, size_t ld, size_t w,
                             REAL *dst) {
    size_t k0, k, q;
    const size_t line = PYLSTM_ALIGN / sizeof(REAL);
    /* Runs shorter than a line (A^T packed in tiles of 6 or 12 rows) from
     * rows less than half a page apart: the next block's rows are asked for,
     * a line each time the runs reach one. There the hardware prefetchers
     * fell behind: dW = dG^T X with 4H = 320 (rows 1280 bytes apart), N = I
     * = 40, K = 6400, spent a third of its time here with AVX2 on Zen 4, at
     * 0.73-0.79 of OpenBLAS's speed (now 0.85-0.88), and 4H = 256, I = 32
     * went from 0.76-0.84 to 0.80-0.97. Rows half a page apart (H = 128)
     * gained 4% with AVX2 and lost 5% with AVX-512; rows a page apart or
     * more (H >= 256) were no faster. */
    const int ahead = w < line && ld * sizeof(REAL) < 2048;
    for (k0 = 0; k0 < kc; k0 += COPY_ROWS) {
        const size_t k1 = kc - k0 < COPY_ROWS ? kc : k0 + COPY_ROWS;
        const size_t kp = !ahead ? k1 : kc - k1 < COPY_ROWS ? kc : k1 + COPY_ROWS;
        for (q = 0; q < n; q += w) {
            const size_t m = n - q < w ? n - q : w;
            for (k = k0; k < k1; ++k) FN(copy_run_)(dst + q * kc + k * w, src + k * ld + q, m);
            if (kp > k1 && (q == 0 || (q + m - 1) / line != (q - 1) / line))
                for (k = k1; k < kp; ++k) PYLSTM_PREFETCH(src + k * ld + q + m - 1);
        }
    }
}
#undef COPY_ROWS

/* The height of the row tile that starts at row ir of mc: mr, or the rows
 * left when fewer. A last tile of one or two rows would take the kernels'
 * short-tile path (depth split four ways, one load per FMA), which is slower:
 * with AVX2 (mr = 6) a 32 x 1024 x 256 product ran at 103 GFLOP/s against
 * 108-110 for 24, 28, 30 and 36 rows. So when mr + 1 or mr + 2 rows are
 * left (and at least 6), they go as two tiles of about half each. Depends
 * only on mc, mr and ir: row blocks start at multiples of mr (MC and the
 * thread split's PYLSTM_ROW_GRAIN are), so a row gets the same tile, and the
 * same rounding, however the rows are split (rows_ keeps a last block from
 * being only those one or two rows). A full tile and then those one or two
 * rows over two panels at once (four vectors a row, so as many independent
 * chains as a full tile) was about 4% slower than the two halves with AVX2
 * on Zen 3 (median of 15 paired timings, 8 to 32 rows). */
#ifndef PYLSTM_GEMM_TILE_ROWS_DEFINED
#define PYLSTM_GEMM_TILE_ROWS_DEFINED
static size_t tile_rows_(size_t mc, size_t mr, size_t ir) {
    const size_t left = mc - ir;
    if (left > mr && left <= mr + 2 && left >= 6) return (left + 1) / 2;
    return left < mr ? left : mr;
}
#endif

/* Packs op(A) rows [0, mc) x depth [0, kc) (A already offset to the block's
 * corner) into one panel per row tile (tile_rows_): the tile of m rows at
 * row p at pa + p*kc, element (i, k) at [k*m + i]. */
static void FN(pack_a_)(int trans_a, size_t mc, size_t kc, const REAL *A, size_t lda, size_t mr,
                        REAL *pa) {
    size_t p = 0, m;
    if (trans_a) {
        /* the full tiles in one call, which copies by blocks of rows */
        while (p < mc && tile_rows_(mc, mr, p) == mr) p += mr;
        if (p) FN(copy_panels_)(kc, p, A, lda, mr, pa);
        for (; p < mc; p += m) {
            m = tile_rows_(mc, mr, p);
            FN(copy_panels_)(kc, m, A + p, lda, m, pa + p * kc);
        }
        return;
    }
    for (; p < mc; p += m) {
        m = tile_rows_(mc, mr, p);
        FN(transpose_)(m, kc, A + p * lda, lda, pa + p * kc, m);
    }
}

/* Packs op(B) depth [0, kc) x columns [0, nc) into panels of nr columns:
 * panel q at pb + q*kc (q a multiple of nr), element (k, j) at [k*nr + j];
 * the last panel is zero-padded to nr columns. With trans_b, column n of op(B)
 * is row group_row(n, group, gstride) of B (group 0: row n); runs of rows that
 * are consecutive in B are transposed by blocks. */
static void FN(pack_b_)(int trans_b, size_t kc, size_t nc, const REAL *B, size_t ldb,
                        size_t group, size_t gstride, size_t nr, REAL *pb) {
    size_t q, j, k;
    if (!trans_b) {
        FN(copy_panels_)(kc, nc, B, ldb, nr, pb);
    } else {
        for (q = 0; q < nc; q += nr) {
            const size_t n = nc - q < nr ? nc - q : nr;
            REAL *dst = pb + q * kc;
            /* runs of columns whose rows are consecutive in B */
            for (j = 0; j < n;) {
                const size_t row = group_row(q + j, group, gstride);
                size_t run = 1;
                while (j + run < n && group_row(q + j + run, group, gstride) == row + run) ++run;
                FN(transpose_)(run, kc, B + row * ldb, ldb, dst + j, nr);
                j += run;
            }
        }
    }
    if (nc % nr) {
        REAL *dst = pb + (nc - nc % nr) * kc;
        for (k = 0; k < kc; ++k)
            for (j = nc % nr; j < nr; ++j) dst[k * nr + j] = 0;
    }
}

#ifndef PYLSTM_GEMM_COLS_DEFINED
#define PYLSTM_GEMM_COLS_DEFINED
/* Where the columns of a block of C go: column j of the block (product
 * column col0 + j) is stored at offset cols_at() of the row; group = 0 for
 * the plain layout (offset col0 + j), else in groups (gemm.h,
 * pylstm_gemm_packed_groups_*). */
typedef struct {
    size_t col0, group, stride;
} gemm_cols;

static size_t cols_at(const gemm_cols *cols, size_t j) {
    j += cols->col0;
    return cols->group ? j / cols->group * cols->stride + j % cols->group : j;
}

/* Whether columns j .. j+n-1 of the block are stored contiguously: always
 * when the groups follow each other (stride = group: the gates of a step
 * computed as one part), else when the columns lie in one group. */
static int cols_contiguous(const gemm_cols *cols, size_t j, size_t n) {
    return !cols->group || cols->stride == cols->group ||
           (cols->col0 + j) % cols->group + n <= cols->group;
}
#endif

/* The two inner loops over one mc x nc block of C at depth kc, in row tiles
 * of tile_rows_. The A panel of rows ir starts at a + ir*a_rstep with k
 * stride sa, or, for sa = 0 (pack_a_'s panels), the tile's height; the B
 * panel of columns
 * jr at b + jr*b_cstep with k stride sb, except a partial last panel, which
 * is read from b_edge (packed, stride NR) when b_edge is not NULL. A full
 * panel whose columns are not contiguous in C (cols) but whose vectors each
 * are goes to the kernel with the vectors' places (gemm.h); partial tiles,
 * and tiles with a vector across two groups of columns, through a scratch
 * tile. Either way an element becomes C + (its sum over the depth block) or
 * that sum. Measured with AVX2 on Zen 3 and dropped: asking for the next
 * panel of B (into L2) while this panel's tiles run (slower in 11 of 12
 * paired timings, by up to 14%, for 12 to 64 rows); all panels of a 128
 * or 256 KiB slice of B for one row tile before the next (A's tile held in
 * L1, B read from L2): as fast as this order for 32 rows, no gain. */
static void FN(inner_)(const BLK *bk, size_t mc, size_t nc, size_t kc, const REAL *a,
                       size_t a_rstep, size_t sa, const REAL *b, size_t b_cstep, size_t sb,
                       const REAL *b_edge, int accumulate, REAL *C, size_t ldc,
                       const gemm_cols *cols) {
    REAL tile[PYLSTM_GEMM_MR_MAX * PYLSTM_GEMM_NR_MAX];
    /* A panel's column offsets when not contiguous in C, found once per
     * panel, not once per element (a division each: per element it was 18%
     * of a step loop with H = 100), and where each vector starts. */
    size_t at[PYLSTM_GEMM_NR_MAX], vat[PYLSTM_GEMM_NR_MAX];
    /* The columns of a scratch tile as runs contiguous in C: run r is tile
     * columns run_j[r] .. run_j[r + 1] - 1, stored from offset run_at[r] of
     * the row, each run by a vector loop (column by column through at, a
     * step of B = 64, H = 100 at 2 threads took 5% longer). */
    size_t run_j[PYLSTM_GEMM_NR_MAX + 1], run_at[PYLSTM_GEMM_NR_MAX], runs;
    const size_t MR = bk->mr, NR = bk->nr, VL = bk->vl;
    size_t ir, jr, i, j, m, r;
    for (jr = 0; jr < nc; jr += NR) {
        const size_t n = nc - jr < NR ? nc - jr : NR;
        const REAL *bp = b + jr * b_cstep;
        const int contiguous = cols_contiguous(cols, jr, n);
        const size_t at0 = cols_at(cols, jr);
        /* the kernel stores straight into C: the whole row, vector by vector
         * (vat), or not at all */
        int whole = n == NR && contiguous, by_vectors = n == NR && !contiguous;
        size_t sbp = sb;
        if (n < NR && b_edge) bp = b_edge, sbp = NR;
        runs = 1, run_j[0] = 0, run_at[0] = at0;
        if (!contiguous) {
            for (j = 0; j < n; ++j) at[j] = cols_at(cols, jr + j);
            /* columns rise (cols_at), so a vector is contiguous when its
             * last column is VL - 1 past its first */
            for (j = 0; by_vectors && j < NR; j += VL) {
                vat[j / VL] = at[j];
                by_vectors = at[j + VL - 1] == at[j] + VL - 1;
            }
            if (!by_vectors)
                for (j = 1; j < n; ++j)
                    if (at[j] != run_at[runs - 1] + (j - run_j[runs - 1]))
                        run_j[runs] = j, run_at[runs] = at[j], ++runs;
        }
        run_j[runs] = n;
        for (ir = 0; ir < mc; ir += m) {
            const REAL *ap = a + ir * a_rstep;
            REAL *c = C + ir * ldc;
            size_t sap;
            m = tile_rows_(mc, MR, ir);
            sap = sa ? sa : m;
            if (whole || by_vectors) {
                bk->ukr(kc, ap, sap, bp, sbp, whole ? c + at0 : c, ldc, accumulate, (int)m,
                        whole ? NULL : vat);
                continue;
            }
            /* a partial panel of at most a vector: that vector alone */
            (n <= VL && bk->ukr_edge ? bk->ukr_edge : bk->ukr)(kc, ap, sap, bp, sbp, tile, NR, 0,
                                                              (int)m, NULL);
            for (i = 0; i < m; ++i)
                for (r = 0; r < runs; ++r) {
                    REAL *PYLSTM_RESTRICT d = c + i * ldc + run_at[r];
                    const REAL *PYLSTM_RESTRICT t = tile + i * NR + run_j[r];
                    const size_t len = run_j[r + 1] - run_j[r];
                    if (accumulate)
                        for (j = 0; j < len; ++j) d[j] += t[j];
                    else
                        for (j = 0; j < len; ++j) d[j] = t[j];
                }
        }
    }
}

/* The height of the row block that starts at row ic of M: the rows left
 * when they are at most MC (the A block the workspace holds), else
 * mc_deep (gemm.h). A last block of one or two rows would get a short tile
 * whatever tile_rows_ does; one tile earlier it ends, the last block has
 * mr + 1 or mr + 2 rows, wherever the blocks started (a row chunk of the
 * thread split or the block loop). */
static size_t FN(row_block_)(const BLK *bk, size_t M, size_t ic) {
    size_t mc = M - ic <= bk->mc ? M - ic : bk->mc_deep;
    if (M - ic - mc <= 2 && M - ic > mc && mc > bk->mr) mc -= bk->mr;
    return mc;
}

/* Whether a product reads B in place rather than packed: a row-major B
 * (trans_b = 0) against few rows, whose packed panels would be used only a
 * few times. Measured on Zen 5 (dh = dG * W_hh, 32 x 256 x 1024): 122 -> 216
 * GFLOP/s f32 AVX-512; at M = 64 reading in place was no longer faster for
 * f64 and AVX2 (a TLB miss per k row when ldb is a page), hence 32. */
static int FN(b_in_place_)(const BLK *bk, int trans_b, size_t M) {
    return !trans_b && (M <= 32 || M <= bk->mr);
}

/* The rows [0, M) loop at one depth block, with op(A) packed into pa or read
 * in place (see the top of this file). */
static void FN(rows_)(const BLK *bk, int trans_a, size_t M, size_t nc, size_t kc, const REAL *A,
                      size_t lda, REAL *pa, const REAL *b, size_t b_cstep, size_t sb,
                      const REAL *b_edge, int accumulate, REAL *C, size_t ldc,
                      const gemm_cols *cols) {
    size_t ic, mc;
    if (M == 1 || (trans_a && M <= bk->mr)) {
        /* A is offset to depth pc already: op(A)(i, k) = A[k*lda + i] or A[k]. */
        FN(inner_)(bk, M, nc, kc, A, 1, trans_a ? lda : 1, b, b_cstep, sb, b_edge, accumulate,
                   C, ldc, cols);
        return;
    }
    for (ic = 0; ic < M; ic += mc) {
        mc = FN(row_block_)(bk, M, ic);
        FN(pack_a_)(trans_a, mc, kc, trans_a ? A + ic : A + ic * lda, lda, bk->mr, pa);
        FN(inner_)(bk, mc, nc, kc, pa, kc, 0, b, b_cstep, sb, b_edge, accumulate, C + ic * ldc,
                   ldc, cols);
    }
}

static void FN(zero_or_keep_)(size_t M, size_t N, int accumulate, REAL *C, size_t ldc) {
    size_t i, j;
    if (accumulate) return;
    for (i = 0; i < M; ++i)
        for (j = 0; j < N; ++j) C[i * ldc + j] = 0;
}

/* One row (M = 1, op(A) contiguous: a) against the packed panels of one
 * depth block (kc deep, panel q at b + q*kc*NR): C[0, 0..nc) (+)= a op(B),
 * through the kernel's gemv in groups of up to four full panels and, for a
 * partial last panel, a scratch row; the groups last to first when
 * backward. Per column the same chain of operations whatever the grouping
 * or order (gemm.h), hence the same bits. */
static void FN(gemv_block_)(const BLK *bk, size_t kc, size_t nc, const REAL *a, const REAL *b,
                            int accumulate, REAL *C, int backward) {
    REAL tile[PYLSTM_GEMM_NR_MAX];
    const size_t NR = bk->nr, full = nc / NR, rem = nc % NR, group = 4;
    const size_t groups = (full + group - 1) / group, units = groups + (rem != 0);
    size_t u, j;
    for (u = 0; u < units; ++u) {
        const size_t g = backward ? units - 1 - u : u, q = g * group;
        REAL *c = C + full * NR;
        if (g < groups) {
            bk->gemv(kc, a, b + q * kc * NR, full - q < group ? full - q : group, C + q * NR,
                     accumulate);
            continue;
        }
        bk->gemv(kc, a, b + full * kc * NR, 1, tile, 0);
        for (j = 0; j < rem; ++j) c[j] = accumulate ? c[j] + tile[j] : tile[j];
    }
}

void FN(pylstm_gemm_)(int trans_a, int trans_b, size_t M, size_t N, size_t K, const REAL *A,
                      size_t lda, const REAL *B, size_t ldb, int accumulate, REAL *C, size_t ldc,
                      void *work) {
    BLK blk;
    const BLK *bk = &blk;
    REAL *pa = (REAL *)work, *pb;
    /* B read in place: only a partial last panel is packed */
    int direct_b;
    size_t jc, pc;
    if (M == 0 || N == 0) return;
    if (K == 0) {
        FN(zero_or_keep_)(M, N, accumulate, C, ldc);
        return;
    }
    FN(blocking_)(pylstm_gemm_active(), &blk);
    direct_b = FN(b_in_place_)(bk, trans_b, M);
    pb = (REAL *)((char *)work + gemm_round_up(bk->mc * bk->kc * sizeof(REAL)));
    for (jc = 0; jc < N; jc += bk->nc) {
        const size_t nc = N - jc < bk->nc ? N - jc : bk->nc;
        const gemm_cols cols = {0, 0, 0};
        for (pc = 0; pc < K; pc += bk->kc) {
            const size_t kc = K - pc < bk->kc ? K - pc : bk->kc;
            const REAL *Ap = trans_a ? A + pc * lda : A + pc;
            const int acc = pc ? 1 : accumulate;
            if (direct_b) {
                const size_t rem = nc % bk->nr;
                const REAL *Bp = B + pc * ldb + jc;
                if (rem) FN(pack_b_)(0, kc, rem, Bp + (nc - rem), ldb, 0, 0, bk->nr, pb);
                FN(rows_)(bk, trans_a, M, nc, kc, Ap, lda, pa, Bp, 1, ldb, rem ? pb : NULL, acc,
                          C + jc, ldc, &cols);
            } else {
                FN(pack_b_)(trans_b, kc, nc, trans_b ? B + jc * ldb + pc : B + pc * ldb + jc,
                            ldb, 0, 0, bk->nr, pb);
                if (M == 1 && (!trans_a || lda == 1))
                    FN(gemv_block_)(bk, kc, nc, Ap, pb, acc, C + jc, 0);
                else
                    FN(rows_)(bk, trans_a, M, nc, kc, Ap, lda, pa, pb, kc, bk->nr, NULL, acc,
                              C + jc, ldc, &cols);
            }
        }
    }
}

/* Two products with one op(A) = A^T (A stored K x M), B1 and B2 row-major:
 * C1 (M x N1) (+)= A^T B1 and C2 (M x N2) (+)= A^T B2, each A block packed
 * once for both (the weight gradients dW_ih and dW_hh share dgates^T: its
 * packing was 3.9% of a training step of the medium case, done twice).
 * Every element is computed as by two pylstm_gemm_ calls: the same depth
 * blocks, row blocks, tiles and order, so the same bits. When the two B
 * blocks do not fit the workspace together, or M is small enough that B is
 * read in place, it is those two calls. */
void FN(pylstm_gemm_tn_pair_)(size_t M, size_t K, const REAL *A, size_t lda, size_t N1,
                              const REAL *B1, size_t ldb1, REAL *C1, size_t ldc1, size_t N2,
                              const REAL *B2, size_t ldb2, REAL *C2, size_t ldc2, int accumulate,
                              void *work) {
    BLK blk;
    const BLK *bk = &blk;
    const gemm_cols cols = {0, 0, 0};
    REAL *pa = (REAL *)work, *pb1, *pb2;
    size_t np1, pc, ic, mc;
    FN(blocking_)(pylstm_gemm_active(), &blk);
    np1 = (N1 + bk->nr - 1) / bk->nr * bk->nr;
    if (FN(b_in_place_)(bk, 0, M) || N1 == 0 || N2 == 0 || K == 0 ||
        np1 + (N2 + bk->nr - 1) / bk->nr * bk->nr > bk->nc) {
        FN(pylstm_gemm_)(1, 0, M, N1, K, A, lda, B1, ldb1, accumulate, C1, ldc1, work);
        FN(pylstm_gemm_)(1, 0, M, N2, K, A, lda, B2, ldb2, accumulate, C2, ldc2, work);
        return;
    }
    pb1 = (REAL *)((char *)work + gemm_round_up(bk->mc * bk->kc * sizeof(REAL)));
    for (pc = 0; pc < K; pc += bk->kc) {
        const size_t kc = K - pc < bk->kc ? K - pc : bk->kc;
        const int acc = pc ? 1 : accumulate;
        pb2 = pb1 + kc * np1;
        FN(pack_b_)(0, kc, N1, B1 + pc * ldb1, ldb1, 0, 0, bk->nr, pb1);
        FN(pack_b_)(0, kc, N2, B2 + pc * ldb2, ldb2, 0, 0, bk->nr, pb2);
        /* rows_'s row blocks (for trans_a and M > mr) */
        for (ic = 0; ic < M; ic += mc) {
            mc = FN(row_block_)(bk, M, ic);
            FN(pack_a_)(1, mc, kc, A + pc * lda + ic, lda, bk->mr, pa);
            FN(inner_)(bk, mc, N1, kc, pa, kc, 0, pb1, kc, bk->nr, NULL, acc, C1 + ic * ldc1,
                       ldc1, &cols);
            FN(inner_)(bk, mc, N2, kc, pa, kc, 0, pb2, kc, bk->nr, NULL, acc, C2 + ic * ldc2,
                       ldc2, &cols);
        }
    }
}

/* ---- packed B ---------------------------------------------------------- */

size_t FN(pylstm_gemm_packed_b_size_)(size_t N, size_t K) { return FN(packed_size_)(N, K); }

/* pylstm_gemm_pack_b_ and pylstm_gemm_pack_b_groups_ (group as in pack_b_). */
static void FN(pack_b_whole_)(int trans_b, size_t N, size_t K, const REAL *B, size_t ldb,
                              size_t group, size_t gstride, void *packed) {
    const pylstm_gemm_kernel_t *kern = pylstm_gemm_active();
    BLK blk;
    const BLK *bk = &blk;
    packed_header *h = (packed_header *)packed;
    REAL *dst = (REAL *)((char *)packed + PACKED_HEADER_BYTES);
    size_t npad, pc;
    FN(blocking_)(kern, &blk);
    npad = (N + bk->nr - 1) / bk->nr * bk->nr;
    h->magic = PACKED_MAGIC;
    h->elem_size = (unsigned)sizeof(REAL);
    h->kernel = kern->id;
    h->nr = bk->nr;
    h->kc = bk->kc;
    h->n = N;
    h->k = K;
    if (N == 0) return;
    for (pc = 0; pc < K; pc += bk->kc) {
        const size_t kc = K - pc < bk->kc ? K - pc : bk->kc;
        FN(pack_b_)(trans_b, kc, N, trans_b ? B + pc : B + pc * ldb, ldb, group, gstride,
                    bk->nr, dst + pc * npad);
    }
}

void FN(pylstm_gemm_pack_b_)(int trans_b, size_t N, size_t K, const REAL *B, size_t ldb,
                             void *packed) {
    FN(pack_b_whole_)(trans_b, N, K, B, ldb, 0, 0, packed);
}

void FN(pylstm_gemm_pack_b_groups_)(size_t N, size_t K, const REAL *B, size_t ldb, size_t group,
                                    size_t group_stride, void *packed) {
    FN(pack_b_whole_)(1, N, K, B, ldb, group, group_stride, packed);
}

/* The layout rule of gemm.h followed element by element: the fallback for a
 * buffer whose recorded kernel this process cannot run. */
static void FN(packed_scalar_)(const packed_header *h, int trans_a, size_t M, size_t N, size_t K,
                               const REAL *A, size_t lda, const REAL *pb, int accumulate,
                               REAL *C, size_t ldc, const gemm_cols *cols) {
    const size_t NR = h->nr, KC = h->kc, npad = (N + NR - 1) / NR * NR;
    size_t i, j, k;
    for (i = 0; i < M; ++i)
        for (j = 0; j < N; ++j) {
            REAL s = 0, *e = C + i * ldc + cols_at(cols, j);
            for (k = 0; k < K; ++k) {
                const size_t k0 = k / KC * KC, kc = K - k0 < KC ? K - k0 : KC;
                const REAL b = pb[k0 * npad + j / NR * NR * kc + (k - k0) * NR + j % NR];
                s += (trans_a ? A[k * lda + i] : A[i * lda + k]) * b;
            }
            *e = accumulate ? *e + s : s;
        }
}

/* pylstm_gemm_packed_ with the columns of C placed as `cols` says (col0 = 0
 * on entry: set here to each column chunk's start). */
static void FN(packed_cols_)(int trans_a, size_t M, size_t N, size_t K, const REAL *A,
                             size_t lda, const void *packed, int accumulate, REAL *C, size_t ldc,
                             void *work, gemm_cols cols) {
    const packed_header *h = (const packed_header *)packed;
    const REAL *pb = (const REAL *)((const char *)packed + PACKED_HEADER_BYTES);
    const pylstm_gemm_kernel_t *kern = pylstm_gemm_kernel_by_id(h->kernel);
    BLK blk;
    const BLK *bk = &blk;
    size_t npad, jc, pc;
    if (M == 0 || N == 0) return;
    if (K == 0) {
        FN(zero_or_keep_)(M, N, accumulate, C, ldc);
        return;
    }
    if (kern) FN(blocking_)(kern, &blk);
    if (!kern || bk->nr != h->nr || bk->kc != h->kc) {
        FN(packed_scalar_)(h, trans_a, M, N, K, A, lda, pb, accumulate, C, ldc, &cols);
        return;
    }
    npad = (N + bk->nr - 1) / bk->nr * bk->nr;
    /* Columns in NC chunks so the part of B swept for every MC rows of A stays
     * in cache when M is large; the packed panels of a chunk are contiguous. */
    for (jc = 0; jc < N; jc += bk->nc) {
        const size_t nc = N - jc < bk->nc ? N - jc : bk->nc;
        cols.col0 = jc;
        for (pc = 0; pc < K; pc += bk->kc) {
            const size_t kc = K - pc < bk->kc ? K - pc : bk->kc;
            if (M == 1 && (!trans_a || lda == 1) && !cols.group)
                FN(gemv_block_)(bk, kc, nc, A + pc, pb + pc * npad + jc * kc,
                                pc ? 1 : accumulate, C + jc, 0);
            else
                FN(rows_)(bk, trans_a, M, nc, kc, trans_a ? A + pc * lda : A + pc, lda,
                          (REAL *)work, pb + pc * npad + jc * kc, kc, bk->nr, NULL,
                          pc ? 1 : accumulate, C, ldc, &cols);
        }
    }
}

void FN(pylstm_gemm_packed_)(int trans_a, size_t M, size_t N, size_t K, const REAL *A,
                             size_t lda, const void *packed, int accumulate, REAL *C, size_t ldc,
                             void *work) {
    const gemm_cols cols = {0, 0, 0};
    FN(packed_cols_)(trans_a, M, N, K, A, lda, packed, accumulate, C, ldc, work, cols);
}

void FN(pylstm_gemm_packed_groups_)(size_t M, size_t N, size_t K, const REAL *A, size_t lda,
                                    const void *packed, int accumulate, REAL *C, size_t ldc,
                                    size_t group, size_t group_stride, void *work) {
    gemm_cols cols;
    cols.col0 = 0, cols.group = group, cols.stride = group_stride;
    FN(packed_cols_)(0, M, N, K, A, lda, packed, accumulate, C, ldc, work, cols);
}

/* ---- products split between threads ------------------------------------ */

typedef struct {
    int ta, tb, acc, split_rows;
    size_t M, N, K, lda, ldb, ldc, work_stride;
    const REAL *A, *B;
    const void *packed; /* pylstm_gemm_packed_par_ */
    REAL *C;
    unsigned char *work;
} FN(par_ctx_);

static void FN(par_job_)(void *vctx, size_t part, size_t nparts) {
    const FN(par_ctx_) *c = (const FN(par_ctx_) *)vctx;
    size_t lo, hi;
    if (c->split_rows) {
        pylstm_split(c->M, PYLSTM_ROW_GRAIN, part, nparts, &lo, &hi);
        if (lo >= hi) return;
        FN(pylstm_gemm_)(c->ta, c->tb, hi - lo, c->N, c->K,
                         c->ta ? c->A + lo : c->A + lo * c->lda, c->lda, c->B, c->ldb, c->acc,
                         c->C + lo * c->ldc, c->ldc, c->work + part * c->work_stride);
        return;
    }
    pylstm_split(c->N, 64, part, nparts, &lo, &hi);
    if (lo >= hi) return;
    FN(pylstm_gemm_)(c->ta, c->tb, c->M, hi - lo, c->K, c->A, c->lda,
                     c->tb ? c->B + lo * c->ldb : c->B + lo, c->ldb, c->acc, c->C + lo, c->ldc,
                     c->work + part * c->work_stride);
}

/* Split by blocks of C: every thread packs the whole of one operand, so the
 * split runs along the other one's longer side (columns when N >= M, rows
 * otherwise). The value of every element must not depend on the split.
 * Columns: any split is fine (a kernel computes every column of a tile
 * alike, edge tiles through a zero-padded scratch). Rows: the kernels treat
 * short row tiles differently (more accumulator chains), so row blocks are
 * multiples of every kernel's tile height (PYLSTM_ROW_GRAIN), and every part
 * gets at least two of them, so none drops to the M <= 2 paths. */
void FN(pylstm_gemm_par_)(size_t nt, void *work, size_t work_stride, int trans_a, int trans_b,
                          size_t M, size_t N, size_t K, const REAL *A, size_t lda, const REAL *B,
                          size_t ldb, int accumulate, REAL *C, size_t ldc) {
    FN(par_ctx_) c;
    const size_t parts = par_parts(nt, M, N, K);
    c.ta = trans_a, c.tb = trans_b, c.acc = accumulate, c.M = M, c.N = N, c.K = K;
    c.lda = lda, c.ldb = ldb, c.ldc = ldc, c.work_stride = work_stride;
    c.A = A, c.B = B, c.packed = NULL, c.C = C, c.work = (unsigned char *)work;
    c.split_rows = M > N && M >= 2 * PYLSTM_ROW_GRAIN * parts;
    par_run(FN(par_job_), &c, parts, M, N, K);
}

typedef struct {
    size_t M, K, lda, N1, ldb1, ldc1, N2, ldb2, ldc2, work_stride;
    const REAL *A, *B1, *B2;
    REAL *C1, *C2;
    int acc;
    unsigned char *work;
} FN(pair_ctx_);

static void FN(pair_job_)(void *vctx, size_t part, size_t nparts) {
    const FN(pair_ctx_) *c = (const FN(pair_ctx_) *)vctx;
    size_t lo, hi;
    pylstm_split(c->M, PYLSTM_ROW_GRAIN, part, nparts, &lo, &hi);
    if (lo < hi)
        FN(pylstm_gemm_tn_pair_)(hi - lo, c->K, c->A + lo, c->lda, c->N1, c->B1, c->ldb1,
                                 c->C1 + lo * c->ldc1, c->ldc1, c->N2, c->B2, c->ldb2,
                                 c->C2 + lo * c->ldc2, c->ldc2, c->acc,
                                 c->work + part * c->work_stride);
}

/* pylstm_gemm_tn_pair_ split between threads by row blocks, as
 * pylstm_gemm_par_ splits each product (so the same bits for every nt); when
 * the rows are too few to split, the two products go to pylstm_gemm_par_
 * one after the other. */
void FN(pylstm_gemm_tn_pair_par_)(size_t nt, void *work, size_t work_stride, size_t M, size_t K,
                                  const REAL *A, size_t lda, size_t N1, const REAL *B1,
                                  size_t ldb1, REAL *C1, size_t ldc1, size_t N2, const REAL *B2,
                                  size_t ldb2, REAL *C2, size_t ldc2, int accumulate) {
    FN(pair_ctx_) c;
    const size_t parts = par_parts(nt, M, N1 + N2, K);
    if (parts > 1 && M < 2 * PYLSTM_ROW_GRAIN * parts) {
        FN(pylstm_gemm_par_)(nt, work, work_stride, 1, 0, M, N1, K, A, lda, B1, ldb1,
                             accumulate, C1, ldc1);
        FN(pylstm_gemm_par_)(nt, work, work_stride, 1, 0, M, N2, K, A, lda, B2, ldb2,
                             accumulate, C2, ldc2);
        return;
    }
    c.M = M, c.K = K, c.A = A, c.lda = lda, c.acc = accumulate;
    c.N1 = N1, c.B1 = B1, c.ldb1 = ldb1, c.C1 = C1, c.ldc1 = ldc1;
    c.N2 = N2, c.B2 = B2, c.ldb2 = ldb2, c.C2 = C2, c.ldc2 = ldc2;
    c.work = (unsigned char *)work, c.work_stride = work_stride;
    par_run(FN(pair_job_), &c, parts, M, N1 + N2, K);
}

static void FN(packed_par_job_)(void *vctx, size_t part, size_t nparts) {
    const FN(par_ctx_) *c = (const FN(par_ctx_) *)vctx;
    size_t lo, hi;
    pylstm_split(c->M, PYLSTM_ROW_GRAIN, part, nparts, &lo, &hi);
    if (lo < hi)
        FN(pylstm_gemm_packed_)(0, hi - lo, c->N, c->K, c->A + lo * c->lda, c->lda, c->packed,
                                c->acc, c->C + lo * c->ldc, c->ldc,
                                c->work + part * c->work_stride);
}

/* Rows only, in the blocks of pylstm_gemm_par_, so the result is the same. */
void FN(pylstm_gemm_packed_par_)(size_t nt, void *work, size_t work_stride, size_t M, size_t N,
                                 size_t K, const REAL *A, size_t lda, const void *packed,
                                 int accumulate, REAL *C, size_t ldc) {
    FN(par_ctx_) c;
    size_t parts = par_parts(nt, M, N, K);
    if (M < 2 * PYLSTM_ROW_GRAIN * parts) parts = 1;
    c.acc = accumulate, c.M = M, c.N = N, c.K = K, c.lda = lda, c.ldc = ldc;
    c.work_stride = work_stride, c.A = A, c.packed = packed, c.C = C;
    c.work = (unsigned char *)work;
    par_run(FN(packed_par_job_), &c, parts, M, N, K);
}

/* ---- one row from a packed B (gemm.h, pylstm_gemv_packed_*) ------------ */

void FN(pylstm_gemv_packed_)(size_t N, size_t K, const REAL *a, const void *packed, REAL *y,
                             int backward) {
    const packed_header *h = (const packed_header *)packed;
    const REAL *pb = (const REAL *)((const char *)packed + PACKED_HEADER_BYTES);
    const pylstm_gemm_kernel_t *kern = pylstm_gemm_kernel_by_id(h->kernel);
    BLK blk;
    const BLK *bk = kern ? &blk : NULL;
    size_t npad, pc;
    if (kern) FN(blocking_)(kern, &blk); /* the KC the packer used (cache-sized) */
    if (!bk || bk->nr != h->nr || bk->kc != h->kc || N == 0 || K == 0) {
        FN(pylstm_gemm_packed_)(0, 1, N, K, a, K, packed, 0, y, N, NULL);
        return;
    }
    /* pylstm_gemm_packed_'s M = 1 path without its NC chunks (which do not
     * change any column's chain), in either direction. */
    npad = (N + bk->nr - 1) / bk->nr * bk->nr;
    for (pc = 0; pc < K; pc += bk->kc) {
        const size_t kc = K - pc < bk->kc ? K - pc : bk->kc;
        FN(gemv_block_)(bk, kc, N, a + pc, pb + pc * npad, pc != 0, y, backward);
    }
}

#undef PYLSTM_CAT_
#undef PYLSTM_CAT
#undef FN
#undef BLK
#undef KBLK
