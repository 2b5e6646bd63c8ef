//! ADBC errors: a status code, the message a user reads, and a SQLSTATE where one fits.

use adbc_core::error::{Error, Status};
use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use dfshm::datafusion;
use std::os::raw::c_char;

/// An ADBC error with `status`, `message` and, when given, a five-character SQLSTATE.
pub(crate) fn error(status: Status, message: impl Into<String>, sqlstate: Option<&str>) -> Error {
    let mut error = Error::with_message_and_status(message, status);
    if let Some(state) = sqlstate {
        for (slot, byte) in error.sqlstate.iter_mut().zip(state.bytes()) {
            *slot = byte as c_char;
        }
    }
    error
}

/// `NOT_IMPLEMENTED` for an ADBC feature dfshm does not offer, saying what to do instead.
pub(crate) fn not_implemented(what: &str, instead: &str) -> Error {
    error(
        Status::NotImplemented,
        format!("dfshm does not support {what}; {instead}"),
        Some("0A000"),
    )
}

/// `INVALID_STATE` for a call made in the wrong order.
pub(crate) fn invalid_state(message: impl Into<String>) -> Error {
    error(Status::InvalidState, message, Some("HY010"))
}

/// `INVALID_ARGUMENT` for a bad option value or argument.
pub(crate) fn invalid_argument(message: impl Into<String>) -> Error {
    error(Status::InvalidArguments, message, Some("HY024"))
}

/// Maps a DataFusion error (also one that crossed from a worker process) to an ADBC error: the
/// status from its root cause, the message in full.
pub(crate) fn from_datafusion(error_value: DataFusionError) -> Error {
    let message = error_value.to_string();
    if dfshm::is_cancelled(&error_value) {
        return error(Status::Cancelled, message, Some("57014"));
    }
    if let DataFusionError::External(cause) = error_value.find_root()
        && cause.is::<dfshm::PartitionUnavailable>()
    {
        // A partition read twice, or after its statement was released.
        return error(Status::InvalidState, message, Some("55000"));
    }
    let (status, state) = match error_value.find_root() {
        DataFusionError::SQL(..) => (Status::InvalidArguments, "42601"),
        DataFusionError::Plan(_) => (Status::InvalidArguments, "42000"),
        DataFusionError::SchemaError(..) => (Status::InvalidArguments, "42703"),
        DataFusionError::Configuration(_) => (Status::InvalidArguments, "22023"),
        DataFusionError::NotImplemented(_) => (Status::NotImplemented, "0A000"),
        DataFusionError::ResourcesExhausted(_) => (Status::Internal, "53200"),
        DataFusionError::IoError(_) | DataFusionError::ObjectStore(_) => (Status::IO, "58030"),
        DataFusionError::ParquetError(_) => (Status::IO, "58030"),
        DataFusionError::ArrowError(arrow, _) if matches!(**arrow, ArrowError::IoError(..)) => {
            (Status::IO, "58030")
        }
        DataFusionError::Execution(_) | DataFusionError::ExecutionJoin(_) => {
            (Status::Internal, "XX000")
        }
        _ => (Status::Internal, "XX000"),
    };
    error(status, message, Some(state))
}

/// `NOT_FOUND` for a statement that names tables the catalog does not have (`missing`): DataFusion
/// reports them as a plan error like any other, so the caller looks the names up.
pub(crate) fn tables_not_found(error_value: DataFusionError, missing: &[String]) -> Error {
    let message = format!(
        "{error_value} (no such table: {}; list tables with AdbcConnectionGetObjects)",
        missing.join(", ")
    );
    error(Status::NotFound, message, Some("42P01"))
}

/// An error for the ArrowArrayStream interface, which carries only a message (it becomes an
/// errno code and `get_last_error`'s text). arrow's export turns an `IoError` into `EIO` and
/// everything else but "not implemented" and memory errors into `EINVAL`; a cancelled query is
/// made the only `IoError`, so that `c_stream` can report it as ADBC's `ECANCELED`.
pub(crate) fn to_arrow(error_value: DataFusionError) -> ArrowError {
    if dfshm::is_cancelled(&error_value) {
        let message = error_value.to_string();
        return ArrowError::IoError(
            message.clone(),
            std::io::Error::new(std::io::ErrorKind::Interrupted, message),
        );
    }
    match error_value {
        DataFusionError::ArrowError(arrow, _) if !matches!(*arrow, ArrowError::IoError(..)) => {
            *arrow
        }
        other => ArrowError::ExternalError(Box::new(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(error: &Error) -> String {
        error.sqlstate.iter().map(|&b| b as u8 as char).collect()
    }

    #[test]
    fn statuses_and_sqlstates_follow_the_root_cause() {
        let parse = from_datafusion(DataFusionError::SQL(
            Box::new(
                datafusion::sql::sqlparser::parser::ParserError::ParserError(
                    "Expected: an SQL statement, found: SELEC".into(),
                ),
            ),
            None,
        ));
        assert_eq!(parse.status, Status::InvalidArguments);
        assert_eq!(state(&parse), "42601");
        assert!(parse.message.contains("SELEC"), "{}", parse.message);

        // A plan error is not a missing table by its words: only a lookup says so.
        let plan = from_datafusion(DataFusionError::Plan("table 'x' not found".into()));
        assert_eq!(plan.status, Status::InvalidArguments);
        let missing = tables_not_found(
            DataFusionError::Plan("table 'x' not found".into()),
            &["x".into()],
        );
        assert_eq!(missing.status, Status::NotFound);
        assert_eq!(state(&missing), "42P01");
        assert!(
            missing.message.contains("no such table: x"),
            "{}",
            missing.message
        );

        let context = DataFusionError::Context(
            "while running".into(),
            Box::new(DataFusionError::ResourcesExhausted("memory".into())),
        );
        assert_eq!(from_datafusion(context).status, Status::Internal);

        let cancelled = from_datafusion(dfshm::Cancelled.into());
        assert_eq!(cancelled.status, Status::Cancelled);
        assert_eq!(state(&cancelled), "57014");

        assert_eq!(state(&invalid_state("x")), "HY010");
        assert_eq!(not_implemented("x", "y").status, Status::NotImplemented);
    }
}
