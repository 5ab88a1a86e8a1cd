//! Raw bindings to the part of pylstm.h this crate uses, written by hand from
//! the header (no bindgen). C enums are `int`-sized on every platform pylstm
//! supports, so `pylstm_status` and `pylstm_dtype` are `c_int` here.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_void};

pub type pylstm_status = c_int;
pub const PYLSTM_OK: pylstm_status = 0;
pub const PYLSTM_ERR_NULL_POINTER: pylstm_status = 1;
pub const PYLSTM_ERR_BAD_SIZE: pylstm_status = 2;
pub const PYLSTM_ERR_OVERFLOW: pylstm_status = 3;
pub const PYLSTM_ERR_WORK_TOO_SMALL: pylstm_status = 4;
pub const PYLSTM_ERR_RESERVE_TOO_SMALL: pylstm_status = 5;
pub const PYLSTM_ERR_BAD_LENGTHS: pylstm_status = 6;
pub const PYLSTM_ERR_BAD_ARGUMENT: pylstm_status = 7;
pub const PYLSTM_ERR_OUT_OF_MEMORY: pylstm_status = 8;
pub const PYLSTM_ERR_IO: pylstm_status = 9;
pub const PYLSTM_ERR_FORMAT: pylstm_status = 10;
pub const PYLSTM_ERR_NOT_FOUND: pylstm_status = 11;
pub const PYLSTM_ERR_BUFFER_TOO_SMALL: pylstm_status = 12;
pub const PYLSTM_ERR_DTYPE: pylstm_status = 13;

pub type pylstm_dtype = c_int;
pub const PYLSTM_DTYPE_F32: pylstm_dtype = 1;
pub const PYLSTM_DTYPE_F64: pylstm_dtype = 2;

/// Opaque: only ever behind a pointer the library hands out.
#[repr(C)]
pub struct pylstm_model {
    _private: [u8; 0],
}

#[repr(C)]
pub struct pylstm_model_stream {
    _private: [u8; 0],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct pylstm_model_config {
    pub struct_size: usize,
    pub dtype: pylstm_dtype,
    pub input_size: usize,
    pub hidden_size: usize,
    pub proj_size: usize,
    pub num_layers: usize,
    pub bidirectional: c_int,
    pub bias: c_int,
    pub batch_first: c_int,
    pub dropout: f64,
}

extern "C" {
    pub fn pylstm_strerror(status: pylstm_status) -> *const c_char;
    pub fn pylstm_version() -> *const c_char;
    pub fn pylstm_set_num_threads(n: usize) -> pylstm_status;

    pub fn pylstm_model_load(path: *const c_char, out: *mut *mut pylstm_model) -> pylstm_status;
    pub fn pylstm_model_free(model: *mut pylstm_model);
    pub fn pylstm_model_config_get(
        model: *const pylstm_model,
        out: *mut pylstm_model_config,
    ) -> pylstm_status;
    pub fn pylstm_model_run_size(
        model: *const pylstm_model,
        t: usize,
        b: usize,
        work_bytes: *mut usize,
    ) -> pylstm_status;
    pub fn pylstm_model_run_f32(
        model: *const pylstm_model,
        t: usize,
        b: usize,
        x: *const f32,
        h0: *const f32,
        c0: *const f32,
        lengths: *const i64,
        y: *mut f32,
        h_n: *mut f32,
        c_n: *mut f32,
        work: *mut c_void,
        work_size: usize,
    ) -> pylstm_status;

    pub fn pylstm_model_stream_open(
        model: *const pylstm_model,
        b: usize,
        out: *mut *mut pylstm_model_stream,
    ) -> pylstm_status;
    pub fn pylstm_model_stream_free(stream: *mut pylstm_model_stream);
    pub fn pylstm_model_stream_reset(
        stream: *mut pylstm_model_stream,
        h: *const c_void,
        c: *const c_void,
    ) -> pylstm_status;
    pub fn pylstm_model_stream_step_f32(
        stream: *mut pylstm_model_stream,
        x: *const f32,
        y: *mut f32,
    ) -> pylstm_status;
}
