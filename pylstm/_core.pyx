# cython: boundscheck=False, wraparound=False, cdivision=True
"""Thin binding of the C core (src_c/include/pylstm.h).

Every function here checks that each array it is handed has the element type,
C-contiguity, writability and number of elements the C function will use, so no
argument can make the core read or write out of bounds; then it releases the GIL
around the C call and turns a status code into a Python exception. Shapes in the
user's terms are checked one level up, in pylstm/*.py, with messages naming the
user's argument. No math happens here.
"""
cimport numpy as cnp
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_RawFree, PyMem_RawMalloc
from cpython.pythread cimport (NOWAIT_LOCK, PyThread_acquire_lock, PyThread_allocate_lock,
                               PyThread_free_lock, PyThread_release_lock, PyThread_type_lock)
from libc.stdint cimport int64_t, uint64_t

from pylstm.pylstm cimport *

cnp.import_array()

__version__ = pylstm_version().decode()
# MAJOR * 10000 + MINOR * 100 + PATCH, from the C library too (tests compare).
_version_number = pylstm_version_number()


def set_num_threads(n):
    """Threads the core uses (1..64); results are identical for any count.

    Safe at any time, also while other threads compute: a call that sized its
    work buffer for fewer threads than the new count runs with fewer."""
    import operator
    if isinstance(n, (bool, _np.bool_)):  # _np: numpy, imported in _safetensors.pxi
        raise TypeError(f"n: expected an integer, got {n!r}")
    try:
        n = operator.index(n)  # Python and NumPy integers; not floats
    except TypeError:
        raise TypeError(f"n: expected an integer, got {n!r}") from None
    if n < 1 or n > 64:
        raise ValueError(f"n: expected 1..64 threads, got {n}")
    check(pylstm_set_num_threads(n), "set_num_threads")


def get_num_threads():
    """The number of threads the core uses."""
    return pylstm_get_num_threads()


def gemm_kernel():
    """The matrix-product kernel chosen for this CPU ("avx512", "avx2", "neon", "ref")."""
    return pylstm_gemm_kernel().decode()


cdef int check(pylstm_status st, str what) except -1:
    """Raises the Python exception matching a status (what names the call)."""
    if st == PYLSTM_OK:
        return 0
    msg = f"{what}: {pylstm_strerror(st).decode()}"
    if st == PYLSTM_ERR_OUT_OF_MEMORY:
        raise MemoryError(msg)
    if st == PYLSTM_ERR_IO:
        raise OSError(msg)
    if st in (PYLSTM_ERR_WORK_TOO_SMALL, PYLSTM_ERR_RESERVE_TOO_SMALL, PYLSTM_ERR_BUFFER_TOO_SMALL,
              PYLSTM_ERR_NULL_POINTER):
        # The Python layer sizes every buffer itself: reaching this is a bug in pylstm.
        raise RuntimeError(msg)
    if st == PYLSTM_ERR_OVERFLOW:
        raise OverflowError(msg)
    raise ValueError(msg)


cdef void *buf(object a, int typenum, Py_ssize_t n, bint out, str name) except? NULL:
    """Data pointer of a C-contiguous array of n elements of typenum; NULL for None."""
    if a is None:
        return NULL
    if not isinstance(a, cnp.ndarray):
        raise TypeError(f"{name}: expected a NumPy array, got {type(a).__name__}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if cnp.PyArray_TYPE(arr) != typenum:
        raise TypeError(f"{name}: expected dtype {cnp.PyArray_DescrFromType(typenum)}, got {arr.dtype}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(arr):
        raise ValueError(f"{name}: expected a C-contiguous array")
    if cnp.PyArray_ISBYTESWAPPED(arr):
        raise ValueError(f"{name}: expected the machine's byte order, got dtype {arr.dtype.str}")
    if cnp.PyArray_SIZE(arr) != n:
        raise ValueError(f"{name}: expected {n} elements, got {cnp.PyArray_SIZE(arr)}")
    if out and not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"{name}: array is read-only")
    return cnp.PyArray_DATA(arr)


cdef void *work_buf(object a, size_t *size) except NULL:
    """Data pointer and, in *size, the byte count of a work array (a writable
    uint8 array). The whole buffer goes to the core as work_size, never a
    size queried again here: the core fits its thread count to the work it is
    given, so a buffer sized before another thread changed the thread count
    still works, with fewer threads and identical results."""
    cdef void *p = bytes_buf(a, 0, "work")
    size[0] = <size_t>cnp.PyArray_NBYTES(<cnp.ndarray>a)
    return p


cdef void *bytes_buf(object a, size_t need, str name) except NULL:
    """Data pointer of a writable uint8 array of at least `need` bytes."""
    if not isinstance(a, cnp.ndarray) or cnp.PyArray_TYPE(<cnp.ndarray>a) != cnp.NPY_UINT8:
        raise TypeError(f"{name}: expected a uint8 NumPy array")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if not cnp.PyArray_IS_C_CONTIGUOUS(arr) or not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"{name}: expected a writable C-contiguous array")
    if <size_t>cnp.PyArray_NBYTES(arr) < need:
        raise ValueError(f"{name}: expected at least {need} bytes, got {cnp.PyArray_NBYTES(arr)}")
    return cnp.PyArray_DATA(arr)


