// A small Go wrapper of pylstm's model handle (see pylstm.h, "Model handle"),
// through cgo and pkg-config: the installed library's pylstm.pc must be on
// PKG_CONFIG_PATH.
package main

/*
#cgo pkg-config: pylstm
#include <stdlib.h>
#include <pylstm.h>
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// Error is a pylstm status other than PYLSTM_OK.
type Error struct {
	Status int
}

func (e Error) Error() string {
	return fmt.Sprintf("pylstm: %s (status %d)", C.GoString(C.pylstm_strerror(C.pylstm_status(e.Status))), e.Status)
}

func check(st C.pylstm_status) error {
	if st == C.PYLSTM_OK {
		return nil
	}
	return Error{Status: int(st)}
}

// Config is what a model computes: torch.nn.LSTM's constructor arguments.
type Config struct {
	InputSize, HiddenSize, ProjSize, NumLayers int
	Bidirectional, Float64                     bool
}

// Directions is D: 2 for a bidirectional model, else 1.
func (c Config) Directions() int {
	if c.Bidirectional {
		return 2
	}
	return 1
}

// StateSize is R, the size of h: ProjSize if there is a projection.
func (c Config) StateSize() int {
	if c.ProjSize > 0 {
		return c.ProjSize
	}
	return c.HiddenSize
}

// Model owns a C handle; Close frees it (a finalizer does too, as a backstop).
// A model may be used by several goroutines at once.
type Model struct {
	ptr    *C.pylstm_model
	Config Config
}

// Load reads a file written by Python's pylstm.save.
func Load(path string) (*Model, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	m := &Model{}
	if err := check(C.pylstm_model_load(cpath, &m.ptr)); err != nil {
		return nil, err
	}
	runtime.SetFinalizer(m, (*Model).Close)
	var c C.pylstm_model_config
	c.struct_size = C.size_t(unsafe.Sizeof(c))
	if err := check(C.pylstm_model_config_get(m.ptr, &c)); err != nil {
		m.Close()
		return nil, err
	}
	m.Config = Config{
		InputSize: int(c.input_size), HiddenSize: int(c.hidden_size),
		ProjSize: int(c.proj_size), NumLayers: int(c.num_layers),
		Bidirectional: c.bidirectional != 0, Float64: c.dtype == C.PYLSTM_DTYPE_F64,
	}
	return m, nil
}

// Close frees the handle; calling it again is harmless.
func (m *Model) Close() {
	if m.ptr != nil {
		C.pylstm_model_free(m.ptr)
		m.ptr = nil
	}
}

// Output holds a run's results, time-major and row-major like the C API:
// Y (T, B, D*R), HN (L*D, B, R), CN (L*D, B, H).
type Output struct {
	Y, HN, CN []float32
}

// RunF32 runs a batch x (T, B, I) from zero state; lengths (B values in 1..T,
// or nil) gives each sequence's length.
func (m *Model) RunF32(x []float32, T, B int, lengths []int64) (*Output, error) {
	c := m.Config
	D, R, H := c.Directions(), c.StateSize(), c.HiddenSize
	if T < 1 || B < 1 || len(x) != T*B*c.InputSize || (lengths != nil && len(lengths) != B) {
		return nil, Error{Status: int(C.PYLSTM_ERR_BAD_SIZE)}
	}
	out := &Output{
		Y:  make([]float32, T*B*D*R),
		HN: make([]float32, c.NumLayers*D*B*R),
		CN: make([]float32, c.NumLayers*D*B*H),
	}
	var lens *C.int64_t
	if lengths != nil {
		lens = (*C.int64_t)(unsafe.Pointer(&lengths[0]))
	}
	// work = NULL: the call allocates its work and frees it before returning.
	// Go memory may be passed for the duration of the call (no Go pointers in it).
	st := C.pylstm_model_run_f32(m.ptr, C.size_t(T), C.size_t(B),
		(*C.float)(unsafe.Pointer(&x[0])), nil, nil, lens,
		(*C.float)(unsafe.Pointer(&out.Y[0])), (*C.float)(unsafe.Pointer(&out.HN[0])),
		(*C.float)(unsafe.Pointer(&out.CN[0])), nil, 0)
	runtime.KeepAlive(m)
	if err := check(st); err != nil {
		return nil, err
	}
	return out, nil
}

// Version is the library's "MAJOR.MINOR.PATCH".
func Version() string {
	return C.GoString(C.pylstm_version())
}
