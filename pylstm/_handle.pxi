# Binding of the model handle (the "Model handle" section of pylstm.h).
# Included at the end of _core.pyx. A Handle owns one pylstm_model: the C
# library's own copy of an LSTM's parameters, immutable once made, so runs
# from several threads at once are safe and never see a half-updated weight.


cdef class WorkBuffer:
    """A work buffer that calls reuse (so a call allocates nothing once it has
    grown to the largest call's size), lent to one call at a time: a call that
    finds it lent out passes NULL work and the core allocates for that call."""
    cdef void *p
    cdef size_t size
    cdef PyThread_type_lock lock

    def __cinit__(self):
        self.lock = PyThread_allocate_lock()
        if self.lock == NULL:
            raise MemoryError()

    def __dealloc__(self):
        PyMem_RawFree(self.p)
        if self.lock != NULL:
            PyThread_free_lock(self.lock)

    def __reduce__(self):  # pickles and copies start empty
        return (WorkBuffer, ())

    cdef void *take(self, size_t need) except? NULL:
        """need bytes, or NULL when another call holds the buffer; give()
        after the call, also after a NULL."""
        cdef void *q
        if not PyThread_acquire_lock(self.lock, NOWAIT_LOCK):
            return NULL
        if self.p == NULL or self.size < need:
            need = need if need else 1
            q = PyMem_RawMalloc(need)
            if q == NULL:
                PyThread_release_lock(self.lock)
                raise MemoryError()
            PyMem_RawFree(self.p)
            self.p, self.size = q, need
        return self.p

    cdef void give(self, void *p) noexcept nogil:
        if p != NULL:
            PyThread_release_lock(self.lock)


cdef inline bint native(object a, int tn):
    """a is a plain ndarray of type tn, C-contiguous, in the machine's byte order."""
    return (type(a) is cnp.ndarray and cnp.PyArray_TYPE(<cnp.ndarray>a) == tn
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a)
            and not cnp.PyArray_ISBYTESWAPPED(<cnp.ndarray>a))


cdef inline bint shaped(cnp.ndarray a, bint unbatched, size_t LD, size_t B, size_t n):
    """a has the shape of a state: (LD, n) unbatched, else (LD, B, n)."""
    if unbatched:
        return a.ndim == 2 and <size_t>a.shape[0] == LD and <size_t>a.shape[1] == n
    return (a.ndim == 3 and <size_t>a.shape[0] == LD and <size_t>a.shape[1] == B
            and <size_t>a.shape[2] == n)


cdef class Handle:
    """A pylstm_model: an LSTM whose parameters the C library holds.

    Made by handle_create (a copy of a model's parameter arrays, taken once)
    or handle_load (a safetensors file). Freed with the object."""
    cdef pylstm_model *m
    cdef readonly bint f64
    cdef readonly size_t input_size, hidden_size, proj_size, num_layers
    cdef readonly bint bidirectional, bias, batch_first
    cdef readonly double dropout
    # calls served (run and call; read by LSTM._prepared_runs, for tests)
    cdef readonly Py_ssize_t runs
    # call's last work size and what it depends on (the size query plans
    # every layer's buffers: ~2000 instructions, 7% of a T = 1 call at H = 64)
    cdef size_t last_T, last_B, last_threads, last_need

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
        self.runs += 1

    def call(self, x, hx, bint batch_first, WorkBuffer work):
        """LSTM.__call__(x, hx) in one step for the common case: x a plain
        C-contiguous array of the model dtype in the machine's byte order, of
        shape (T, I), (T, B, I), or (B, T, I) with batch_first when B or T is
        1 (no layout copy either way); hx None or a pair of such arrays of
        h_0's and c_0's exact shapes. Returns (output, (h_n, c_n)) in the
        user's layout, or None for anything else (which the caller converts,
        checks with the messages the user sees, and runs with run())."""
        cdef int tn = cnp.NPY_FLOAT64 if self.f64 else cnp.NPY_FLOAT32
        cdef size_t D = 2 if self.bidirectional else 1
        cdef size_t H = self.hidden_size
        cdef size_t R = self.proj_size if self.proj_size else H
        cdef size_t LD = self.num_layers * D
        cdef size_t T, B, threads, need = 0
        cdef cnp.ndarray ax, a0, a1, y, hn, cn
        cdef cnp.npy_intp dims[3]
        cdef void *ph0 = NULL
        cdef void *pc0 = NULL
        cdef void *pw
        cdef pylstm_status st
        cdef bint unbatched
        if not native(x, tn):
            return None
        ax = <cnp.ndarray>x
        unbatched = ax.ndim == 2
        if unbatched:
            T, B = ax.shape[0], 1
        elif ax.ndim != 3:
            return None
        elif batch_first:
            B, T = ax.shape[0], ax.shape[1]
            if B != 1 and T != 1:
                return None
        else:
            T, B = ax.shape[0], ax.shape[1]
        if T < 1 or B < 1 or <size_t>ax.shape[ax.ndim - 1] != self.input_size:
            return None
        if hx is not None:
            if (type(hx) is not tuple and type(hx) is not list) or len(hx) != 2:
                return None
            h0, c0 = hx
            if not native(h0, tn) or not native(c0, tn):
                return None
            a0, a1 = <cnp.ndarray>h0, <cnp.ndarray>c0
            if not shaped(a0, unbatched, LD, B, R) or not shaped(a1, unbatched, LD, B, H):
                return None
            ph0, pc0 = cnp.PyArray_DATA(a0), cnp.PyArray_DATA(a1)
        # outputs in the user's layout (batch_first with B or T = 1 and
        # unbatched have the memory of the time-major (T, B, ...) arrays)
        if unbatched:
            dims[0], dims[1] = T, D * R
            y = cnp.PyArray_EMPTY(2, dims, tn, 0)
            dims[0], dims[1] = LD, R
            hn = cnp.PyArray_EMPTY(2, dims, tn, 0)
            dims[1] = H
            cn = cnp.PyArray_EMPTY(2, dims, tn, 0)
        else:
            dims[0], dims[1], dims[2] = (B, T, D * R) if batch_first else (T, B, D * R)
            y = cnp.PyArray_EMPTY(3, dims, tn, 0)
            dims[0], dims[1], dims[2] = LD, B, R
            hn = cnp.PyArray_EMPTY(3, dims, tn, 0)
            dims[2] = H
            cn = cnp.PyArray_EMPTY(3, dims, tn, 0)
        threads = pylstm_get_num_threads()
        if T == self.last_T and B == self.last_B and threads == self.last_threads:
            need = self.last_need
        else:
            check(pylstm_model_run_size(self.m, T, B, &need), "LSTM sizes")
            self.last_T, self.last_B, self.last_threads, self.last_need = T, B, threads, need
        pw = work.take(need)
        with nogil:
            if self.f64:
                st = pylstm_model_run_f64(self.m, T, B, <double *>cnp.PyArray_DATA(ax),
                                          <double *>ph0, <double *>pc0, NULL,
                                          <double *>cnp.PyArray_DATA(y),
                                          <double *>cnp.PyArray_DATA(hn),
                                          <double *>cnp.PyArray_DATA(cn), pw, need)
            else:
                st = pylstm_model_run_f32(self.m, T, B, <float *>cnp.PyArray_DATA(ax),
                                          <float *>ph0, <float *>pc0, NULL,
                                          <float *>cnp.PyArray_DATA(y),
                                          <float *>cnp.PyArray_DATA(hn),
                                          <float *>cnp.PyArray_DATA(cn), pw, need)
            work.give(pw)
        check(st, "LSTM forward")
        self.runs += 1
        return y, (hn, cn)

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
