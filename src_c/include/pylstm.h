/* pylstm.h — the public C API of pylstm's core.
 *
 * pylstm computes the LSTM of torch.nn.LSTM / torch.nn.LSTMCell, forward and
 * backward (back-propagation through time), in float32 (`_f32`) and float64
 * (`_f64`). From the input x_t and the previous state (h_{t-1}, c_{t-1}) one
 * step computes, with W = [W_ih, W_hh] and b = b_ih + b_hh split into the four
 * gate blocks in PyTorch's order i, f, g, o:
 *
 *     i = sigmoid(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)   input gate
 *     f = sigmoid(W_if x_t + b_if + W_hf h_{t-1} + b_hf)   forget gate
 *     g = tanh   (W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)   candidate
 *     o = sigmoid(W_io x_t + b_io + W_ho h_{t-1} + b_ho)   output gate
 *     c_t = f * c_{t-1} + i * g
 *     h_t = o * tanh(c_t)                  (no projection)
 *     h_t = W_hr (o * tanh(c_t))           (projection, "LSTMP", proj_size P > 0)
 *
 * Conventions used by every function below:
 *  - Dimensions: T sequence length, B batch, I input size, H hidden size,
 *    P projection size (0 for none), R = P ? P : H the size of h. D = 2 for a
 *    bidirectional model, else 1.
 *  - All matrices are dense row-major; shapes are written (rows, cols).
 *    Weights use PyTorch's layout: W_ih (4H, I), W_hh (4H, R), b_ih (4H),
 *    b_hh (4H), W_hr (P, H), the 4H rows in gate order i, f, g, o.
 *  - Sequences are time-major: element (t, b) of x is the row of I values at
 *    x + (t * B + b) * ldx.
 *  - The caller owns every buffer. No function allocates memory, prints or
 *    aborts, except the file reader (pylstm_safetensors_*) and the model
 *    handle (pylstm_model_load*, _create_*, _stream_open, and a run given
 *    work = NULL), which allocate and say so. Scratch
 *    memory comes from a caller-provided `work` buffer and the activations a
 *    training forward keeps for backward go into a caller-provided `reserve`
 *    buffer; the *_sizes_* functions say how many bytes each needs. Buffers
 *    need no particular alignment beyond that of their element type. Work
 *    sizes grow with the thread count (pylstm_set_num_threads) at the time of
 *    the query; a call given less work than that uses fewer threads, down to
 *    one, with identical results.
 *  - Every function returns a pylstm_status; PYLSTM_OK is 0. On error nothing
 *    the caller owns has been written, except where a function says otherwise.
 *  - Functions are thread-safe and reentrant: concurrent calls with distinct
 *    output, work and reserve buffers are fine.
 *  - Global state is exactly two things. (1) The CPU feature detection: run
 *    once, on first use, and cached (the environment variable PYLSTM_KERNEL
 *    is read then); concurrent first uses are safe. (2) The worker-thread
 *    pool: created, resized and ended only by pylstm_set_num_threads; compute
 *    functions only use it (a call finding it busy with another thread's call
 *    runs its parts itself, with the same results). A parallel step's parts
 *    go to whichever thread takes them first, the calling thread included,
 *    which runs every part no worker has started: a worker that is asleep or
 *    descheduled (other programs keeping the cores busy) never holds a step
 *    up unless it is in the middle of a part. A waiting thread, a worker
 *    between steps or the caller waiting for a worker's part, spins for at
 *    most about 5 microseconds (measured on a clock), then sleeps on a
 *    condition variable, so it never keeps a core from a thread with work
 *    for longer than that. Nothing else persists between calls.
 *  - fork() (POSIX): the pool is safe across fork. A forked child has only
 *    the thread that called fork, so the library (through pthread_atfork,
 *    registered when the first worker starts) resets the child's pool: the
 *    child keeps the parent's thread count (pylstm_get_num_threads) and
 *    starts its own workers on its first parallel call, computing exactly
 *    what the parent would. fork waits for a parallel step that another
 *    thread of the parent is running to finish. As with any multithreaded
 *    program, a child should not expect other threads' calls that were in
 *    progress at fork time to complete in it.
 *  - NaN and Inf in the inputs propagate to the outputs; they are never an
 *    error.
 *  - Byte order: the library computes on numbers in the host's byte order;
 *    every float and integer it reads or writes is the host's native type.
 *    The exception is the safetensors reader, whose tensor bytes
 *    (pylstm_safetensors_info.data) are the file's, little-endian as the
 *    format defines: a big-endian host must swap them (the reader itself
 *    decodes the header's lengths byte by byte on any host).
 *
 * ABI and stability. Until 1.0 (the 0.x series) a minor release (0.MINOR)
 * may change the API and ABI: functions and status codes may be added,
 * structures and signatures may change, and the changes are listed in the
 * changelog. A patch release (0.MINOR.PATCH) keeps the ABI: programs built
 * against 0.MINOR.x run with any 0.MINOR.y. The shared library's SOVERSION
 * is "0.MINOR" and moves with every minor release, so a program never loads
 * a library of another minor version by accident. Enumerations have explicit
 * values that do not change within a minor series.
 */
#ifndef PYLSTM_H
#define PYLSTM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version: these three numbers are its only source. The string, the
 * number and the Python package's version (setup.py reads these lines) are
 * derived from them. */
#define PYLSTM_VERSION_MAJOR 0
#define PYLSTM_VERSION_MINOR 1
#define PYLSTM_VERSION_PATCH 0
#define PYLSTM_VERSION_NUMBER \
    (PYLSTM_VERSION_MAJOR * 10000 + PYLSTM_VERSION_MINOR * 100 + PYLSTM_VERSION_PATCH)
#define PYLSTM_QUOTE_(x) #x
#define PYLSTM_EXPAND_AND_QUOTE_(x) PYLSTM_QUOTE_(x)
#define PYLSTM_VERSION_STRING                                                                  \
    PYLSTM_EXPAND_AND_QUOTE_(PYLSTM_VERSION_MAJOR)                                             \
    "." PYLSTM_EXPAND_AND_QUOTE_(PYLSTM_VERSION_MINOR)                                         \
    "." PYLSTM_EXPAND_AND_QUOTE_(PYLSTM_VERSION_PATCH)

/* Export macro. Static builds and the Python extension need nothing; a shared
 * build defines PYLSTM_BUILD_SHARED, and Windows programs using the DLL define
 * PYLSTM_USE_SHARED. */
#if defined(_WIN32) || defined(__CYGWIN__)
#if defined(PYLSTM_BUILD_SHARED)
#define PYLSTM_API __declspec(dllexport)
#elif defined(PYLSTM_USE_SHARED)
#define PYLSTM_API __declspec(dllimport)
#else
#define PYLSTM_API
#endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#define PYLSTM_API __attribute__((visibility("default")))
#else
#define PYLSTM_API
#endif

