# Declarations of the C API in src_c/include/pylstm.h, for Cython. It mirrors
# the header and nothing more; see the header for what each function does.
from libc.stdint cimport int64_t, uint64_t

cdef extern from "pylstm.h" nogil:
    ctypedef enum pylstm_status:
        PYLSTM_OK
        PYLSTM_ERR_NULL_POINTER
        PYLSTM_ERR_BAD_SIZE
        PYLSTM_ERR_OVERFLOW
        PYLSTM_ERR_WORK_TOO_SMALL
        PYLSTM_ERR_RESERVE_TOO_SMALL
        PYLSTM_ERR_BAD_LENGTHS
        PYLSTM_ERR_BAD_ARGUMENT
        PYLSTM_ERR_OUT_OF_MEMORY
        PYLSTM_ERR_IO
        PYLSTM_ERR_FORMAT
        PYLSTM_ERR_NOT_FOUND
        PYLSTM_ERR_BUFFER_TOO_SMALL
        PYLSTM_ERR_DTYPE

    const char *PYLSTM_VERSION_STRING
    const char *pylstm_strerror(pylstm_status status)
    const char *pylstm_version()

    ctypedef struct pylstm_weights_f32:
        const float *W_ih
        const float *W_hh
        const float *b_ih
        const float *b_hh
        const float *W_hr
    ctypedef struct pylstm_weights_f64:
        const double *W_ih
        const double *W_hh
        const double *b_ih
        const double *b_hh
        const double *W_hr
    ctypedef struct pylstm_grads_f32:
        float *W_ih
        float *W_hh
        float *b_ih
        float *b_hh
        float *W_hr
    ctypedef struct pylstm_grads_f64:
        double *W_ih
        double *W_hh
        double *b_ih
        double *b_hh
        double *W_hr

    ctypedef struct pylstm_layer_desc:
        size_t input_size
        size_t hidden_size
        size_t proj_size
    ctypedef struct pylstm_sizes:
        size_t work_forward
        size_t work_train
        size_t reserve
        size_t work_backward
    ctypedef struct pylstm_model_desc:
        size_t input_size
        size_t hidden_size
        size_t proj_size
        size_t num_layers
        int bidirectional

    pylstm_status pylstm_layer_sizes_f32(const pylstm_layer_desc *desc, size_t T, size_t B, pylstm_sizes *out)
    pylstm_status pylstm_layer_sizes_f64(const pylstm_layer_desc *desc, size_t T, size_t B, pylstm_sizes *out)
    pylstm_status pylstm_layer_forward_f32(const pylstm_layer_desc *desc, const pylstm_weights_f32 *w, size_t T, size_t B, int reverse, const float *x, size_t ldx, const float *h0, const float *c0, const int64_t *lengths, float *y, size_t ldy, float *h_n, float *c_n, void *work, size_t work_size)
    pylstm_status pylstm_layer_forward_f64(const pylstm_layer_desc *desc, const pylstm_weights_f64 *w, size_t T, size_t B, int reverse, const double *x, size_t ldx, const double *h0, const double *c0, const int64_t *lengths, double *y, size_t ldy, double *h_n, double *c_n, void *work, size_t work_size)
    pylstm_status pylstm_layer_forward_train_f32(const pylstm_layer_desc *desc, const pylstm_weights_f32 *w, size_t T, size_t B, int reverse, const float *x, size_t ldx, const float *h0, const float *c0, const int64_t *lengths, float *y, size_t ldy, float *h_n, float *c_n, void *reserve, size_t reserve_size, void *work, size_t work_size)
    pylstm_status pylstm_layer_forward_train_f64(const pylstm_layer_desc *desc, const pylstm_weights_f64 *w, size_t T, size_t B, int reverse, const double *x, size_t ldx, const double *h0, const double *c0, const int64_t *lengths, double *y, size_t ldy, double *h_n, double *c_n, void *reserve, size_t reserve_size, void *work, size_t work_size)
    pylstm_status pylstm_layer_backward_f32(const pylstm_layer_desc *desc, const pylstm_weights_f32 *w, size_t T, size_t B, int reverse, const float *x, size_t ldx, const int64_t *lengths, const void *reserve, size_t reserve_size, const float *dy, size_t lddy, const float *dh_n, const float *dc_n, float *dx, size_t lddx, float *dh0, float *dc0, const pylstm_grads_f32 *g, void *work, size_t work_size)
    pylstm_status pylstm_layer_backward_f64(const pylstm_layer_desc *desc, const pylstm_weights_f64 *w, size_t T, size_t B, int reverse, const double *x, size_t ldx, const int64_t *lengths, const void *reserve, size_t reserve_size, const double *dy, size_t lddy, const double *dh_n, const double *dc_n, double *dx, size_t lddx, double *dh0, double *dc0, const pylstm_grads_f64 *g, void *work, size_t work_size)

    pylstm_status pylstm_cell_sizes_f32(size_t input_size, size_t hidden_size, size_t B, pylstm_sizes *out)
    pylstm_status pylstm_cell_sizes_f64(size_t input_size, size_t hidden_size, size_t B, pylstm_sizes *out)
    pylstm_status pylstm_cell_forward_f32(size_t input_size, size_t hidden_size, size_t B, const pylstm_weights_f32 *w, const float *x, const float *h, const float *c, float *h_out, float *c_out, void *work, size_t work_size)
    pylstm_status pylstm_cell_forward_f64(size_t input_size, size_t hidden_size, size_t B, const pylstm_weights_f64 *w, const double *x, const double *h, const double *c, double *h_out, double *c_out, void *work, size_t work_size)
    pylstm_status pylstm_cell_forward_train_f32(size_t input_size, size_t hidden_size, size_t B, const pylstm_weights_f32 *w, const float *x, const float *h, const float *c, float *h_out, float *c_out, void *reserve, size_t reserve_size, void *work, size_t work_size)
    pylstm_status pylstm_cell_forward_train_f64(size_t input_size, size_t hidden_size, size_t B, const pylstm_weights_f64 *w, const double *x, const double *h, const double *c, double *h_out, double *c_out, void *reserve, size_t reserve_size, void *work, size_t work_size)
    pylstm_status pylstm_cell_backward_f32(size_t input_size, size_t hidden_size, size_t B, const pylstm_weights_f32 *w, const float *x, const void *reserve, size_t reserve_size, const float *dh_out, const float *dc_out, float *dx, float *dh, float *dc, const pylstm_grads_f32 *g, void *work, size_t work_size)
    pylstm_status pylstm_cell_backward_f64(size_t input_size, size_t hidden_size, size_t B, const pylstm_weights_f64 *w, const double *x, const void *reserve, size_t reserve_size, const double *dh_out, const double *dc_out, double *dx, double *dh, double *dc, const pylstm_grads_f64 *g, void *work, size_t work_size)

    pylstm_status pylstm_model_sizes_f32(const pylstm_model_desc *desc, size_t T, size_t B, pylstm_sizes *out)
    pylstm_status pylstm_model_sizes_f64(const pylstm_model_desc *desc, size_t T, size_t B, pylstm_sizes *out)
    pylstm_status pylstm_model_forward_f32(const pylstm_model_desc *desc, const pylstm_weights_f32 *w, size_t T, size_t B, const float *x, const float *h0, const float *c0, const int64_t *lengths, float *y, float *h_n, float *c_n, void *work, size_t work_size)
    pylstm_status pylstm_model_forward_f64(const pylstm_model_desc *desc, const pylstm_weights_f64 *w, size_t T, size_t B, const double *x, const double *h0, const double *c0, const int64_t *lengths, double *y, double *h_n, double *c_n, void *work, size_t work_size)
    pylstm_status pylstm_model_forward_train_f32(const pylstm_model_desc *desc, const pylstm_weights_f32 *w, size_t T, size_t B, const float *x, const float *h0, const float *c0, const int64_t *lengths, double dropout, uint64_t seed, float *y, float *h_n, float *c_n, void *reserve, size_t reserve_size, void *work, size_t work_size)
    pylstm_status pylstm_model_forward_train_f64(const pylstm_model_desc *desc, const pylstm_weights_f64 *w, size_t T, size_t B, const double *x, const double *h0, const double *c0, const int64_t *lengths, double dropout, uint64_t seed, double *y, double *h_n, double *c_n, void *reserve, size_t reserve_size, void *work, size_t work_size)
    pylstm_status pylstm_model_backward_f32(const pylstm_model_desc *desc, const pylstm_weights_f32 *w, size_t T, size_t B, const float *x, const int64_t *lengths, const void *reserve, size_t reserve_size, const float *dy, const float *dh_n, const float *dc_n, float *dx, float *dh0, float *dc0, const pylstm_grads_f32 *g, void *work, size_t work_size)
    pylstm_status pylstm_model_backward_f64(const pylstm_model_desc *desc, const pylstm_weights_f64 *w, size_t T, size_t B, const double *x, const int64_t *lengths, const void *reserve, size_t reserve_size, const double *dy, const double *dh_n, const double *dc_n, double *dx, double *dh0, double *dc0, const pylstm_grads_f64 *g, void *work, size_t work_size)
    ctypedef struct pylstm_trace_f32:
        const float *gates
        const float *c
        const float *h
    ctypedef struct pylstm_trace_f64:
        const double *gates
        const double *c
        const double *h
    pylstm_status pylstm_model_trace_f32(const pylstm_model_desc *desc, size_t T, size_t B, const void *reserve, size_t reserve_size, size_t layer, int direction, pylstm_trace_f32 *out)
    pylstm_status pylstm_model_trace_f64(const pylstm_model_desc *desc, size_t T, size_t B, const void *reserve, size_t reserve_size, size_t layer, int direction, pylstm_trace_f64 *out)

    # safetensors reader (src_c/safetensors.c)
    enum: PYLSTM_SAFETENSORS_MAX_HEADER
    enum: PYLSTM_SAFETENSORS_MAX_NDIM
    ctypedef enum pylstm_st_dtype:
        PYLSTM_ST_BOOL
        PYLSTM_ST_U8
        PYLSTM_ST_I8
        PYLSTM_ST_U16
        PYLSTM_ST_I16
        PYLSTM_ST_U32
        PYLSTM_ST_I32
        PYLSTM_ST_U64
        PYLSTM_ST_I64
        PYLSTM_ST_F16
        PYLSTM_ST_BF16
        PYLSTM_ST_F32
        PYLSTM_ST_F64
        PYLSTM_ST_C64
        PYLSTM_ST_F8_E5M2
        PYLSTM_ST_F8_E4M3
        PYLSTM_ST_F8_E8M0
        PYLSTM_ST_F8_E4M3FNUZ
        PYLSTM_ST_F8_E5M2FNUZ
        PYLSTM_ST_F6_E2M3
        PYLSTM_ST_F6_E3M2
        PYLSTM_ST_F4
    ctypedef struct pylstm_safetensors:
        pass
    ctypedef struct pylstm_safetensors_info:
        const char *name
        pylstm_st_dtype dtype
        const char *dtype_name
        size_t element_bits
        size_t ndim
        size_t shape[8]
        size_t offset
        size_t nbytes
        const void *data

    pylstm_status pylstm_safetensors_open(const char *path, pylstm_safetensors **out)
    pylstm_status pylstm_safetensors_parse(const void *bytes, size_t len, pylstm_safetensors **out)
    void pylstm_safetensors_free(pylstm_safetensors *file)
    pylstm_status pylstm_safetensors_count(const pylstm_safetensors *file, size_t *count)
    pylstm_status pylstm_safetensors_tensor(const pylstm_safetensors *file, size_t index, pylstm_safetensors_info *info)
    pylstm_status pylstm_safetensors_find(const pylstm_safetensors *file, const char *name, size_t *index)
    pylstm_status pylstm_safetensors_metadata(const pylstm_safetensors *file, const char *key, const char **value)
    pylstm_status pylstm_safetensors_metadata_count(const pylstm_safetensors *file, size_t *count)
    pylstm_status pylstm_safetensors_metadata_entry(const pylstm_safetensors *file, size_t index, const char **key, const char **value)
    pylstm_status pylstm_set_num_threads(size_t n)
    size_t pylstm_get_num_threads()
    const char *pylstm_gemm_kernel()
    pylstm_status pylstm_stream_sizes_f32(const pylstm_model_desc *desc, size_t B, size_t *packed_bytes, size_t *work_bytes)
    pylstm_status pylstm_stream_sizes_f64(const pylstm_model_desc *desc, size_t B, size_t *packed_bytes, size_t *work_bytes)
    pylstm_status pylstm_stream_pack_f32(const pylstm_model_desc *desc, const pylstm_weights_f32 *w, void *packed, size_t packed_size)
    pylstm_status pylstm_stream_pack_f64(const pylstm_model_desc *desc, const pylstm_weights_f64 *w, void *packed, size_t packed_size)
    pylstm_status pylstm_stream_step_f32(const pylstm_model_desc *desc, const void *packed, size_t packed_size, size_t B, const float *x, float *h, float *c, float *y, void *work, size_t work_size)
    pylstm_status pylstm_stream_step_f64(const pylstm_model_desc *desc, const void *packed, size_t packed_size, size_t B, const double *x, double *h, double *c, double *y, void *work, size_t work_size)

    # model handle (src_c/handle.c)
    ctypedef struct pylstm_model:
        pass
    ctypedef struct pylstm_model_stream:
        pass
    ctypedef enum pylstm_dtype:
        PYLSTM_DTYPE_F32
        PYLSTM_DTYPE_F64
    ctypedef struct pylstm_model_config:
        size_t struct_size
        pylstm_dtype dtype
        size_t input_size
        size_t hidden_size
        size_t proj_size
        size_t num_layers
        int bidirectional
        int bias
        int batch_first
        double dropout

    pylstm_status pylstm_model_load(const char *path, pylstm_model **out)
    pylstm_status pylstm_model_load_bytes(const void *bytes, size_t len, pylstm_model **out)
    pylstm_status pylstm_model_create_f32(const pylstm_model_desc *desc, const pylstm_weights_f32 *w, pylstm_model **out)
    pylstm_status pylstm_model_create_f64(const pylstm_model_desc *desc, const pylstm_weights_f64 *w, pylstm_model **out)
    void pylstm_model_free(pylstm_model *model)
    pylstm_status pylstm_model_config_get(const pylstm_model *model, pylstm_model_config *out)
    pylstm_status pylstm_model_run_size(const pylstm_model *model, size_t T, size_t B, size_t *work_bytes)
    pylstm_status pylstm_model_run_f32(const pylstm_model *model, size_t T, size_t B, const float *x, const float *h0, const float *c0, const int64_t *lengths, float *y, float *h_n, float *c_n, void *work, size_t work_size)
    pylstm_status pylstm_model_run_f64(const pylstm_model *model, size_t T, size_t B, const double *x, const double *h0, const double *c0, const int64_t *lengths, double *y, double *h_n, double *c_n, void *work, size_t work_size)
    pylstm_status pylstm_model_param_count(const pylstm_model *model, size_t *count)
    pylstm_status pylstm_model_param(const pylstm_model *model, size_t index, const char **name, size_t *rows, size_t *cols, const void **values)
    pylstm_status pylstm_model_stream_open(const pylstm_model *model, size_t B, pylstm_model_stream **out)
    void pylstm_model_stream_free(pylstm_model_stream *stream)
    pylstm_status pylstm_model_stream_reset(pylstm_model_stream *stream, const void *h, const void *c)
    pylstm_status pylstm_model_stream_step_f32(pylstm_model_stream *stream, const float *x, float *y)
    pylstm_status pylstm_model_stream_step_f64(pylstm_model_stream *stream, const double *x, double *y)
    pylstm_status pylstm_model_stream_state(const pylstm_model_stream *stream, void *h, void *c)