cdef class _Params:
    """The pylstm_weights / pylstm_grads arrays of a model, pointing into NumPy arrays."""
    cdef void *w
    cdef void *g
    cdef Py_ssize_t n
    cdef list keep
    cdef tuple config  # (f64, I, H, P, L, bidir) it was made for

    def __dealloc__(self):
        PyMem_Free(self.w)
        PyMem_Free(self.g)


cdef _Params make_params(bint f64, size_t I, size_t H, size_t P, size_t L, bint bidir,
                         list weights, list grads):
    """Checks and collects L*D tuples (W_ih, W_hh, b_ih, b_hh, W_hr)."""
    cdef size_t D = 2 if bidir else 1
    cdef size_t R = P if P else H
    cdef Py_ssize_t n = L * D, k
    cdef int typenum = cnp.NPY_FLOAT64 if f64 else cnp.NPY_FLOAT32
    cdef _Params p = _Params()
    cdef pylstm_weights_f32 *w32
    cdef pylstm_weights_f64 *w64
    cdef pylstm_grads_f32 *g32
    cdef pylstm_grads_f64 *g64
    cdef void *ptr[5]
    cdef Py_ssize_t sizes[5]
    if len(weights) != n or (grads is not None and len(grads) != n):
        raise ValueError(f"expected {n} parameter groups")
    p.n = n
    p.keep = [weights, grads]
    p.config = (bool(f64), I, H, P, L, bool(bidir))
    p.w = PyMem_Malloc(n * sizeof(pylstm_weights_f64))
    if p.w == NULL:
        raise MemoryError()
    if grads is not None:
        p.g = PyMem_Malloc(n * sizeof(pylstm_grads_f64))
        if p.g == NULL:
            raise MemoryError()
    w32 = <pylstm_weights_f32 *>p.w
    w64 = <pylstm_weights_f64 *>p.w
    g32 = <pylstm_grads_f32 *>p.g
    g64 = <pylstm_grads_f64 *>p.g
    for k in range(n):
        sizes[0] = 4 * H * (I if k < <Py_ssize_t>D else D * R)
        sizes[1] = 4 * H * R
        sizes[2] = 4 * H
        sizes[3] = 4 * H
        sizes[4] = P * H
        for which, group in ((0, weights), (1, grads)):
            if group is None:
                continue
            t = group[k]
            if len(t) != 5:
                raise ValueError("expected (W_ih, W_hh, b_ih, b_hh, W_hr)")
            for j in range(5):
                ptr[j] = buf(t[j], typenum, sizes[j], which == 1, "parameter")
            if (ptr[0] == NULL or ptr[1] == NULL) and which == 0:
                raise ValueError("W_ih and W_hh are required")
            if which == 0 and (ptr[4] == NULL) != (P == 0):
                raise ValueError("W_hr is required exactly when proj_size > 0")
            if which == 0 and f64:
                w64[k].W_ih = <double *>ptr[0]; w64[k].W_hh = <double *>ptr[1]
                w64[k].b_ih = <double *>ptr[2]; w64[k].b_hh = <double *>ptr[3]
                w64[k].W_hr = <double *>ptr[4]
            elif which == 0:
                w32[k].W_ih = <float *>ptr[0]; w32[k].W_hh = <float *>ptr[1]
                w32[k].b_ih = <float *>ptr[2]; w32[k].b_hh = <float *>ptr[3]
                w32[k].W_hr = <float *>ptr[4]
            elif f64:
                g64[k].W_ih = <double *>ptr[0]; g64[k].W_hh = <double *>ptr[1]
                g64[k].b_ih = <double *>ptr[2]; g64[k].b_hh = <double *>ptr[3]
                g64[k].W_hr = <double *>ptr[4]
            else:
                g32[k].W_ih = <float *>ptr[0]; g32[k].W_hh = <float *>ptr[1]
                g32[k].b_ih = <float *>ptr[2]; g32[k].b_hh = <float *>ptr[3]
                g32[k].W_hr = <float *>ptr[4]
    return p