/* ---------------------------------------------------------------------------
 * Status codes
 * ------------------------------------------------------------------------- */

typedef enum pylstm_status {
    PYLSTM_OK = 0,
    PYLSTM_ERR_NULL_POINTER = 1,   /* a required pointer argument is NULL */
    PYLSTM_ERR_BAD_SIZE = 2,       /* a size is < 1, or sizes disagree (ld < cols, P >= H) */
    PYLSTM_ERR_OVERFLOW = 3,       /* a buffer size does not fit in size_t */
    PYLSTM_ERR_WORK_TOO_SMALL = 4, /* work_size below what *_sizes_* asked for */
    PYLSTM_ERR_RESERVE_TOO_SMALL = 5, /* reserve_size below what *_sizes_* asked for */
    PYLSTM_ERR_BAD_LENGTHS = 6,    /* a sequence length outside 1..T */
    PYLSTM_ERR_BAD_ARGUMENT = 7,   /* another argument out of range (dropout, flags) */
    PYLSTM_ERR_OUT_OF_MEMORY = 8,  /* an allocating function could not allocate */
    PYLSTM_ERR_IO = 9,             /* the file system refused a read */
    PYLSTM_ERR_FORMAT = 10,        /* a file is truncated, oversized or malformed */
    PYLSTM_ERR_NOT_FOUND = 11,     /* no tensor, metadata key or entry of that name/index */
    PYLSTM_ERR_BUFFER_TOO_SMALL = 12, /* a caller buffer (packed weights) below what is needed */
    PYLSTM_ERR_DTYPE = 13          /* an _f32 call on a float64 handle, or the reverse */
} pylstm_status;

/* A static, NUL-terminated English description of a status; "unknown status"
 * for values that are not a pylstm_status. Never NULL. */
PYLSTM_API const char *pylstm_strerror(pylstm_status status);

/* The library's version as "MAJOR.MINOR.PATCH" (static storage). Compare with
 * PYLSTM_VERSION_STRING to detect a header/library mismatch. */
PYLSTM_API const char *pylstm_version(void);

/* The library's version as the number MAJOR * 10000 + MINOR * 100 + PATCH
 * (0.1.0 is 100), for ordered comparisons: a program built against this
 * header can require pylstm_version_number() >= PYLSTM_VERSION_NUMBER at run
 * time when it links the shared library. */
PYLSTM_API unsigned pylstm_version_number(void);

/* ---------------------------------------------------------------------------
 * Parameters and sizes
 * ------------------------------------------------------------------------- */

/* The parameters of one direction of one layer (or of a cell). The library
 * only reads them. b_ih and b_hh may each be NULL (bias=False: zero); W_hr is
 * NULL exactly when P == 0. */
typedef struct pylstm_weights_f32 {
    const float *W_ih; /* (4H, I) */
    const float *W_hh; /* (4H, R) */
    const float *b_ih; /* (4H) or NULL */
    const float *b_hh; /* (4H) or NULL */
    const float *W_hr; /* (P, H) or NULL */
} pylstm_weights_f32;

typedef struct pylstm_weights_f64 {
    const double *W_ih;
    const double *W_hh;
    const double *b_ih;
    const double *b_hh;
    const double *W_hr;
} pylstm_weights_f64;

/* Where backward adds parameter gradients, shaped like the weights. Gradients
 * are accumulated (+=), like torch's .grad; zero them yourself to start anew.
 * Any member may be NULL: that gradient is then not computed. */
typedef struct pylstm_grads_f32 {
    float *W_ih;
    float *W_hh;
    float *b_ih;
    float *b_hh;
    float *W_hr;
} pylstm_grads_f32;

typedef struct pylstm_grads_f64 {
    double *W_ih;
    double *W_hh;
    double *b_ih;
    double *b_hh;
    double *W_hr;
} pylstm_grads_f64;

/* The shape of one layer direction: I, H, and P (0: no projection; else
 * 1 <= P < H, as torch requires). */
typedef struct pylstm_layer_desc {
    size_t input_size;
    size_t hidden_size;
    size_t proj_size;
} pylstm_layer_desc;

/* Bytes of caller memory an operation needs, for given T and B. */
typedef struct pylstm_sizes {
    size_t work_forward;  /* work for *_forward (inference) */
    size_t work_train;    /* work for *_forward_train */
    size_t reserve;       /* reserve written by *_forward_train, read by *_backward */
    size_t work_backward; /* work for *_backward */
} pylstm_sizes;

/* ---------------------------------------------------------------------------
 * One direction of one layer over a whole sequence
 *
 * x      (T, B, I)  element (t, b) at x + (t*B + b)*ldx, ldx >= I
 * h0, c0 (B, R), (B, H) contiguous; NULL means zeros
 * lengths (B) int64, each in 1..T, or NULL for "every sequence has length T".
 *        Steps t >= lengths[b] are padding, with torch's packed-sequence
 *        semantics: their output rows are zero and the state passes through
 *        unchanged, so h_n, c_n hold each sequence's state after its last real
 *        step.
 * reverse 0 reads t = 0..T-1; 1 reads t = T-1..0 (the reverse direction of a
 *        bidirectional layer; a short sequence starts at its own last real
 *        step, from h0, c0).
 * y      (T, B, R)  output h_t, row (t, b) at y + (t*B + b)*ldy, ldy >= R
 * h_n, c_n (B, R), (B, H): final states; either may be NULL (not written)
 * ------------------------------------------------------------------------- */

/* Sizes of work and reserve for a layer direction with T steps and batch B.
 * Returns PYLSTM_ERR_NULL_POINTER, PYLSTM_ERR_BAD_SIZE or PYLSTM_ERR_OVERFLOW. */
PYLSTM_API pylstm_status pylstm_layer_sizes_f32(const pylstm_layer_desc *desc, size_t T, size_t B,
                                                pylstm_sizes *out);
PYLSTM_API pylstm_status pylstm_layer_sizes_f64(const pylstm_layer_desc *desc, size_t T, size_t B,
                                                pylstm_sizes *out);

/* Inference: y, h_n, c_n from x, h0, c0. work: sizes.work_forward bytes. */
PYLSTM_API pylstm_status pylstm_layer_forward_f32(
    const pylstm_layer_desc *desc, const pylstm_weights_f32 *w, size_t T, size_t B, int reverse,
    const float *x, size_t ldx, const float *h0, const float *c0, const int64_t *lengths,
    float *y, size_t ldy, float *h_n, float *c_n, void *work, size_t work_size);
PYLSTM_API pylstm_status pylstm_layer_forward_f64(
    const pylstm_layer_desc *desc, const pylstm_weights_f64 *w, size_t T, size_t B, int reverse,
    const double *x, size_t ldx, const double *h0, const double *c0, const int64_t *lengths,
    double *y, size_t ldy, double *h_n, double *c_n, void *work, size_t work_size);

