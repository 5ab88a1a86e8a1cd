//! A safe Rust wrapper of pylstm's model handle (see pylstm.h, "Model handle").
//!
//! ```no_run
//! let model = pylstm::Model::load("model.safetensors")?;
//! let cfg = model.config();
//! let (t, b) = (5, 2);
//! let x = vec![0.5f32; t * b * cfg.input_size];
//! let out = model.run_f32(&x, t, b, Some(&[5, 3]))?;
//! println!("{:?}", out.y);
//! # Ok::<(), pylstm::Error>(())
//! ```
//!
//! A [`Model`] is immutable and may be shared by threads (`Send + Sync`); a
//! [`Stream`] borrows its model, so the model outlives every stream, and
//! steps take `&mut self`, so one stream is never stepped from two threads.
pub mod ffi;

use std::ffi::{CStr, CString};
use std::fmt;
use std::path::Path;
use std::ptr::{self, NonNull};

/// A pylstm status other than `PYLSTM_OK`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error {
    status: ffi::pylstm_status,
}

impl Error {
    /// The C status code (`PYLSTM_ERR_*` in [`ffi`]).
    pub fn status(&self) -> ffi::pylstm_status {
        self.status
    }

    /// The library's description of the status (`pylstm_strerror`).
    pub fn message(&self) -> &'static str {
        // SAFETY: pylstm_strerror returns a static NUL-terminated string for
        // any value, never NULL.
        unsafe { CStr::from_ptr(ffi::pylstm_strerror(self.status)) }
            .to_str()
            .unwrap_or("(not UTF-8)")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pylstm: {} (status {})", self.message(), self.status)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

fn check(status: ffi::pylstm_status) -> Result<()> {
    if status == ffi::PYLSTM_OK {
        Ok(())
    } else {
        Err(Error { status })
    }
}

fn bad_size() -> Error {
    Error {
        status: ffi::PYLSTM_ERR_BAD_SIZE,
    }
}

/// The library's version, "MAJOR.MINOR.PATCH".
pub fn version() -> &'static str {
    // SAFETY: a static NUL-terminated string.
    unsafe { CStr::from_ptr(ffi::pylstm_version()) }
        .to_str()
        .unwrap_or("?")
}

/// Threads the compute functions use (1..64); call at setup, before any run.
pub fn set_num_threads(n: usize) -> Result<()> {
    // SAFETY: plain value argument.
    check(unsafe { ffi::pylstm_set_num_threads(n) })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F64,
}

/// What a model computes: torch.nn.LSTM's constructor arguments.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub dtype: Dtype,
    pub input_size: usize,
    pub hidden_size: usize,
    /// 0: no projection.
    pub proj_size: usize,
    pub num_layers: usize,
    pub bidirectional: bool,
    pub bias: bool,
}

impl Config {
    /// D: 2 for a bidirectional model, else 1.
    pub fn num_directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }

    /// R: the size of h (proj_size if there is a projection, else hidden_size).
    pub fn state_size(&self) -> usize {
        if self.proj_size > 0 {
            self.proj_size
        } else {
            self.hidden_size
        }
    }
}

/// A run's results, time-major and row-major like the C API.
#[derive(Clone, Debug)]
pub struct Output<T> {
    /// (T, B, D*R)
    pub y: Vec<T>,
    /// (L*D, B, R)
    pub h_n: Vec<T>,
    /// (L*D, B, H)
    pub c_n: Vec<T>,
}

/// A loaded model: the C handle, freed when dropped.
pub struct Model {
    ptr: NonNull<ffi::pylstm_model>,
    config: Config,
}

// SAFETY: pylstm.h: a handle is immutable after creation and any number of
// threads may run it at once.
unsafe impl Send for Model {}
unsafe impl Sync for Model {}

