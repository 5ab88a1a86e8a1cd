/* Runs a model that Python saved (pylstm.save) from C, through the model
 * handle, and checks the result against the numbers Python computed.
 *
 *   run_saved_model [model.safetensors [reference.txt]]
 *
 * Defaults: examples/data/model.safetensors and examples/data/reference.txt,
 * both written by examples/make_reference.py (which describes the reference
 * layout: records "name count values..."). Prints the output, the largest
 * absolute difference from Python's y, h_n and c_n, and exits 1 if it is
 * above 1e-5 or anything fails.
 *
 * Build against an installed pylstm:
 *   cc run_saved_model.c $(pkg-config --cflags --libs pylstm) -o run_saved_model */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pylstm.h"

/* The next whitespace-separated token of fp into buf, skipping '#' comment
 * lines; 0 at end of file. */
static int next_token(FILE *fp, char *buf) {
    while (fscanf(fp, " %63s", buf) == 1) {
        if (buf[0] != '#') return 1;
        if (fscanf(fp, "%*[^\n]") < 0) return 0;
    }
    return 0;
}

/* Reads the record `name` (which must come next) of exactly n numbers into a
 * new array; NULL (after saying why) on any mismatch. */
static double *read_record(FILE *fp, const char *name, size_t n) {
    char tok[64];
    unsigned long count;
    double *values;
    size_t k;
    if (!next_token(fp, tok) || strcmp(tok, name) != 0 || !next_token(fp, tok) ||
        sscanf(tok, "%lu", &count) != 1 || count != n) {
        fprintf(stderr, "reference: expected record '%s' of %lu numbers\n", name,
                (unsigned long)n);
        return NULL;
    }
    values = malloc(n * sizeof *values);
    for (k = 0; values && k < n; ++k) {
        if (!next_token(fp, tok) || sscanf(tok, "%lf", &values[k]) != 1) {
            fprintf(stderr, "reference: record '%s' ends after %lu numbers\n", name,
                    (unsigned long)k);
            free(values);
            return NULL;
        }
    }
    return values;
}

static double max_abs_diff(const float *got, const double *want, size_t n) {
    double worst = 0.0;
    size_t k;
    for (k = 0; k < n; ++k) {
        double d = fabs((double)got[k] - want[k]);
        if (!(d <= worst)) worst = d; /* a NaN makes it NaN, which fails below */
    }
    return worst;
}