/* Training forward: as pylstm_layer_forward, and saves the gate activations
 * i, f, g, o and the states c, h (and o*tanh(c) when P > 0) of every step in
 * reserve (sizes.reserve bytes) for pylstm_layer_backward. work:
 * sizes.work_train bytes. The reserve is only meaningful to a backward call
 * with the same desc, weights, T, B, reverse, x and lengths. */
PYLSTM_API pylstm_status pylstm_layer_forward_train_f32(
    const pylstm_layer_desc *desc, const pylstm_weights_f32 *w, size_t T, size_t B, int reverse,
    const float *x, size_t ldx, const float *h0, const float *c0, const int64_t *lengths,
    float *y, size_t ldy, float *h_n, float *c_n, void *reserve, size_t reserve_size,
    void *work, size_t work_size);
PYLSTM_API pylstm_status pylstm_layer_forward_train_f64(
    const pylstm_layer_desc *desc, const pylstm_weights_f64 *w, size_t T, size_t B, int reverse,
    const double *x, size_t ldx, const double *h0, const double *c0, const int64_t *lengths,
    double *y, size_t ldy, double *h_n, double *c_n, void *reserve, size_t reserve_size,
    void *work, size_t work_size);

/* Backward through time. Given dL/dy (dy, (T, B, R), row stride lddy; NULL
 * means zero; rows of padding steps are ignored) and dL/dh_n, dL/dc_n
 * (NULL: zero), computes
 *   dx  (T, B, I), row stride lddx, overwritten (NULL: not computed)
 *   dh0 (B, R), dc0 (B, H), overwritten (each may be NULL)
 * and adds the parameter gradients into g (NULL: none). x, lengths and the
 * reserve must be those of the training forward. work: sizes.work_backward. */
PYLSTM_API pylstm_status pylstm_layer_backward_f32(
    const pylstm_layer_desc *desc, const pylstm_weights_f32 *w, size_t T, size_t B, int reverse,
    const float *x, size_t ldx, const int64_t *lengths, const void *reserve, size_t reserve_size,
    const float *dy, size_t lddy, const float *dh_n, const float *dc_n, float *dx, size_t lddx,
    float *dh0, float *dc0, const pylstm_grads_f32 *g, void *work, size_t work_size);
PYLSTM_API pylstm_status pylstm_layer_backward_f64(
    const pylstm_layer_desc *desc, const pylstm_weights_f64 *w, size_t T, size_t B, int reverse,
    const double *x, size_t ldx, const int64_t *lengths, const void *reserve,
    size_t reserve_size, const double *dy, size_t lddy, const double *dh_n, const double *dc_n,
    double *dx, size_t lddx, double *dh0, double *dc0, const pylstm_grads_f64 *g, void *work,
    size_t work_size);

/* ---------------------------------------------------------------------------
 * One cell step (torch.nn.LSTMCell): T = 1, no projection, no lengths.
 * x (B, I), h, c (B, H) (NULL: zeros) -> h_out, c_out (B, H). w->W_hr must be
 * NULL. The sizes are those of a layer with desc {I, H, 0} and T = 1.
 * ------------------------------------------------------------------------- */

PYLSTM_API pylstm_status pylstm_cell_sizes_f32(size_t input_size, size_t hidden_size, size_t B,
                                               pylstm_sizes *out);
PYLSTM_API pylstm_status pylstm_cell_sizes_f64(size_t input_size, size_t hidden_size, size_t B,
                                               pylstm_sizes *out);

PYLSTM_API pylstm_status pylstm_cell_forward_f32(size_t input_size, size_t hidden_size, size_t B,
                                                 const pylstm_weights_f32 *w, const float *x,
                                                 const float *h, const float *c, float *h_out,
                                                 float *c_out, void *work, size_t work_size);
PYLSTM_API pylstm_status pylstm_cell_forward_f64(size_t input_size, size_t hidden_size, size_t B,
                                                 const pylstm_weights_f64 *w, const double *x,
                                                 const double *h, const double *c, double *h_out,
                                                 double *c_out, void *work, size_t work_size);

/* As pylstm_cell_forward, saving i, f, g, o and the states in reserve. */
PYLSTM_API pylstm_status pylstm_cell_forward_train_f32(
    size_t input_size, size_t hidden_size, size_t B, const pylstm_weights_f32 *w,
    const float *x, const float *h, const float *c, float *h_out, float *c_out, void *reserve,
    size_t reserve_size, void *work, size_t work_size);
PYLSTM_API pylstm_status pylstm_cell_forward_train_f64(
    size_t input_size, size_t hidden_size, size_t B, const pylstm_weights_f64 *w,
    const double *x, const double *h, const double *c, double *h_out, double *c_out,
    void *reserve, size_t reserve_size, void *work, size_t work_size);

/* From dL/dh_out, dL/dc_out (either NULL: zero): dx (B, I), dh, dc (B, H)
 * (each may be NULL), and parameter gradients added into g (NULL: none). */
PYLSTM_API pylstm_status pylstm_cell_backward_f32(
    size_t input_size, size_t hidden_size, size_t B, const pylstm_weights_f32 *w,
    const float *x, const void *reserve, size_t reserve_size, const float *dh_out,
    const float *dc_out, float *dx, float *dh, float *dc, const pylstm_grads_f32 *g,
    void *work, size_t work_size);
PYLSTM_API pylstm_status pylstm_cell_backward_f64(
    size_t input_size, size_t hidden_size, size_t B, const pylstm_weights_f64 *w,
    const double *x, const void *reserve, size_t reserve_size, const double *dh_out,
    const double *dc_out, double *dx, double *dh, double *dc, const pylstm_grads_f64 *g,
    void *work, size_t work_size);

/* ---------------------------------------------------------------------------
 * The whole torch.nn.LSTM: num_layers stacked layers, each unidirectional or
 * bidirectional, optional projection, per-sequence lengths, dropout between
 * layers in training.
 *
 * Layer l (0-based) reads the output of layer l-1 (layer 0 reads x), so its
 * input size is I for l = 0 and D*R above. A bidirectional layer's output row
 * is [forward h_t, reverse h_t] (D*R values), as in torch.
 *
 * Parameters: an array of num_layers * D pylstm_weights, entry l*D + d for
 * layer l, direction d (0 forward, 1 reverse) — torch's weight_ih_l{l} and
 * weight_ih_l{l}_reverse. Gradients: an array of the same shape of
 * pylstm_grads (or NULL for none).
 *
 * x  (T, B, I), y (T, B, D*R), both contiguous
 * h0, h_n (num_layers*D, B, R); c0, c_n (num_layers*D, B, H), contiguous,
 *        entry l*D + d as in torch. h0, c0 NULL: zeros. h_n, c_n NULL: not
 *        written.
 * lengths as for the layer functions (NULL: all T).
 *
 * Dropout (training only): the output of every layer but the last is
 * multiplied by a mask whose entries are 0 with probability `dropout` and
 * 1/(1 - dropout) otherwise (all 0 when dropout == 1), as torch does.
 * The masks come from a counter-based generator, so a run is reproducible from
 * `seed` alone, whatever the thread count: element k (row-major index in the
 * (T, B, D*R) output) of layer l's mask is kept iff
 *     u(seed, l, k) = mix((mix(l + 1) ^ seed) + (k + 1) * 0x9E3779B97F4A7C15) >> 11
 * satisfies u * 2^-53 >= dropout, with mix the SplitMix64 finaliser
 * (z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB;
 * z ^= z >> 31). Backward applies the same masks, kept in the reserve.
 * ------------------------------------------------------------------------- */