def weights(bint f64, size_t I, size_t H, size_t P, size_t L, bint bidir, list groups):
    """The C weight pointers of a model, checked once: pass the result as
    `weights` to model_forward/model_backward instead of the list while the
    arrays stay the same objects (their values may change)."""
    return make_params(f64, I, H, P, L, bidir, groups, None)


cdef _Params params_for(bint f64, size_t I, size_t H, size_t P, size_t L, bint bidir, weights,
                        list grads):
    """A _Params from a list of groups, or a prebuilt one for this very config."""
    cdef _Params p
    if isinstance(weights, _Params) and grads is None:
        p = <_Params>weights
        if p.config != (bool(f64), I, H, P, L, bool(bidir)):
            raise ValueError("weights: made for another model configuration")
        return p
    if isinstance(weights, _Params):
        weights = (<_Params>weights).keep[0]
    return make_params(f64, I, H, P, L, bidir, weights, grads)


cdef pylstm_model_desc model_desc(size_t I, size_t H, size_t P, size_t L, bint bidir):
    cdef pylstm_model_desc d
    d.input_size = I
    d.hidden_size = H
    d.proj_size = P
    d.num_layers = L
    d.bidirectional = 1 if bidir else 0
    return d


def model_sizes(bint f64, size_t I, size_t H, size_t P, size_t L, bint bidir, size_t T, size_t B):
    """(work_forward, work_train, reserve, work_backward) in bytes."""
    cdef pylstm_model_desc d = model_desc(I, H, P, L, bidir)
    cdef pylstm_sizes s
    cdef pylstm_status st
    if f64:
        st = pylstm_model_sizes_f64(&d, T, B, &s)
    else:
        st = pylstm_model_sizes_f32(&d, T, B, &s)
    check(st, "LSTM sizes")
    return s.work_forward, s.work_train, s.reserve, s.work_backward


