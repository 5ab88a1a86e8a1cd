# Binding of the model handle (the "Model handle" section of pylstm.h).
# Included at the end of _core.pyx. A Handle owns one pylstm_model: the C
# library's own copy of an LSTM's parameters, immutable once made, so runs
# from several threads at once are safe and never see a half-updated weight.


cdef class Handle:
    """A pylstm_model: an LSTM whose parameters the C library holds.

    Made by handle_create (a copy of a model's parameter arrays, taken once)
    or handle_load (a safetensors file). Freed with the object."""
    cdef pylstm_model *m
    cdef readonly bint f64
    cdef readonly size_t input_size, hidden_size, proj_size, num_layers
    cdef readonly bint bidirectional, bias, batch_first
    cdef readonly double dropout

    def __cinit__(self):
        self.m = NULL

    def __dealloc__(self):
        pylstm_model_free(self.m)

    def __reduce__(self):
        raise TypeError("a pylstm model handle cannot be pickled (save the model instead)")

    def run_size(self, size_t T, size_t B):
        """Bytes of work a run of T steps and batch B needs at the current
        thread count (not cached: a Handle holds no mutable state)."""
        cdef size_t n = 0
        check(pylstm_model_run_size(self.m, T, B, &n), "LSTM sizes")
        return n

    def run(self, size_t T, size_t B, x, h0, c0, lengths, y, h_n, c_n, work):
        """Inference as model_forward, from the handle's parameters."""
        cdef size_t D = 2 if self.bidirectional else 1
        cdef size_t H = self.hidden_size
        cdef size_t R = self.proj_size if self.proj_size else H
        cdef size_t LD = self.num_layers * D
        cdef int tn = cnp.NPY_FLOAT64 if self.f64 else cnp.NPY_FLOAT32
        cdef size_t work_size
        cdef void *px = buf(x, tn, T * B * self.input_size, False, "x")
        cdef void *ph0 = buf(h0, tn, LD * B * R, False, "h0")
        cdef void *pc0 = buf(c0, tn, LD * B * H, False, "c0")
        cdef void *plen = buf(lengths, cnp.NPY_INT64, B, False, "lengths")
        cdef void *py = buf(y, tn, T * B * D * R, True, "output")
        cdef void *phn = buf(h_n, tn, LD * B * R, True, "h_n")
        cdef void *pcn = buf(c_n, tn, LD * B * H, True, "c_n")
        cdef void *pw = work_buf(work, &work_size)
        cdef pylstm_status st
        with nogil:
            if self.f64:
                st = pylstm_model_run_f64(self.m, T, B, <double *>px, <double *>ph0,
                                          <double *>pc0, <int64_t *>plen, <double *>py,
                                          <double *>phn, <double *>pcn, pw, work_size)
            else:
                st = pylstm_model_run_f32(self.m, T, B, <float *>px, <float *>ph0,
                                          <float *>pc0, <int64_t *>plen, <float *>py,
                                          <float *>phn, <float *>pcn, pw, work_size)
        check(st, "LSTM forward")

    def params(self):
        """[(torch name, ndarray copy)] in state-dict order."""
        cdef size_t n, k, rows, cols
        cdef const char *name
        cdef const void *values
        cdef cnp.ndarray arr
        out = []
        check(pylstm_model_param_count(self.m, &n), "model params")
        dt = _np.float64 if self.f64 else _np.float32
        for k in range(n):
            check(pylstm_model_param(self.m, k, &name, &rows, &cols, &values), "model params")
            if cols:
                arr = _np.empty((rows, cols), dt)
            else:  # a bias: 1-D
                arr = _np.empty(rows, dt)
            if arr.nbytes:
                memcpy(cnp.PyArray_DATA(arr), values, arr.nbytes)
            out.append((name.decode("utf-8"), arr))
        return out


cdef Handle _handle_wrap(pylstm_model *m):
    """A Handle owning m (freed with it), its configuration read once."""
    cdef Handle h = Handle.__new__(Handle)
    cdef pylstm_model_config c
    h.m = m
    c.struct_size = sizeof(c)
    check(pylstm_model_config_get(m, &c), "model config")
    h.f64 = c.dtype == PYLSTM_DTYPE_F64
    h.input_size, h.hidden_size, h.proj_size = c.input_size, c.hidden_size, c.proj_size
    h.num_layers, h.bidirectional, h.bias = c.num_layers, c.bidirectional, c.bias
    h.batch_first, h.dropout = c.batch_first, c.dropout
    return h


def handle_create(bint f64, size_t I, size_t H, size_t P, size_t L, bint bidir, weights):
    """A Handle holding a copy of the model's current parameters (weights as
    for model_forward: a list of groups or the result of weights())."""
    cdef pylstm_model_desc d = model_desc(I, H, P, L, bidir)
    cdef _Params p = params_for(f64, I, H, P, L, bidir, weights, None)
    cdef pylstm_model *m = NULL
    cdef pylstm_status st
    with nogil:
        if f64:
            st = pylstm_model_create_f64(&d, <pylstm_weights_f64 *>p.w, &m)
        else:
            st = pylstm_model_create_f32(&d, <pylstm_weights_f32 *>p.w, &m)
    check(st, "LSTM handle")
    return _handle_wrap(m)


def handle_load(path):
    """A Handle from a safetensors file, read and checked by the C library
    alone (pylstm_model_load). OSError when it cannot be read, ValueError when
    it is not an LSTM's file."""
    cdef bytes bpath = os.fsencode(path)
    cdef const char *cpath = bpath
    cdef pylstm_model *m = NULL
    cdef pylstm_status st
    cdef int err = 0
    with nogil:
        st = pylstm_model_load(cpath, &m)
        if st == PYLSTM_ERR_IO:
            err = errno
    if st == PYLSTM_ERR_IO and err:
        raise _io_error(err, path)
    if st == PYLSTM_ERR_FORMAT:
        raise ValueError(f"{os.fsdecode(path)!r}: not a safetensors file of an LSTM or "
                         "LSTMCell (bad metadata, missing, extra or misshapen tensors, or "
                         "dtypes other than all F32 / all F64)")
    check(st, f"LSTM handle {os.fsdecode(path)!r}")
    return _handle_wrap(m)