typedef struct pylstm_model_desc {
    size_t input_size;  /* I */
    size_t hidden_size; /* H */
    size_t proj_size;   /* P: 0, or 1 <= P < H */
    size_t num_layers;  /* >= 1 */
    int bidirectional;  /* 0 or 1 */
} pylstm_model_desc;

/* Sizes of work and reserve for T steps and batch B. Returns
 * PYLSTM_ERR_NULL_POINTER, PYLSTM_ERR_BAD_SIZE, PYLSTM_ERR_BAD_ARGUMENT or
 * PYLSTM_ERR_OVERFLOW. */
PYLSTM_API pylstm_status pylstm_model_sizes_f32(const pylstm_model_desc *desc, size_t T, size_t B,
                                                pylstm_sizes *out);
PYLSTM_API pylstm_status pylstm_model_sizes_f64(const pylstm_model_desc *desc, size_t T, size_t B,
                                                pylstm_sizes *out);

/* Inference (no dropout). work: sizes.work_forward bytes. */
PYLSTM_API pylstm_status pylstm_model_forward_f32(const pylstm_model_desc *desc,
                                                  const pylstm_weights_f32 *w, size_t T,
                                                  size_t B, const float *x, const float *h0,
                                                  const float *c0, const int64_t *lengths,
                                                  float *y, float *h_n, float *c_n, void *work,
                                                  size_t work_size);
PYLSTM_API pylstm_status pylstm_model_forward_f64(const pylstm_model_desc *desc,
                                                  const pylstm_weights_f64 *w, size_t T,
                                                  size_t B, const double *x, const double *h0,
                                                  const double *c0, const int64_t *lengths,
                                                  double *y, double *h_n, double *c_n,
                                                  void *work, size_t work_size);

/* Training forward with dropout in [0, 1] and its seed; saves what backward
 * needs (every layer's gates and states, inputs and masks) in reserve
 * (sizes.reserve bytes). work: sizes.work_train bytes. */
PYLSTM_API pylstm_status pylstm_model_forward_train_f32(
    const pylstm_model_desc *desc, const pylstm_weights_f32 *w, size_t T, size_t B,
    const float *x, const float *h0, const float *c0, const int64_t *lengths, double dropout,
    uint64_t seed, float *y, float *h_n, float *c_n, void *reserve, size_t reserve_size,
    void *work, size_t work_size);
PYLSTM_API pylstm_status pylstm_model_forward_train_f64(
    const pylstm_model_desc *desc, const pylstm_weights_f64 *w, size_t T, size_t B,
    const double *x, const double *h0, const double *c0, const int64_t *lengths,
    double dropout, uint64_t seed, double *y, double *h_n, double *c_n, void *reserve,
    size_t reserve_size, void *work, size_t work_size);

/* Backward through every layer and direction. dy (T, B, D*R), dh_n, dc_n
 * (NULL: zero) -> dx (T, B, I), dh0, dc0 (each NULL: not computed), and
 * parameter gradients added into g (num_layers*D entries, or NULL). x,
 * lengths and the reserve must be those of the training forward. work:
 * sizes.work_backward bytes. */
PYLSTM_API pylstm_status pylstm_model_backward_f32(
    const pylstm_model_desc *desc, const pylstm_weights_f32 *w, size_t T, size_t B,
    const float *x, const int64_t *lengths, const void *reserve, size_t reserve_size,
    const float *dy, const float *dh_n, const float *dc_n, float *dx, float *dh0, float *dc0,
    const pylstm_grads_f32 *g, void *work, size_t work_size);
PYLSTM_API pylstm_status pylstm_model_backward_f64(
    const pylstm_model_desc *desc, const pylstm_weights_f64 *w, size_t T, size_t B,
    const double *x, const int64_t *lengths, const void *reserve, size_t reserve_size,
    const double *dy, const double *dh_n, const double *dc_n, double *dx, double *dh0,
    double *dc0, const pylstm_grads_f64 *g, void *work, size_t work_size);

/* Where a model's reserve (written by pylstm_model_forward_train_*) keeps the
 * activations of layer `layer`, direction `direction` (0 forward, 1 reverse):
 * pointers into the reserve, valid while it is. For step t (time order, both
 * directions) and batch row b:
 *   gates + (t*B + b)*4H : i, f, g, o after their nonlinearities (H each)
 *   c     + (t*B + b)*H  : c_t
 *   h     + (t*B + b)*R  : h_t (after the projection when P > 0)
 * Padding steps (t >= lengths[b]) hold no meaningful gate values; their c, h
 * rows repeat the state carried through. Returns PYLSTM_ERR_NULL_POINTER,
 * PYLSTM_ERR_BAD_SIZE (also for layer/direction out of range),
 * PYLSTM_ERR_OVERFLOW or PYLSTM_ERR_RESERVE_TOO_SMALL. */
typedef struct pylstm_trace_f32 {
    const float *gates;
    const float *c;
    const float *h;
} pylstm_trace_f32;

typedef struct pylstm_trace_f64 {
    const double *gates;
    const double *c;
    const double *h;
} pylstm_trace_f64;

PYLSTM_API pylstm_status pylstm_model_trace_f32(const pylstm_model_desc *desc, size_t T,
                                                size_t B, const void *reserve,
                                                size_t reserve_size, size_t layer,
                                                int direction, pylstm_trace_f32 *out);
PYLSTM_API pylstm_status pylstm_model_trace_f64(const pylstm_model_desc *desc, size_t T,
                                                size_t B, const void *reserve,
                                                size_t reserve_size, size_t layer,
                                                int direction, pylstm_trace_f64 *out);

