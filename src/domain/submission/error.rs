//! Why a submission was refused: one error, naming the field.

use crate::domain::digest::DigestError;
use crate::domain::json::JsonProblem;

/// Why a submission was refused. `field` is a path such as
/// `proposals[1].action`, so the agent's author can find the mistake.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
    /// A problem inside a document embedded in the field (a
    /// `permission_change`'s `before` or `after`): a name twice in one
    /// object, as the envelope's own check names it.
    pub embedded: Option<JsonProblem>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            embedded: None,
        }
    }
}

impl From<DigestError> for FieldError {
    fn from(e: DigestError) -> Self {
        FieldError::new("(document)", e.to_string())
    }
}
