/* libFuzzer harness for the model loader (pylstm_model_load_bytes,
 * src_c/handle.c), which parses the file with src_c/safetensors.c and then
 * infers and checks the configuration.
 *
 * Every input must give PYLSTM_OK or PYLSTM_ERR_FORMAT
 * (PYLSTM_ERR_OUT_OF_MEMORY only if the fuzzer's malloc limit is hit). On OK
 * the handle is used as a caller would: its configuration, every parameter's
 * every value read (ASan catches a pointer outside the handle's memory), a
 * run with T = 1 and 2, B = 1 and work = NULL, and a stream step when the
 * model is unidirectional; then it is freed (LeakSanitizer checks that
 * nothing stays allocated). Values are fuzzer bytes, so NaN and Inf
 * are expected and not checked; the runs must only succeed.
 * .ci/fuzz.sh builds and runs it; by hand (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc_c/include -Isrc_c \
 *       tests/fuzz/fuzz_model_load.c $(grep -v '^#' src_c/sources.txt | cut -d' ' -f1) \
 *       -lm -o build/fuzz_model_load
 *   cp -r tests/fuzz/corpus/model_load /tmp/corpus && build/fuzz_model_load \
 *       -dict=tests/fuzz/model.dict -max_total_time=60 /tmp/corpus
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pylstm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Anything unexpected ends the run as a crash, which libFuzzer reports with
 * the input. */
static void check(int ok) {
    if (!ok) abort();
}

/* Largest element count a run or step below may need per buffer; a loaded
 * model bigger than this is only inspected (the loader bounds sizes by the
 * file, so this only keeps each input fast). */
#define MAX_ELEMS 65536u

static void exercise(const pylstm_model *m) {
    pylstm_model_config cfg;
    size_t n = 0, k, j, rows, cols, D, R, L, T, in_elems, out_elems, state_elems;
    const char *name;
    const void *values;
    volatile double acc = 0;
    int f64;

    memset(&cfg, 0, sizeof cfg);
    cfg.struct_size = sizeof cfg;
    check(pylstm_model_config_get(m, &cfg) == PYLSTM_OK);
    check(cfg.dtype == PYLSTM_DTYPE_F32 || cfg.dtype == PYLSTM_DTYPE_F64);
    check(cfg.input_size >= 1 && cfg.hidden_size >= 1 && cfg.num_layers >= 1);
    check(cfg.proj_size < cfg.hidden_size);
    check(cfg.bidirectional == 0 || cfg.bidirectional == 1);
    f64 = cfg.dtype == PYLSTM_DTYPE_F64;

    check(pylstm_model_param_count(m, &n) == PYLSTM_OK);
    D = cfg.bidirectional ? 2 : 1;
    check(n == cfg.num_layers * D * ((cfg.bias ? 4 : 2) + (cfg.proj_size ? 1 : 0)));
    for (k = 0; k < n; k++) {
        size_t count;
        check(pylstm_model_param(m, k, &name, &rows, &cols, &values) == PYLSTM_OK);
        check(name && values && rows >= 1);
        acc += (double)strlen(name);
        count = cols ? rows * cols : rows;
        for (j = 0; j < count; j++)
            acc += f64 ? ((const double *)values)[j] : ((const float *)values)[j];
    }
    check(pylstm_model_param(m, n, &name, &rows, &cols, &values) == PYLSTM_ERR_NOT_FOUND);
    (void)acc;

    R = cfg.proj_size ? cfg.proj_size : cfg.hidden_size;
    L = cfg.num_layers;
    /* Sizes come from a checked file, so these products cannot overflow
     * before they are compared: each factor is below the file's size. */
    if (cfg.input_size > MAX_ELEMS || R > MAX_ELEMS || cfg.hidden_size > MAX_ELEMS ||
        L * D > MAX_ELEMS || L * D * cfg.hidden_size > MAX_ELEMS)
        return;
    for (T = 1; T <= 2; T++) {
        void *x, *y, *hn, *cn;
        pylstm_status st;
        in_elems = T * cfg.input_size;
        out_elems = T * D * R;
        state_elems = L * D * cfg.hidden_size;
        x = calloc(in_elems, sizeof(double));
        y = calloc(out_elems, sizeof(double));
        hn = calloc(state_elems, sizeof(double));
        cn = calloc(state_elems, sizeof(double));
        if (!x || !y || !hn || !cn) {
            free(x), free(y), free(hn), free(cn);
            return;
        }
        for (j = 0; j < in_elems; j++) {
            if (f64) ((double *)x)[j] = 0.25 * (double)j - 0.5;
            else ((float *)x)[j] = 0.25f * (float)j - 0.5f;
        }
        if (f64) {
            st = pylstm_model_run_f64(m, T, 1, x, NULL, NULL, NULL, y, hn, cn, NULL, 0);
            check(pylstm_model_run_f32(m, T, 1, x, NULL, NULL, NULL, y, hn, cn, NULL, 0) ==
                  PYLSTM_ERR_DTYPE);
        } else {
            st = pylstm_model_run_f32(m, T, 1, x, NULL, NULL, NULL, y, hn, cn, NULL, 0);
            check(pylstm_model_run_f64(m, T, 1, x, NULL, NULL, NULL, y, hn, cn, NULL, 0) ==
                  PYLSTM_ERR_DTYPE);
        }
        check(st == PYLSTM_OK || st == PYLSTM_ERR_OUT_OF_MEMORY);
        for (j = 0; j < out_elems; j++)
            acc += f64 ? ((double *)y)[j] : ((float *)y)[j];
        free(x), free(y), free(hn), free(cn);
    }

    if (!cfg.bidirectional) {
        pylstm_model_stream *s = NULL;
        double x[64], y[64];
        pylstm_status st = pylstm_model_stream_open(m, 1, &s);
        check(st == PYLSTM_OK || st == PYLSTM_ERR_OUT_OF_MEMORY);
        check((st == PYLSTM_OK) == (s != NULL));
        if (s && cfg.input_size <= 64 && R <= 64) {
            memset(x, 0, sizeof x);
            if (f64) {
                check(pylstm_model_stream_step_f64(s, x, y) == PYLSTM_OK);
                check(pylstm_model_stream_step_f64(s, x, y) == PYLSTM_OK);
            } else {
                check(pylstm_model_stream_step_f32(s, (float *)x, (float *)y) == PYLSTM_OK);
                check(pylstm_model_stream_step_f32(s, (float *)x, (float *)y) == PYLSTM_OK);
            }
            check(pylstm_model_stream_reset(s, NULL, NULL) == PYLSTM_OK);
        }
        pylstm_model_stream_free(s);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pylstm_model *m = NULL;
    pylstm_status rc = pylstm_model_load_bytes(data, size, &m);
    check((rc == PYLSTM_OK) == (m != NULL));
    if (rc == PYLSTM_OK) exercise(m);
    else check(rc == PYLSTM_ERR_FORMAT || rc == PYLSTM_ERR_OUT_OF_MEMORY);
    pylstm_model_free(m);
    return 0;
}