/* ===========================================================================
 * safetensors reader (src_c/safetensors.c)
 *
 * Reads the safetensors format (https://github.com/huggingface/safetensors):
 *   - 8 bytes: N, the header length, unsigned 64-bit little-endian;
 *   - N bytes: a UTF-8 JSON object that begins with '{' and may be padded at
 *     the end with spaces, mapping each tensor name to
 *       {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}
 *     plus an optional "__metadata__" object of string -> string;
 *   - the rest: the byte buffer. [begin, end) is a tensor's byte range in it,
 *     row-major, little-endian.
 *
 * The file is treated as untrusted. It is rejected with PYLSTM_ERR_FORMAT
 * unless: N <= PYLSTM_SAFETENSORS_MAX_HEADER and 8 + N <= the file size; the
 * header is one JSON object as above (strict JSON: strings valid UTF-8 with
 * escapes including \uXXXX surrogate pairs, but no NUL character; shapes and
 * offsets plain non-negative decimal integers that fit in size_t; no other
 * keys in a tensor entry, no nesting besides the entries and __metadata__);
 * names are unique (also among metadata keys); every dtype is one of
 * pylstm_st_dtype; ndim <= PYLSTM_SAFETENSORS_MAX_NDIM; each tensor's
 * end - begin equals product(shape) * element size, computed without
 * overflow; and the tensors, sorted by offset, tile the byte buffer exactly,
 * without overlaps or holes (as the reference implementation requires).
 * Empty tensors (a dimension 0) and scalars (shape []) are allowed.
 *
 * These functions and the model handle's (below) are the only ones that
 * allocate memory; only these and pylstm_model_load touch files. A
 * pylstm_safetensors is immutable once made, so concurrent reads of
 * one are fine; free it exactly once with pylstm_safetensors_free.
 * ========================================================================= */

/* Largest header length accepted (the reference implementation's limit). */
#define PYLSTM_SAFETENSORS_MAX_HEADER 100000000u
/* Most dimensions a tensor may have. */
#define PYLSTM_SAFETENSORS_MAX_NDIM 8

/* Element types the format defines, by their names in the header ("F32"...).
 * pylstm's models use F32 and F64 only; the others are recognised so a file
 * holding them can be opened and inspected. */
typedef enum pylstm_st_dtype {
    PYLSTM_ST_BOOL = 0,
    PYLSTM_ST_U8 = 1,
    PYLSTM_ST_I8 = 2,
    PYLSTM_ST_U16 = 3,
    PYLSTM_ST_I16 = 4,
    PYLSTM_ST_U32 = 5,
    PYLSTM_ST_I32 = 6,
    PYLSTM_ST_U64 = 7,
    PYLSTM_ST_I64 = 8,
    PYLSTM_ST_F16 = 9,
    PYLSTM_ST_BF16 = 10,
    PYLSTM_ST_F32 = 11,
    PYLSTM_ST_F64 = 12,
    PYLSTM_ST_C64 = 13, /* complex64: two float32 */
    PYLSTM_ST_F8_E5M2 = 14,
    PYLSTM_ST_F8_E4M3 = 15,
    PYLSTM_ST_F8_E8M0 = 16,
    PYLSTM_ST_F8_E4M3FNUZ = 17,
    PYLSTM_ST_F8_E5M2FNUZ = 18,
    PYLSTM_ST_F6_E2M3 = 19, /* 6 bits per element */
    PYLSTM_ST_F6_E3M2 = 20, /* 6 bits per element */
    PYLSTM_ST_F4 = 21       /* 4 bits per element */
} pylstm_st_dtype;

/* An opened file: its bytes and the parsed, checked header. Opaque. */
typedef struct pylstm_safetensors pylstm_safetensors;

/* One tensor of a file. Every pointer points into the pylstm_safetensors it
 * came from and stays valid until that is freed. */
typedef struct pylstm_safetensors_info {
    const char *name;       /* NUL-terminated UTF-8, the header's key */
    pylstm_st_dtype dtype;
    const char *dtype_name; /* "F32", ... (static storage) */
    size_t element_bits;    /* bits per element: 32 for F32, 4 for F4 */
    size_t ndim;            /* 0 (a scalar) .. PYLSTM_SAFETENSORS_MAX_NDIM */
    size_t shape[PYLSTM_SAFETENSORS_MAX_NDIM]; /* shape[0..ndim-1]; the rest 0 */
    size_t offset;          /* begin of data_offsets, relative to the byte buffer */
    size_t nbytes;          /* end - begin = product(shape) * element_bits / 8 */
    const void *data;       /* nbytes row-major bytes, the file's: little-endian
                               whatever the host (see "Byte order" at the top).
                               Not necessarily aligned for the element type (the
                               format does not promise it): memcpy them out. */
} pylstm_safetensors_info;

/* Reads the whole file at `path` and checks it as described above. `path`
 * is a NUL-terminated UTF-8 name: on Windows it is converted to UTF-16 and
 * opened with _wfopen, so any name works whatever the ANSI code page;
 * elsewhere its bytes are the name given to the system unchanged. On POSIX
 * systems only a regular file is read, and no more than its size when opened:
 * a FIFO (opened without blocking), a device such as /dev/zero or a socket is
 * refused before anything is read. On success *out is a new object
 * the caller owns (free with pylstm_safetensors_free); on error *out is NULL
 * and nothing stays allocated. Returns PYLSTM_ERR_NULL_POINTER, PYLSTM_ERR_IO
 * (the file could not be opened or read, e.g. no such file or a directory:
 * errno tells why; EISDIR for a directory and EINVAL for a FIFO, device or
 * socket on POSIX; EILSEQ on Windows for a name that is not valid UTF-8),
 * PYLSTM_ERR_OUT_OF_MEMORY or PYLSTM_ERR_FORMAT. */
PYLSTM_API pylstm_status pylstm_safetensors_open(const char *path, pylstm_safetensors **out);

/* As pylstm_safetensors_open for the `len` bytes at `bytes`, which are copied
 * (the caller keeps ownership of them). bytes may be NULL only if len is 0
 * (which is PYLSTM_ERR_FORMAT). Returns PYLSTM_ERR_NULL_POINTER,
 * PYLSTM_ERR_OUT_OF_MEMORY or PYLSTM_ERR_FORMAT. */
PYLSTM_API pylstm_status pylstm_safetensors_parse(const void *bytes, size_t len,
                                                  pylstm_safetensors **out);

/* Releases everything `file` owns; NULL is a no-op. Pointers obtained from it
 * become invalid. */
PYLSTM_API void pylstm_safetensors_free(pylstm_safetensors *file);

/* The number of tensors (0 for a file holding only metadata) into *count.
 * Returns PYLSTM_ERR_NULL_POINTER. */
PYLSTM_API pylstm_status pylstm_safetensors_count(const pylstm_safetensors *file, size_t *count);

/* The tensor at `index` (0 .. count-1, in header order) into *info.
 * Returns PYLSTM_ERR_NULL_POINTER or PYLSTM_ERR_NOT_FOUND (index out of
 * range; *info untouched). */
PYLSTM_API pylstm_status pylstm_safetensors_tensor(const pylstm_safetensors *file, size_t index,
                                                   pylstm_safetensors_info *info);

/* The index of the tensor called `name` into *index (O(log count)). Returns
 * PYLSTM_ERR_NULL_POINTER or PYLSTM_ERR_NOT_FOUND (no such tensor; *index
 * untouched). */
