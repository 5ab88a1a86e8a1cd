# Binding of the safetensors reader (the "safetensors reader" section of
# pylstm.h). Included at the end of _core.pyx. The C reader checks the whole
# file; this only copies the tensors it found into new NumPy arrays.
import os
from errno import EINVAL as errno_EINVAL

import numpy as _np
from libc.errno cimport errno
from libc.string cimport memcpy

# The dtypes pylstm's models hold; anything else is refused by name.
_ST_NUMPY = {PYLSTM_ST_F32: _np.dtype("<f4"), PYLSTM_ST_F64: _np.dtype("<f8")}


def _io_error(int err, path):
    """The OSError for a PYLSTM_ERR_IO with errno err from opening path (the
    reader gives EINVAL for a FIFO, device or socket, refused unread)."""
    shown = os.fsdecode(path)
    if err == errno_EINVAL:
        return OSError(err, "not a regular file (a FIFO, device or socket)", shown)
    return OSError(err, os.strerror(err), shown)


cdef tuple _st_collect(pylstm_safetensors *f):
    """(name -> ndarray, metadata dict) from an opened file (not freed here)."""
    cdef size_t n, k, d
    cdef pylstm_safetensors_info info
    cdef const char *key
    cdef const char *value
    cdef cnp.ndarray arr
    tensors = {}
    metadata = {}
    check(pylstm_safetensors_count(f, &n), "safetensors")
    for k in range(n):
        check(pylstm_safetensors_tensor(f, k, &info), "safetensors")
        name = info.name.decode("utf-8")
        dt = _ST_NUMPY.get(info.dtype)
        if dt is None:
            raise ValueError(f"safetensors: tensor {name!r} has dtype "
                             f"{info.dtype_name.decode()}; pylstm reads F32 and F64 only")
        shape = tuple(info.shape[d] for d in range(info.ndim))
        arr = _np.empty(shape, dt)
        if <size_t>cnp.PyArray_NBYTES(arr) != info.nbytes:  # the reader guarantees it
            raise RuntimeError(f"safetensors: size mismatch for {name!r}")
        if info.nbytes:
            memcpy(cnp.PyArray_DATA(arr), info.data, info.nbytes)
        # stored little-endian; a no-op on little-endian hosts
        tensors[name] = arr.astype(dt.newbyteorder("="), copy=False)
    check(pylstm_safetensors_metadata_count(f, &n), "safetensors")
    for k in range(n):
        check(pylstm_safetensors_metadata_entry(f, k, &key, &value), "safetensors")
        metadata[key.decode("utf-8")] = value.decode("utf-8")
    return tensors, metadata


def safetensors_read(path):
    """Reads a safetensors file: (dict name -> ndarray copy, metadata dict).

    Raises OSError (with the OS's errno) when the file cannot be read,
    ValueError when it is malformed or holds a dtype other than F32/F64."""
    cdef bytes bpath = os.fsencode(path)
    cdef const char *cpath = bpath
    cdef pylstm_safetensors *f = NULL
    cdef pylstm_status st
    cdef int err = 0
    with nogil:
        st = pylstm_safetensors_open(cpath, &f)
        if st == PYLSTM_ERR_IO:
            err = errno
    if st == PYLSTM_ERR_IO and err:
        raise _io_error(err, path)
    if st == PYLSTM_ERR_FORMAT:
        raise ValueError(f"{os.fsdecode(path)!r}: not a valid safetensors file (truncated, "
                         "oversized header or malformed header/offsets)")
    check(st, f"safetensors {os.fsdecode(path)!r}")
    try:
        return _st_collect(f)
    finally:
        pylstm_safetensors_free(f)


def safetensors_parse(const unsigned char[::1] data):
    """As safetensors_read for bytes in memory (bytes, bytearray, uint8 array)."""
    cdef pylstm_safetensors *f = NULL
    cdef pylstm_status st
    cdef size_t n = data.shape[0]
    cdef const unsigned char *p = &data[0] if n else NULL
    with nogil:
        st = pylstm_safetensors_parse(p, n, &f)
    if st == PYLSTM_ERR_FORMAT:
        raise ValueError("not a valid safetensors file (truncated, oversized header or "
                         "malformed header/offsets)")
    check(st, "safetensors")
    try:
        return _st_collect(f)
    finally:
        pylstm_safetensors_free(f)