def model_forward(bint f64, size_t I, size_t H, size_t P, size_t L, bint bidir, weights,
                  size_t T, size_t B, x, h0, c0, lengths, y, h_n, c_n, work, reserve=None,
                  double dropout=0.0, uint64_t seed=0):
    """Inference forward, or the training forward when reserve is given."""
    cdef pylstm_model_desc d = model_desc(I, H, P, L, bidir)
    cdef _Params p = params_for(f64, I, H, P, L, bidir, weights, None)
    cdef size_t D = 2 if bidir else 1
    cdef size_t R = P if P else H
    cdef int tn = cnp.NPY_FLOAT64 if f64 else cnp.NPY_FLOAT32
    cdef pylstm_sizes s
    cdef pylstm_status st
    check(pylstm_model_sizes_f64(&d, T, B, &s) if f64 else pylstm_model_sizes_f32(&d, T, B, &s),
          "LSTM sizes")
    cdef bint train = reserve is not None
    cdef void *px = buf(x, tn, T * B * I, False, "x")
    cdef void *ph0 = buf(h0, tn, L * D * B * R, False, "h0")
    cdef void *pc0 = buf(c0, tn, L * D * B * H, False, "c0")
    cdef void *plen = buf(lengths, cnp.NPY_INT64, B, False, "lengths")
    cdef void *py = buf(y, tn, T * B * D * R, True, "output")
    cdef void *phn = buf(h_n, tn, L * D * B * R, True, "h_n")
    cdef void *pcn = buf(c_n, tn, L * D * B * H, True, "c_n")
    cdef size_t work_size
    cdef void *pw = work_buf(work, &work_size)
    cdef void *pr = bytes_buf(reserve, s.reserve, "reserve") if train else NULL
    with nogil:
        if f64 and train:
            st = pylstm_model_forward_train_f64(
                &d, <pylstm_weights_f64 *>p.w, T, B, <double *>px, <double *>ph0, <double *>pc0,
                <int64_t *>plen, dropout, seed, <double *>py, <double *>phn, <double *>pcn,
                pr, s.reserve, pw, work_size)
        elif f64:
            st = pylstm_model_forward_f64(
                &d, <pylstm_weights_f64 *>p.w, T, B, <double *>px, <double *>ph0, <double *>pc0,
                <int64_t *>plen, <double *>py, <double *>phn, <double *>pcn, pw, work_size)
        elif train:
            st = pylstm_model_forward_train_f32(
                &d, <pylstm_weights_f32 *>p.w, T, B, <float *>px, <float *>ph0, <float *>pc0,
                <int64_t *>plen, dropout, seed, <float *>py, <float *>phn, <float *>pcn,
                pr, s.reserve, pw, work_size)
        else:
            st = pylstm_model_forward_f32(
                &d, <pylstm_weights_f32 *>p.w, T, B, <float *>px, <float *>ph0, <float *>pc0,
                <int64_t *>plen, <float *>py, <float *>phn, <float *>pcn, pw, work_size)
    check(st, "LSTM forward")


def model_backward(bint f64, size_t I, size_t H, size_t P, size_t L, bint bidir, weights,
                   list grads, size_t T, size_t B, x, lengths, reserve, dy, dh_n, dc_n, dx,
                   dh0, dc0, work):
    """Backward through time; adds parameter gradients into grads."""
    cdef pylstm_model_desc d = model_desc(I, H, P, L, bidir)
    cdef _Params p = params_for(f64, I, H, P, L, bidir, weights, grads)
    cdef size_t D = 2 if bidir else 1
    cdef size_t R = P if P else H
    cdef int tn = cnp.NPY_FLOAT64 if f64 else cnp.NPY_FLOAT32
    cdef pylstm_sizes s
    cdef pylstm_status st
    check(pylstm_model_sizes_f64(&d, T, B, &s) if f64 else pylstm_model_sizes_f32(&d, T, B, &s),
          "LSTM sizes")
    cdef void *px = buf(x, tn, T * B * I, False, "x")
    cdef void *plen = buf(lengths, cnp.NPY_INT64, B, False, "lengths")
    cdef void *pr = bytes_buf(reserve, s.reserve, "reserve")
    cdef void *pdy = buf(dy, tn, T * B * D * R, False, "d_output")
    cdef void *pdhn = buf(dh_n, tn, L * D * B * R, False, "d_h_n")
    cdef void *pdcn = buf(dc_n, tn, L * D * B * H, False, "d_c_n")
    cdef void *pdx = buf(dx, tn, T * B * I, True, "dx")
    cdef void *pdh0 = buf(dh0, tn, L * D * B * R, True, "dh0")
    cdef void *pdc0 = buf(dc0, tn, L * D * B * H, True, "dc0")
    cdef size_t work_size
    cdef void *pw = work_buf(work, &work_size)
    with nogil:
        if f64:
            st = pylstm_model_backward_f64(
                &d, <pylstm_weights_f64 *>p.w, T, B, <double *>px, <int64_t *>plen, pr,
                s.reserve, <double *>pdy, <double *>pdhn, <double *>pdcn, <double *>pdx,
                <double *>pdh0, <double *>pdc0, <pylstm_grads_f64 *>p.g, pw, work_size)
        else:
            st = pylstm_model_backward_f32(
                &d, <pylstm_weights_f32 *>p.w, T, B, <float *>px, <int64_t *>plen, pr,
                s.reserve, <float *>pdy, <float *>pdhn, <float *>pdcn, <float *>pdx,
                <float *>pdh0, <float *>pdc0, <pylstm_grads_f32 *>p.g, pw, work_size)
    check(st, "LSTM backward")