PYLSTM_API pylstm_status pylstm_safetensors_find(const pylstm_safetensors *file, const char *name,
                                                 size_t *index);

/* The value of `key` in the header's "__metadata__" into *value (a
 * NUL-terminated UTF-8 string owned by `file`). Returns
 * PYLSTM_ERR_NULL_POINTER or PYLSTM_ERR_NOT_FOUND (no such key, or no
 * metadata; *value set to NULL). */
PYLSTM_API pylstm_status pylstm_safetensors_metadata(const pylstm_safetensors *file,
                                                     const char *key, const char **value);

/* The number of "__metadata__" entries into *count (0 without metadata).
 * Returns PYLSTM_ERR_NULL_POINTER. */
PYLSTM_API pylstm_status pylstm_safetensors_metadata_count(const pylstm_safetensors *file,
                                                           size_t *count);

/* The metadata entry at `index` (0 .. count-1, in header order): *key and
 * *value, NUL-terminated UTF-8 owned by `file`. Returns
 * PYLSTM_ERR_NULL_POINTER or PYLSTM_ERR_NOT_FOUND (index out of range). */
PYLSTM_API pylstm_status pylstm_safetensors_metadata_entry(const pylstm_safetensors *file,
                                                           size_t index, const char **key,
                                                           const char **value);
/* ===========================================================================
 * end of the safetensors reader
 * ========================================================================= */

/* ---------------------------------------------------------------------------
 * Threads and kernels
 * ------------------------------------------------------------------------- */

/* Sets how many threads (including the caller's) the compute functions use,
 * 1..64; starts or ends the library's worker threads (this is the only
 * function that does). It may be called at any time: it waits for a parallel
 * job in progress, and a call whose work was sized for another thread count
 * runs with the threads its work allows. Results are bit-identical for every thread count. Without thread support
 * on the platform the count stays 1. The default is 1; the Python package
 * sets it to the number of cores it may use. A forked child inherits the
 * count and starts its own workers when it first needs them (see fork() at
 * the top). Returns PYLSTM_ERR_BAD_SIZE or PYLSTM_ERR_OUT_OF_MEMORY (a thread
 * could not start, or the fork handlers could not be registered; threads
 * that did start are kept). */
PYLSTM_API pylstm_status pylstm_set_num_threads(size_t n);

/* The number of threads compute functions use now. */
PYLSTM_API size_t pylstm_get_num_threads(void);

/* The matrix-product kernel chosen for this CPU: "avx512", "avx2", "neon" or
 * "ref" (portable C). The environment variable PYLSTM_KERNEL=ref|avx2|avx512|neon,
 * read once at first use, forces a kernel no higher than the CPU supports, so
 * every kernel can be tested on one machine. Static string. */
PYLSTM_API const char *pylstm_gemm_kernel(void);

/* ---------------------------------------------------------------------------
 * Streaming: one time step of a unidirectional model from packed weights
 *
 * For real-time inference (audio, control, sensors) that feeds one x_t at a
 * time. pylstm_stream_pack_* copies every layer's W_ih^T, W_hh^T and W_hr^T
 * into the matrix-product kernel's packed layout and b_ih + b_hh into one bias
 * per layer, once; each pylstm_stream_step_* then only multiplies and applies
 * the gates: no packing, no allocation, no threads woken (a step runs in the
 * calling thread). A step's results are those of pylstm_model_forward_* with
 * T = 1 and h0 = h, c0 = c, bit for bit on the same machine, so T steps equal
 * one forward over T steps to rounding (that call multiplies all T inputs by
 * W_ih at once, which can sum in another order).
 *
 * desc   as for the model; bidirectional must be 0 (the reverse direction of a
 *        step needs the steps after it): PYLSTM_ERR_BAD_ARGUMENT otherwise.
 * packed caller memory of packed_bytes (from pylstm_stream_sizes_*), element
 *        alignment only. It holds a header recording desc, the element type
 *        and the address alignment it was packed at, then the packed weights;
 *        it does not point to the weights, which are not read again by steps
 *        (re-pack after changing them). The packed layout depends on where the
 *        buffer starts modulo 64: copying it to an address with another
 *        alignment makes steps return PYLSTM_ERR_BAD_ARGUMENT (pack again
 *        there). Packed buffers are process-local, not a file format. Steps
 *        only read it, so concurrent steps (of several streams) may share one.
 * x      (B, I): x_t
 * h      (num_layers, B, R): h_{t-1} of every layer in, h_t out
 * c      (num_layers, B, H): c_{t-1} in, c_t out
 * y      (B, R): the last layer's h_t (a copy of its entry in h)
 *        x, h, c and y must not overlap.
 * ------------------------------------------------------------------------- */

/* Bytes of the packed buffer (independent of B) and of the work a step with
 * batch B needs, into *packed_bytes and *work_bytes. Returns
 * PYLSTM_ERR_NULL_POINTER, PYLSTM_ERR_BAD_SIZE (a size < 1, proj_size >=
 * hidden_size), PYLSTM_ERR_BAD_ARGUMENT (bidirectional) or
 * PYLSTM_ERR_OVERFLOW. */
PYLSTM_API pylstm_status pylstm_stream_sizes_f32(const pylstm_model_desc *desc, size_t B,
                                                 size_t *packed_bytes, size_t *work_bytes);
PYLSTM_API pylstm_status pylstm_stream_sizes_f64(const pylstm_model_desc *desc, size_t B,
                                                 size_t *packed_bytes, size_t *work_bytes);

/* Packs the num_layers entries of w (layer l's parameters at w[l], as for the
 * model) into packed (packed_size >= packed_bytes). Returns
 * PYLSTM_ERR_NULL_POINTER (also a missing W_ih, W_hh, or W_hr when P > 0),
 * PYLSTM_ERR_BAD_SIZE, PYLSTM_ERR_BAD_ARGUMENT (bidirectional, or W_hr given
 * with P == 0), PYLSTM_ERR_OVERFLOW or PYLSTM_ERR_BUFFER_TOO_SMALL
 * (packed_size too small); on error packed is untouched. */
PYLSTM_API pylstm_status pylstm_stream_pack_f32(const pylstm_model_desc *desc,
                                                const pylstm_weights_f32 *w, void *packed,
                                                size_t packed_size);
PYLSTM_API pylstm_status pylstm_stream_pack_f64(const pylstm_model_desc *desc,
                                                const pylstm_weights_f64 *w, void *packed,
                                                size_t packed_size);