int main(int argc, char **argv) {
    const char *model_path = argc > 1 ? argv[1] : "examples/data/model.safetensors";
    const char *ref_path = argc > 2 ? argv[2] : "examples/data/reference.txt";
    pylstm_model *model = NULL;
    pylstm_model_config cfg;
    pylstm_status st;
    FILE *fp;
    double *dims = NULL, *len = NULL, *x64 = NULL, *y_ref = NULL, *h_ref = NULL, *c_ref = NULL;
    float *x = NULL, *y = NULL, *h_n = NULL, *c_n = NULL;
    int64_t *lengths = NULL;
    void *work = NULL;
    size_t T, B, D, R, LD, work_bytes, k, t, b;
    double err_y, err_h, err_c;
    int rc = 1;

    st = pylstm_model_load(model_path, &model);
    if (st != PYLSTM_OK) {
        fprintf(stderr, "pylstm_model_load(%s): %s\n", model_path, pylstm_strerror(st));
        return 1;
    }
    cfg.struct_size = sizeof cfg;
    st = pylstm_model_config_get(model, &cfg);
    if (st != PYLSTM_OK || cfg.dtype != PYLSTM_DTYPE_F32) {
        fprintf(stderr, "%s: not a float32 model (%s)\n", model_path, pylstm_strerror(st));
        goto done;
    }
    D = cfg.bidirectional ? 2 : 1;
    R = cfg.proj_size ? cfg.proj_size : cfg.hidden_size;
    LD = cfg.num_layers * D;
    printf("pylstm %s, kernel %s: LSTM(%lu, %lu, num_layers=%lu, bidirectional=%d, "
           "proj_size=%lu) from %s\n",
           pylstm_version(), pylstm_gemm_kernel(), (unsigned long)cfg.input_size,
           (unsigned long)cfg.hidden_size, (unsigned long)cfg.num_layers, cfg.bidirectional,
           (unsigned long)cfg.proj_size, model_path);

    fp = fopen(ref_path, "r");
    if (!fp) {
        fprintf(stderr, "cannot open %s\n", ref_path);
        goto done;
    }
    dims = read_record(fp, "dims", 3);
    if (dims && dims[2] != (double)cfg.input_size) {
        fprintf(stderr, "reference: input size %g, model %lu\n", dims[2],
                (unsigned long)cfg.input_size);
        free(dims), dims = NULL;
    }
    if (dims) {
        T = (size_t)dims[0], B = (size_t)dims[1];
        len = read_record(fp, "lengths", B);
        x64 = len ? read_record(fp, "x", T * B * cfg.input_size) : NULL;
        y_ref = x64 ? read_record(fp, "y", T * B * D * R) : NULL;
        h_ref = y_ref ? read_record(fp, "h_n", LD * B * R) : NULL;
        c_ref = h_ref ? read_record(fp, "c_n", LD * B * cfg.hidden_size) : NULL;
    }
    fclose(fp);
    if (!c_ref) goto done;

    x = malloc(T * B * cfg.input_size * sizeof *x);
    y = malloc(T * B * D * R * sizeof *y);
    h_n = malloc(LD * B * R * sizeof *h_n);
    c_n = malloc(LD * B * cfg.hidden_size * sizeof *c_n);
    lengths = malloc(B * sizeof *lengths);
    if (!x || !y || !h_n || !c_n || !lengths) goto done;
    for (k = 0; k < T * B * cfg.input_size; ++k) x[k] = (float)x64[k];
    for (b = 0; b < B; ++b) lengths[b] = (int64_t)len[b];

    /* The caller provides the work memory, so a run allocates nothing (a NULL
     * work would make the call allocate and free it itself). */
    st = pylstm_model_run_size(model, T, B, &work_bytes);
    if (st == PYLSTM_OK) {
        work = malloc(work_bytes ? work_bytes : 1);
        st = work ? pylstm_model_run_f32(model, T, B, x, NULL, NULL, lengths, y, h_n, c_n, work,
                                         work_bytes)
                  : PYLSTM_ERR_OUT_OF_MEMORY;
    }
    if (st != PYLSTM_OK) {
        fprintf(stderr, "pylstm_model_run_f32: %s\n", pylstm_strerror(st));
        goto done;
    }

    printf("output y (T=%lu, B=%lu, %lu), lengths", (unsigned long)T, (unsigned long)B,
           (unsigned long)(D * R));
    for (b = 0; b < B; ++b) printf(" %ld", (long)lengths[b]);
    printf(":\n");
    for (t = 0; t < T; ++t) {
        printf("  t=%lu:", (unsigned long)t);
        for (k = 0; k < B * D * R; ++k)
            printf("%s% .6f", k % (D * R) ? " " : "  |", y[t * B * D * R + k]);
        printf("\n");
    }
    err_y = max_abs_diff(y, y_ref, T * B * D * R);
    err_h = max_abs_diff(h_n, h_ref, LD * B * R);
    err_c = max_abs_diff(c_n, c_ref, LD * B * cfg.hidden_size);
    printf("max abs error vs Python: y %.3g, h_n %.3g, c_n %.3g\n", err_y, err_h, err_c);
    if (err_y <= 1e-5 && err_h <= 1e-5 && err_c <= 1e-5) { /* false for NaN too */
        printf("OK\n");
        rc = 0;
    } else {
        printf("FAILED: above 1e-5\n");
    }

done:
    free(dims), free(len), free(x64), free(y_ref), free(h_ref), free(c_ref);
    free(x), free(y), free(h_n), free(c_n), free(lengths), free(work);
    pylstm_model_free(model);
    return rc;
}