def model_trace(bint f64, size_t I, size_t H, size_t P, size_t L, bint bidir, size_t T,
                size_t B, reserve, size_t layer, int direction):
    """Copies of (gates (T, B, 4H), c (T, B, H), h (T, B, R)) of one layer
    direction, read from a training forward's reserve."""
    import numpy as np
    cdef pylstm_model_desc d = model_desc(I, H, P, L, bidir)
    cdef pylstm_sizes s
    cdef pylstm_trace_f32 t32
    cdef pylstm_trace_f64 t64
    cdef size_t R = P if P else H
    check(pylstm_model_sizes_f64(&d, T, B, &s) if f64 else pylstm_model_sizes_f32(&d, T, B, &s),
          "LSTM sizes")
    cdef char *base = <char *>bytes_buf(reserve, s.reserve, "reserve")
    cdef size_t og, oc, oh
    if f64:
        check(pylstm_model_trace_f64(&d, T, B, base, s.reserve, layer, direction, &t64),
              "LSTM trace")
        og, oc, oh = <char *>t64.gates - base, <char *>t64.c - base, <char *>t64.h - base
    else:
        check(pylstm_model_trace_f32(&d, T, B, base, s.reserve, layer, direction, &t32),
              "LSTM trace")
        og, oc, oh = <char *>t32.gates - base, <char *>t32.c - base, <char *>t32.h - base
    dt = np.float64 if f64 else np.float32
    gates = np.frombuffer(reserve, dt, T * B * 4 * H, og).reshape(T, B, 4 * H).copy()
    c = np.frombuffer(reserve, dt, T * B * H, oc).reshape(T, B, H).copy()
    h = np.frombuffer(reserve, dt, T * B * R, oh).reshape(T, B, R).copy()
    return gates, c, h

def cell_sizes(bint f64, size_t I, size_t H, size_t B):
    """(work_forward, work_train, reserve, work_backward) in bytes."""
    cdef pylstm_sizes s
    check(pylstm_cell_sizes_f64(I, H, B, &s) if f64 else pylstm_cell_sizes_f32(I, H, B, &s),
          "LSTMCell sizes")
    return s.work_forward, s.work_train, s.reserve, s.work_backward


def cell_forward(bint f64, size_t I, size_t H, size_t B, tuple weights, x, h, c, h_out, c_out,
                 work, reserve=None):
    """One step; the training variant when reserve is given."""
    cdef _Params p = make_params(f64, I, H, 0, 1, False, [weights], None)
    cdef int tn = cnp.NPY_FLOAT64 if f64 else cnp.NPY_FLOAT32
    cdef pylstm_sizes s
    cdef pylstm_status st
    check(pylstm_cell_sizes_f64(I, H, B, &s) if f64 else pylstm_cell_sizes_f32(I, H, B, &s),
          "LSTMCell sizes")
    cdef bint train = reserve is not None
    cdef void *px = buf(x, tn, B * I, False, "input")
    cdef void *ph = buf(h, tn, B * H, False, "h")
    cdef void *pc = buf(c, tn, B * H, False, "c")
    cdef void *pho = buf(h_out, tn, B * H, True, "h_out")
    cdef void *pco = buf(c_out, tn, B * H, True, "c_out")
    cdef size_t work_size
    cdef void *pw = work_buf(work, &work_size)
    cdef void *pr = bytes_buf(reserve, s.reserve, "reserve") if train else NULL
    with nogil:
        if f64 and train:
            st = pylstm_cell_forward_train_f64(
                I, H, B, <pylstm_weights_f64 *>p.w, <double *>px, <double *>ph, <double *>pc,
                <double *>pho, <double *>pco, pr, s.reserve, pw, work_size)
        elif f64:
            st = pylstm_cell_forward_f64(
                I, H, B, <pylstm_weights_f64 *>p.w, <double *>px, <double *>ph, <double *>pc,
                <double *>pho, <double *>pco, pw, work_size)
        elif train:
            st = pylstm_cell_forward_train_f32(
                I, H, B, <pylstm_weights_f32 *>p.w, <float *>px, <float *>ph, <float *>pc,
                <float *>pho, <float *>pco, pr, s.reserve, pw, work_size)
        else:
            st = pylstm_cell_forward_f32(
                I, H, B, <pylstm_weights_f32 *>p.w, <float *>px, <float *>ph, <float *>pc,
                <float *>pho, <float *>pco, pw, work_size)
    check(st, "LSTMCell forward")


