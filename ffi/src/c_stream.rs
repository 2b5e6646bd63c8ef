//! The C stream `AdbcStatementExecuteQuery` hands out: arrow's export of the statement's reader,
//! wrapped so that a cancelled query reads as ADBC says it must, `ECANCELED` from `get_next`.
//!
//! arrow's `FFI_ArrowArrayStream` maps errors to errno codes by their variant and has no
//! `ECANCELED`; `errors::to_arrow` makes a cancellation the only error that becomes `EIO`, and
//! the wrapper's `get_next` turns that `EIO` into `ECANCELED`. Schema, last error and release go
//! to arrow's stream unchanged.

use adbc_core::constants::ADBC_STATUS_OK;
use adbc_core::error::AdbcStatusCode;
use adbc_ffi::{FFI_AdbcError, FFI_AdbcStatement, FFIDriver};
use datafusion::arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema};
use datafusion::arrow::ffi_stream::FFI_ArrowArrayStream;
use dfshm::datafusion;
use std::os::raw::{c_char, c_int, c_void};
use std::sync::LazyLock;

/// `AdbcStatementExecuteQuery`'s C signature.
type ExecuteQuery = unsafe extern "C" fn(
    *mut FFI_AdbcStatement,
    *mut FFI_ArrowArrayStream,
    *mut i64,
    *mut FFI_AdbcError,
) -> AdbcStatusCode;

/// adbc_ffi's `AdbcStatementExecuteQuery` for dfshm's statements, which [`execute_query`] wraps.
static EXPORTED_EXECUTE_QUERY: LazyLock<ExecuteQuery> = LazyLock::new(|| {
    <crate::DfshmDriver as FFIDriver>::ffi_driver()
        .StatementExecuteQuery
        .expect("adbc_ffi exports AdbcStatementExecuteQuery")
});

/// `AdbcStatementExecuteQuery`: adbc_ffi's, with the result stream wrapped (see the module).
///
/// # Safety
/// As for any `AdbcStatementExecuteQuery`: `statement` is a statement this driver created (or
/// NULL), `out` is NULL or writable, `rows_affected` and `error` are NULL or valid.
pub(crate) unsafe extern "C" fn execute_query(
    statement: *mut FFI_AdbcStatement,
    out: *mut FFI_ArrowArrayStream,
    rows_affected: *mut i64,
    error: *mut FFI_AdbcError,
) -> AdbcStatusCode {
    // SAFETY: the caller's guarantees are those of the function it calls.
    let status = unsafe { (*EXPORTED_EXECUTE_QUERY)(statement, out, rows_affected, error) };
    if status == ADBC_STATUS_OK && !out.is_null() {
        // SAFETY: on success the exported function wrote an initialised stream to `out`, which
        // is writable (the caller's guarantee); it may be unaligned.
        unsafe {
            let inner = std::ptr::read_unaligned(out);
            std::ptr::write_unaligned(out, wrap(inner));
        }
    }
    status
}

/// A stream whose private data owns `inner`.
fn wrap(inner: FFI_ArrowArrayStream) -> FFI_ArrowArrayStream {
    FFI_ArrowArrayStream {
        get_schema: Some(get_schema),
        get_next: Some(get_next),
        get_last_error: Some(get_last_error),
        release: Some(release),
        private_data: Box::into_raw(Box::new(inner)).cast::<c_void>(),
    }
}

/// The arrow stream a wrapper owns.
///
/// # Safety
/// `stream` is a live stream made by [`wrap`] (not released), used by one thread at a time, as
/// the C stream interface requires of its callers.
unsafe fn inner<'a>(stream: *mut FFI_ArrowArrayStream) -> &'a mut FFI_ArrowArrayStream {
    // SAFETY: `private_data` is the box `wrap` leaked, alive until `release` (the caller's
    // guarantee), and no other reference to it exists while the caller's call lasts.
    unsafe { &mut *(*stream).private_data.cast::<FFI_ArrowArrayStream>() }
}

unsafe extern "C" fn get_schema(
    stream: *mut FFI_ArrowArrayStream,
    out: *mut FFI_ArrowSchema,
) -> c_int {
    // SAFETY: a caller of the C stream interface passes a live stream (ours, from `wrap`).
    let inner = unsafe { inner(stream) };
    match inner.get_schema {
        // SAFETY: arrow's callback on arrow's stream, with the caller's `out`.
        Some(get_schema) => unsafe { get_schema(inner, out) },
        None => libc::EINVAL,
    }
}

unsafe extern "C" fn get_next(
    stream: *mut FFI_ArrowArrayStream,
    out: *mut FFI_ArrowArray,
) -> c_int {
    // SAFETY: a caller of the C stream interface passes a live stream (ours, from `wrap`).
    let inner = unsafe { inner(stream) };
    let code = match inner.get_next {
        // SAFETY: arrow's callback on arrow's stream, with the caller's `out`.
        Some(get_next) => unsafe { get_next(inner, out) },
        None => libc::EINVAL,
    };
    if code == libc::EIO {
        libc::ECANCELED
    } else {
        code
    }
}

unsafe extern "C" fn get_last_error(stream: *mut FFI_ArrowArrayStream) -> *const c_char {
    // SAFETY: a caller of the C stream interface passes a live stream (ours, from `wrap`).
    let inner = unsafe { inner(stream) };
    match inner.get_last_error {
        // SAFETY: arrow's callback on arrow's stream; its text lives until the next call.
        Some(get_last_error) => unsafe { get_last_error(inner) },
        None => std::ptr::null(),
    }
}

unsafe extern "C" fn release(stream: *mut FFI_ArrowArrayStream) {
    if stream.is_null() {
        return;
    }
    // SAFETY: `stream` is ours and live (a released stream has no `release` to call again);
    // `private_data` is the box `wrap` leaked, taken back once here. Dropping arrow's stream
    // calls its own release.
    unsafe {
        drop(Box::from_raw(
            (*stream).private_data.cast::<FFI_ArrowArrayStream>(),
        ));
        (*stream).private_data = std::ptr::null_mut();
        (*stream).get_schema = None;
        (*stream).get_next = None;
        (*stream).get_last_error = None;
        (*stream).release = None;
    }
}