impl Model {
    /// Loads a file written by Python's `pylstm.save` (or a torch-named LSTM
    /// state dict in safetensors).
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        // The C side takes a UTF-8 name; a path that is not UTF-8 or holds a
        // NUL cannot name the file there.
        let path = path.as_ref().to_str().ok_or(Error {
            status: ffi::PYLSTM_ERR_IO,
        })?;
        let cpath = CString::new(path).map_err(|_| Error {
            status: ffi::PYLSTM_ERR_IO,
        })?;
        let mut raw = ptr::null_mut();
        // SAFETY: a valid C string and out-pointer; on error *out stays NULL.
        check(unsafe { ffi::pylstm_model_load(cpath.as_ptr(), &mut raw) })?;
        let ptr = NonNull::new(raw).ok_or(Error {
            status: ffi::PYLSTM_ERR_NULL_POINTER,
        })?;
        // From here `Model`'s Drop frees the handle, whatever happens next.
        let mut model = Model {
            ptr,
            config: Config {
                dtype: Dtype::F32,
                input_size: 0,
                hidden_size: 0,
                proj_size: 0,
                num_layers: 0,
                bidirectional: false,
                bias: false,
            },
        };
        let mut c = ffi::pylstm_model_config {
            struct_size: std::mem::size_of::<ffi::pylstm_model_config>(),
            ..Default::default()
        };
        // SAFETY: a live handle and a struct whose struct_size is set.
        check(unsafe { ffi::pylstm_model_config_get(model.ptr.as_ptr(), &mut c) })?;
        model.config = Config {
            dtype: if c.dtype == ffi::PYLSTM_DTYPE_F64 {
                Dtype::F64
            } else {
                Dtype::F32
            },
            input_size: c.input_size,
            hidden_size: c.hidden_size,
            proj_size: c.proj_size,
            num_layers: c.num_layers,
            bidirectional: c.bidirectional != 0,
            bias: c.bias != 0,
        };
        Ok(model)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Inference over a batch from zero initial state: x is (T, B, I),
    /// time-major; `lengths` (B values in 1..=T) gives each sequence's length
    /// (outputs past it are zero, h_n/c_n are the state at its last step).
    pub fn run_f32(
        &self,
        x: &[f32],
        t: usize,
        b: usize,
        lengths: Option<&[i64]>,
    ) -> Result<Output<f32>> {
        let c = &self.config;
        let (d, r, h) = (c.num_directions(), c.state_size(), c.hidden_size);
        let ld = c.num_layers * d;
        // Sizes the C call cannot see are checked here (it only gets pointers).
        let n_x = t
            .checked_mul(b)
            .and_then(|n| n.checked_mul(c.input_size))
            .ok_or_else(bad_size)?;
        if x.len() != n_x || matches!(lengths, Some(l) if l.len() != b) {
            return Err(bad_size());
        }
        let mut out = Output {
            y: vec![0.0f32; t * b * d * r],
            h_n: vec![0.0f32; ld * b * r],
            c_n: vec![0.0f32; ld * b * h],
        };
        let mut work_bytes = 0usize;
        // SAFETY: live handle, valid out-pointer.
        check(unsafe { ffi::pylstm_model_run_size(self.ptr.as_ptr(), t, b, &mut work_bytes) })?;
        // Work as u64 words: the C side needs only byte alignment, and this
        // gives 8 anyway.
        let mut work = vec![0u64; work_bytes / 8 + 1];
        // SAFETY: every buffer has the size pylstm.h asks for, checked above.
        check(unsafe {
            ffi::pylstm_model_run_f32(
                self.ptr.as_ptr(),
                t,
                b,
                x.as_ptr(),
                ptr::null(),
                ptr::null(),
                lengths.map_or(ptr::null(), |l| l.as_ptr()),
                out.y.as_mut_ptr(),
                out.h_n.as_mut_ptr(),
                out.c_n.as_mut_ptr(),
                work.as_mut_ptr().cast(),
                work.len() * 8,
            )
        })?;
        Ok(out)
    }