/* One step t for every layer, bottom up (layer l > 0 reads layer l-1's h_t):
 * the equations at the top of this file, then y = h_t of the last layer.
 * work: work_bytes for this B (work_size at least that). Its contents need
 * not survive between steps, but reusing one work buffer for a stream's
 * steps is faster with B = 1: a step leaves in it the direction in which it
 * read the packed weights, and the next one reads them the other way, finding
 * the last-read part still in cache (results do not depend on it). Returns
 * PYLSTM_ERR_NULL_POINTER, PYLSTM_ERR_BAD_SIZE, PYLSTM_ERR_OVERFLOW,
 * PYLSTM_ERR_BAD_ARGUMENT (bidirectional, or packed not made by
 * pylstm_stream_pack_* of the same type for this desc, or moved, see above),
 * PYLSTM_ERR_BUFFER_TOO_SMALL (packed_size below packed_bytes) or
 * PYLSTM_ERR_WORK_TOO_SMALL (work_size below work_bytes). */
PYLSTM_API pylstm_status pylstm_stream_step_f32(const pylstm_model_desc *desc,
                                                const void *packed, size_t packed_size,
                                                size_t B, const float *x, float *h, float *c,
                                                float *y, void *work, size_t work_size);
PYLSTM_API pylstm_status pylstm_stream_step_f64(const pylstm_model_desc *desc,
                                                const void *packed, size_t packed_size,
                                                size_t B, const double *x, double *h, double *c,
                                                double *y, void *work, size_t work_size);


/* ===========================================================================
 * Model handle: a whole torch.nn.LSTM whose parameters the library owns
 *
 * A pylstm_model holds its own copy of every parameter (host byte order,
 * torch's layout) and the same weights packed for the matrix-product kernel,
 * made once when the handle is created: runs read W_ih^T, W_hh^T and W_hr^T
 * packed instead of packing them on every call (W_hh^T is packed for the
 * thread count at creation; a run at another count packs it into its work,
 * as pylstm_model_forward_* does), and streams step from weights packed as
 * pylstm_stream_pack_* packs them (unidirectional models only). A run
 * computes exactly what pylstm_model_forward_* computes with the handle's
 * weights, bit for bit. The handle is the way to use the library from
 * another language: load a file written by Python's pylstm.save (or any
 * torch-named safetensors LSTM state dict), run batches, stream steps, free.
 *
 * Ownership and lifetime: the caller owns the handle and frees it exactly
 * once with pylstm_model_free, after every run and every stream opened on it
 * has finished (a stream points to its handle, it does not copy it). Nothing
 * a handle function returns points into caller memory; pointers it hands out
 * (parameter names and values) live as long as the handle.
 *
 * Threads: a handle is never written after creation. Any number of threads
 * may run it and open streams on it at the same time, each with its own
 * output and work buffers. A stream is not shared: step it from one thread
 * at a time.
 *
 * Allocation: creating a handle (load, create) and opening a stream allocate
 * with malloc, and their frees release everything. Runs and steps allocate
 * nothing, unless a run is given work = NULL, which makes it allocate its
 * work and free it before returning.
 *
 * dtype: a handle holds float32 or float64 parameters (a file's tensors
 * decide); the _f32 functions need a float32 handle, the _f64 ones a float64
 * handle, else PYLSTM_ERR_DTYPE.
 * ========================================================================= */

typedef struct pylstm_model pylstm_model;

typedef enum pylstm_dtype {
    PYLSTM_DTYPE_F32 = 1,
    PYLSTM_DTYPE_F64 = 2
} pylstm_dtype;

/* What a handle computes. struct_size lets the struct grow in later versions
 * without breaking callers: set it to sizeof(pylstm_model_config) before
 * passing the struct to pylstm_model_config_get; the library fills only the
 * fields that fit. batch_first and dropout are recorded from pylstm.save's
 * metadata for the caller's information (runs are always time-major and
 * never apply dropout); a file without that metadata, and a handle from
 * pylstm_model_create_*, give 0 for both. */
typedef struct pylstm_model_config {
    size_t struct_size;
    pylstm_dtype dtype;
    size_t input_size;  /* I */
    size_t hidden_size; /* H */
    size_t proj_size;   /* P: 0, or 1 <= P < H */
    size_t num_layers;  /* >= 1 */
    int bidirectional;  /* 0 or 1 */
    int bias;           /* 0: the model has no bias tensors */
    int batch_first;    /* informational, see above */
    double dropout;     /* informational, see above */
} pylstm_model_config;

/* Loads a model from the safetensors file at `path` (a NUL-terminated UTF-8
 * name, opened as pylstm_safetensors_open opens it: _wfopen on Windows, fopen
 * elsewhere). The file is untrusted:
 * it is checked as pylstm_safetensors_open checks it; then its configuration
 * comes from the "pylstm" metadata entry that pylstm.save writes, or, without
 * one, from torch's state-dict names and shapes:
 *  - metadata: a flat JSON object {"class": "LSTM" or "LSTMCell",
 *    "input_size", "hidden_size", "num_layers", "proj_size" (integers),
 *    "bias", "batch_first", "bidirectional" (true/false), "dropout" (a number
 *    in [0, 1]), "dtype": "float32" or "float64"}; class, input_size and
 *    hidden_size are required, the rest default as in torch; an LSTMCell's
 *    object may hold only class, input_size, hidden_size, bias and dtype.
 *    Unknown or repeated keys, other types, nesting, sizes < 1 (proj_size
 *    < 0) or not integers, and a dtype other than the tensors' are errors.
 *  - names: weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k},
 *    weight_hr_l{k}, each also with the suffix _reverse (torch.nn.LSTM), or
 *    weight_ih, weight_hh, bias_ih, bias_hh (torch.nn.LSTMCell): I and H from
 *    weight_ih_l0's shape (4H, I), num_layers from the largest k, bias from
 *    bias_ih_l0, bidirectional from any _reverse, P from weight_hh_l0's
 *    columns when weight_hr_l0 exists.
 * Every tensor the configuration implies must be present with exactly
 * torch's shape (biases 1-D), all F32 or all F64, and no other tensor may be
 * present. Counts and shapes are checked against the file before anything
 * the configuration sizes is allocated, so a small file cannot make the
 * library allocate more than a few times its own size. An LSTMCell loads as
 * a one-layer unidirectional LSTM. On success *out is a new handle; on error
 * *out is NULL and nothing stays allocated. Returns PYLSTM_ERR_NULL_POINTER,
 * PYLSTM_ERR_IO, PYLSTM_ERR_OUT_OF_MEMORY or PYLSTM_ERR_FORMAT (not
 * safetensors, bad metadata, missing, extra or misshapen tensors, mixed or
 * other dtypes). */
PYLSTM_API pylstm_status pylstm_model_load(const char *path, pylstm_model **out);

/* As pylstm_model_load for a file image of `len` bytes in memory (read, not
 * kept: the caller keeps ownership of `bytes`). bytes may be NULL only if
 * len is 0 (PYLSTM_ERR_FORMAT). */
PYLSTM_API pylstm_status pylstm_model_load_bytes(const void *bytes, size_t len,
                                                 pylstm_model **out);