def cell_backward(bint f64, size_t I, size_t H, size_t B, tuple weights, tuple grads, x,
                  reserve, dh_out, dc_out, dx, dh, dc, work):
    """Backward of one step; adds parameter gradients into grads."""
    cdef _Params p = make_params(f64, I, H, 0, 1, False, [weights], [grads])
    cdef int tn = cnp.NPY_FLOAT64 if f64 else cnp.NPY_FLOAT32
    cdef pylstm_sizes s
    cdef pylstm_status st
    check(pylstm_cell_sizes_f64(I, H, B, &s) if f64 else pylstm_cell_sizes_f32(I, H, B, &s),
          "LSTMCell sizes")
    cdef void *px = buf(x, tn, B * I, False, "input")
    cdef void *pr = bytes_buf(reserve, s.reserve, "reserve")
    cdef void *pdho = buf(dh_out, tn, B * H, False, "d_h")
    cdef void *pdco = buf(dc_out, tn, B * H, False, "d_c")
    cdef void *pdx = buf(dx, tn, B * I, True, "dx")
    cdef void *pdh = buf(dh, tn, B * H, True, "dh")
    cdef void *pdc = buf(dc, tn, B * H, True, "dc")
    cdef size_t work_size
    cdef void *pw = work_buf(work, &work_size)
    with nogil:
        if f64:
            st = pylstm_cell_backward_f64(
                I, H, B, <pylstm_weights_f64 *>p.w, <double *>px, pr, s.reserve,
                <double *>pdho, <double *>pdco, <double *>pdx, <double *>pdh, <double *>pdc,
                <pylstm_grads_f64 *>p.g, pw, work_size)
        else:
            st = pylstm_cell_backward_f32(
                I, H, B, <pylstm_weights_f32 *>p.w, <float *>px, pr, s.reserve,
                <float *>pdho, <float *>pdco, <float *>pdx, <float *>pdh, <float *>pdc,
                <pylstm_grads_f32 *>p.g, pw, work_size)
    check(st, "LSTMCell backward")