    /// A stream of `b` sequences fed one step at a time, from zero state
    /// (unidirectional models only).
    pub fn stream(&self, b: usize) -> Result<Stream<'_>> {
        let mut raw = ptr::null_mut();
        // SAFETY: live handle, valid out-pointer; on error *out stays NULL.
        check(unsafe { ffi::pylstm_model_stream_open(self.ptr.as_ptr(), b, &mut raw) })?;
        let ptr = NonNull::new(raw).ok_or(Error {
            status: ffi::PYLSTM_ERR_NULL_POINTER,
        })?;
        Ok(Stream {
            ptr,
            model: self,
            batch: b,
        })
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: the handle is live, and no Stream outlives `self` (borrow).
        unsafe { ffi::pylstm_model_free(self.ptr.as_ptr()) }
    }
}

/// Per-step inference on a model; borrows the model, which must outlive it.
pub struct Stream<'m> {
    ptr: NonNull<ffi::pylstm_model_stream>,
    model: &'m Model,
    batch: usize,
}

// SAFETY: a stream may move between threads; `&mut self` on every call keeps
// it to one thread at a time, as pylstm.h requires.
unsafe impl Send for Stream<'_> {}

impl Stream<'_> {
    /// One step: x (B, I) -> y (B, R), the last layer's h_t.
    pub fn step_f32(&mut self, x: &[f32]) -> Result<Vec<f32>> {
        let c = self.model.config();
        if x.len() != self.batch * c.input_size {
            return Err(bad_size());
        }
        let mut y = vec![0.0f32; self.batch * c.state_size()];
        // SAFETY: x and y have the sizes the stream's batch implies.
        check(unsafe {
            ffi::pylstm_model_stream_step_f32(self.ptr.as_ptr(), x.as_ptr(), y.as_mut_ptr())
        })?;
        Ok(y)
    }

    /// Back to zero state.
    pub fn reset(&mut self) -> Result<()> {
        // SAFETY: NULL h and c mean zeros.
        check(unsafe {
            ffi::pylstm_model_stream_reset(self.ptr.as_ptr(), ptr::null(), ptr::null())
        })
    }
}

impl Drop for Stream<'_> {
    fn drop(&mut self) {
        // SAFETY: the stream is live and freed once.
        unsafe { ffi::pylstm_model_stream_free(self.ptr.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../data")
            .join(name)
    }

    #[test]
    fn missing_file_is_an_io_error_with_the_library_message() {
        let err = Model::load(data("no-such-file.safetensors"))
            .err()
            .expect("load must fail");
        assert_eq!(err.status(), ffi::PYLSTM_ERR_IO);
        assert!(!err.message().is_empty() && err.message() != "unknown status");
    }

    #[test]
    fn not_a_model_file_is_a_format_error() {
        let err = Model::load(data("reference.txt"))
            .err()
            .expect("load must fail");
        assert_eq!(err.status(), ffi::PYLSTM_ERR_FORMAT);
    }

    #[test]
    fn saved_model_has_python_configuration_and_zero_padding() {
        let model = Model::load(data("model.safetensors")).expect("load");
        let c = *model.config();
        assert_eq!(
            (c.input_size, c.hidden_size, c.proj_size, c.num_layers),
            (3, 5, 2, 2)
        );
        assert!(c.bidirectional && c.bias && c.dtype == Dtype::F32);
        let (t, b, width) = (4, 2, c.num_directions() * c.state_size());
        let x: Vec<f32> = (0..t * b * c.input_size)
            .map(|k| (k as f32 * 0.37).sin())
            .collect();
        let out = model.run_f32(&x, t, b, Some(&[4, 1])).expect("run");
        for step in 1..t {
            let row = &out.y[(step * b + 1) * width..(step * b + 2) * width];
            assert!(
                row.iter().all(|&v| v == 0.0),
                "padding row of sequence 1 at t={step}"
            );
        }
        assert!(out.y[..width].iter().any(|&v| v != 0.0));
        assert_eq!(model.run_f32(&x[1..], t, b, None).err(), Some(bad_size()));
    }

    #[test]
    fn streams_need_a_unidirectional_model() {
        let model = Model::load(data("model.safetensors")).expect("load");
        let err = model
            .stream(1)
            .err()
            .expect("bidirectional stream must fail");
        assert_eq!(err.status(), ffi::PYLSTM_ERR_BAD_ARGUMENT);
    }
}