/* A handle from caller weights: desc as for pylstm_model_forward_*, w an
 * array of num_layers * D entries (layer l, direction d at w[l*D + d], as for
 * the model functions), copied, so the caller may free or change them
 * afterwards. Returns PYLSTM_ERR_NULL_POINTER (also a missing W_ih, W_hh, or
 * W_hr when P > 0), PYLSTM_ERR_BAD_SIZE, PYLSTM_ERR_BAD_ARGUMENT (also W_hr
 * given with P == 0), PYLSTM_ERR_OVERFLOW or PYLSTM_ERR_OUT_OF_MEMORY; on
 * error *out is NULL. If every b_ih and b_hh is NULL the handle has no bias
 * (config bias = 0, no bias parameters); otherwise a NULL one is stored as
 * zeros. */
PYLSTM_API pylstm_status pylstm_model_create_f32(const pylstm_model_desc *desc,
                                                 const pylstm_weights_f32 *w,
                                                 pylstm_model **out);
PYLSTM_API pylstm_status pylstm_model_create_f64(const pylstm_model_desc *desc,
                                                 const pylstm_weights_f64 *w,
                                                 pylstm_model **out);

/* Releases the handle and everything it owns; NULL is a no-op. */
PYLSTM_API void pylstm_model_free(pylstm_model *model);

/* The handle's configuration into *out (out->struct_size set by the caller,
 * see pylstm_model_config). Returns PYLSTM_ERR_NULL_POINTER or
 * PYLSTM_ERR_BAD_ARGUMENT (struct_size smaller than the first two fields). */
PYLSTM_API pylstm_status pylstm_model_config_get(const pylstm_model *model,
                                                 pylstm_model_config *out);

/* Bytes of work pylstm_model_run_* needs for T steps and batch B, into
 * *work_bytes (depends on the thread count at the time of the query, like
 * every *_sizes_* function). Returns PYLSTM_ERR_NULL_POINTER,
 * PYLSTM_ERR_BAD_SIZE or PYLSTM_ERR_OVERFLOW. */
PYLSTM_API pylstm_status pylstm_model_run_size(const pylstm_model *model, size_t T, size_t B,
                                               size_t *work_bytes);

/* Inference over a batch, exactly pylstm_model_forward_* with the handle's
 * weights: x (T, B, I), h0 (L*D, B, R) and c0 (L*D, B, H) or NULL for zeros,
 * lengths (B) or NULL, y (T, B, D*R), h_n, c_n (NULL: not written). work:
 * pylstm_model_run_size bytes, or NULL (the call allocates). Returns the
 * codes of pylstm_model_forward_*, PYLSTM_ERR_DTYPE and
 * PYLSTM_ERR_OUT_OF_MEMORY (work NULL only). */
PYLSTM_API pylstm_status pylstm_model_run_f32(const pylstm_model *model, size_t T, size_t B,
                                              const float *x, const float *h0, const float *c0,
                                              const int64_t *lengths, float *y, float *h_n,
                                              float *c_n, void *work, size_t work_size);
PYLSTM_API pylstm_status pylstm_model_run_f64(const pylstm_model *model, size_t T, size_t B,
                                              const double *x, const double *h0,
                                              const double *c0, const int64_t *lengths,
                                              double *y, double *h_n, double *c_n, void *work,
                                              size_t work_size);

/* The number of parameter tensors, and tensor `index` (0 .. count-1, in
 * torch.nn.LSTM's state-dict order: per layer and direction weight_ih,
 * weight_hh, bias_ih, bias_hh, weight_hr): its torch name ("weight_ih_l0",
 * "bias_hh_l1_reverse"; an LSTMCell's file too gets these one-layer names),
 * its shape (rows, cols), cols = 0 for a 1-D tensor (a bias of `rows`
 * elements), and a read-only pointer to its values in the handle's element
 * type, host byte order. Name and values are owned by the handle. Returns
 * PYLSTM_ERR_NULL_POINTER or PYLSTM_ERR_NOT_FOUND (index >= count; outputs
 * untouched). */
PYLSTM_API pylstm_status pylstm_model_param_count(const pylstm_model *model, size_t *count);
PYLSTM_API pylstm_status pylstm_model_param(const pylstm_model *model, size_t index,
                                            const char **name, size_t *rows, size_t *cols,
                                            const void **values);

/* ---- Streaming on a handle ----------------------------------------------
 *
 * A pylstm_model_stream keeps the state (h, c) of every layer for a batch of
 * B sequences fed one step at a time, and its own work buffer; it steps from
 * the weights its handle packed at creation, so a step neither packs nor
 * allocates (pylstm_stream_step_*). The model must be unidirectional
 * (PYLSTM_ERR_BAD_ARGUMENT otherwise). Several streams may run on one handle
 * at once; one stream must not be stepped from two threads at the same time.
 * A step equals pylstm_model_run_* with T = 1 from the stream's state, bit
 * for bit. */
typedef struct pylstm_model_stream pylstm_model_stream;

/* Opens a stream for batch B with zero state. Returns PYLSTM_ERR_NULL_POINTER,
 * PYLSTM_ERR_BAD_SIZE, PYLSTM_ERR_BAD_ARGUMENT, PYLSTM_ERR_OVERFLOW or
 * PYLSTM_ERR_OUT_OF_MEMORY; on error *out is NULL. */
PYLSTM_API pylstm_status pylstm_model_stream_open(const pylstm_model *model, size_t B,
                                                  pylstm_model_stream **out);

/* Frees the stream; NULL is a no-op. */
PYLSTM_API void pylstm_model_stream_free(pylstm_model_stream *stream);

/* Sets the state: h (L, B, R), c (L, B, H) in the handle's element type, each
 * NULL for zeros (copied). Returns PYLSTM_ERR_NULL_POINTER (stream NULL). */
PYLSTM_API pylstm_status pylstm_model_stream_reset(pylstm_model_stream *stream, const void *h,
                                                   const void *c);

/* One step: x (B, I) -> y (B, R), the last layer's h_t; the state advances.
 * x and y must not overlap. Returns PYLSTM_ERR_NULL_POINTER or
 * PYLSTM_ERR_DTYPE (then the state is unchanged). */
PYLSTM_API pylstm_status pylstm_model_stream_step_f32(pylstm_model_stream *stream,
                                                      const float *x, float *y);
PYLSTM_API pylstm_status pylstm_model_stream_step_f64(pylstm_model_stream *stream,
                                                      const double *x, double *y);

/* Copies the current state out: h (L, B, R), c (L, B, H), in the handle's
 * element type; either may be NULL. Returns PYLSTM_ERR_NULL_POINTER (stream
 * NULL). */
PYLSTM_API pylstm_status pylstm_model_stream_state(const pylstm_model_stream *stream, void *h,
                                                   void *c);

#ifdef __cplusplus
}
#endif

#endif /* PYLSTM_H */