cdef class Stepper:
    """One time step of a unidirectional model with weights packed once.

    Holds the packed weights, the state h (L, B, R) and c (L, B, H), the output
    y (B, R) and the work buffer, so a step allocates nothing: step(x) updates
    the state in place and returns y, the same array every time.

    One stepper is one sequence of steps: a call made while another thread is
    inside a call on the same stepper raises RuntimeError rather than mixing
    two threads' steps in one state (the C stream has the same rule)."""
    cdef pylstm_model_desc d
    cdef bint f64, unbatched
    cdef int tn
    cdef size_t B
    cdef object packed, work
    cdef size_t packed_size, work_size
    cdef readonly object h, c, y
    cdef char *ph
    cdef char *pc
    cdef char *py
    cdef void *ppk
    cdef void *pw
    cdef PyThread_type_lock lock

    def __cinit__(self):
        self.lock = PyThread_allocate_lock()
        if self.lock == NULL:
            raise MemoryError()

    def __dealloc__(self):
        if self.lock != NULL:
            PyThread_free_lock(self.lock)

    def __init__(self, bint f64, size_t I, size_t H, size_t P, size_t L, list weights, size_t B,
                 bint unbatched=False):
        import numpy as np
        cdef pylstm_status st
        cdef size_t R = P if P else H
        self.d = model_desc(I, H, P, L, False)
        self.f64 = f64
        self.tn = cnp.NPY_FLOAT64 if f64 else cnp.NPY_FLOAT32
        self.B = B
        self.unbatched = unbatched and B == 1
        if f64:
            st = pylstm_stream_sizes_f64(&self.d, B, &self.packed_size, &self.work_size)
        else:
            st = pylstm_stream_sizes_f32(&self.d, B, &self.packed_size, &self.work_size)
        check(st, "stream sizes")
        dt = np.float64 if f64 else np.float32
        self.packed = np.empty(self.packed_size, np.uint8)
        self.work = np.empty(self.work_size, np.uint8)
        self.h = np.zeros((L, B, R), dt)
        self.c = np.zeros((L, B, H), dt)
        self.y = np.zeros((B, R), dt)
        self.ph = <char *>cnp.PyArray_DATA(<cnp.ndarray>self.h)
        self.pc = <char *>cnp.PyArray_DATA(<cnp.ndarray>self.c)
        self.py = <char *>cnp.PyArray_DATA(<cnp.ndarray>self.y)
        self.ppk = cnp.PyArray_DATA(<cnp.ndarray>self.packed)
        self.pw = cnp.PyArray_DATA(<cnp.ndarray>self.work)
        self.pack(weights)

    cdef int enter(self) except -1:
        if not PyThread_acquire_lock(self.lock, NOWAIT_LOCK):
            raise RuntimeError("stream: used from two threads at once; one stream is one "
                               "sequence of steps (make one stream per thread with "
                               "model.stream())")
        return 0

    def pack(self, list weights):
        """Packs the weights (again): call after changing the model's parameters."""
        cdef _Params p = make_params(self.f64, self.d.input_size, self.d.hidden_size,
                                     self.d.proj_size, self.d.num_layers, False, weights, None)
        cdef pylstm_status st
        self.enter()
        try:
            with nogil:
                if self.f64:
                    st = pylstm_stream_pack_f64(&self.d, <pylstm_weights_f64 *>p.w, self.ppk,
                                                self.packed_size)
                else:
                    st = pylstm_stream_pack_f32(&self.d, <pylstm_weights_f32 *>p.w, self.ppk,
                                                self.packed_size)
        finally:
            PyThread_release_lock(self.lock)
        check(st, "stream pack")

    def get_state(self):
        """Copies of (h, c)."""
        self.enter()
        try:
            return self.h.copy(), self.c.copy()
        finally:
            PyThread_release_lock(self.lock)

    def set_state(self, h, c):
        """Sets the state from arrays of h's and c's number of values (None: zeros)."""
        self.enter()
        try:
            self.h[...] = 0 if h is None else h.reshape(self.h.shape)
            self.c[...] = 0 if c is None else c.reshape(self.c.shape)
        finally:
            PyThread_release_lock(self.lock)

    def step(self, x):
        """x: C-contiguous array of the model dtype in the machine's byte order,
        shaped (B, I), or (I,) for an unbatched stepper; anything else returns
        None, for the caller to convert and check, and call again."""
        cdef cnp.ndarray arr
        cdef void *px
        cdef pylstm_status st
        if (type(x) is not cnp.ndarray or cnp.PyArray_TYPE(<cnp.ndarray>x) != self.tn
                or not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>x)
                or cnp.PyArray_ISBYTESWAPPED(<cnp.ndarray>x)):
            return None
        arr = <cnp.ndarray>x
        if self.unbatched:
            if arr.ndim != 1 or <size_t>arr.shape[0] != self.d.input_size:
                return None
        elif (arr.ndim != 2 or <size_t>arr.shape[0] != self.B
              or <size_t>arr.shape[1] != self.d.input_size):
            return None
        px = cnp.PyArray_DATA(arr)
        self.enter()
        with nogil:
            if self.f64:
                st = pylstm_stream_step_f64(&self.d, self.ppk, self.packed_size, self.B,
                                            <double *>px, <double *>self.ph, <double *>self.pc,
                                            <double *>self.py, self.pw, self.work_size)
            else:
                st = pylstm_stream_step_f32(&self.d, self.ppk, self.packed_size, self.B,
                                            <float *>px, <float *>self.ph, <float *>self.pc,
                                            <float *>self.py, self.pw, self.work_size)
            PyThread_release_lock(self.lock)
        check(st, "stream step")
        return self.y

include "_safetensors.pxi"
include "_handle.pxi"
