//! The one error of a write: refused by the rules, or by the database.
//! The database's own errors convert into it in `server::store`.

use crate::domain::machine::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("the proposal changed since it was shown: current digest is {current}")]
    StaleDigest { current: String },
    #[error("{0}")]
    Conflict(String),
    #[error("this signed payload was already accepted (nonce {0}); a replay changes nothing")]
    Replay(String),
    #[error("{0}")]
    Forbidden(String),
    /// A `hold` freeze on the agent: nothing approved may start.
    #[error("not started: {}; an approval waits until a lead lifts the freeze (or it lapses)", .0.describe())]
    Frozen(Box<crate::domain::freeze::Freeze>),
    #[error("{0} is not frozen")]
    NotFrozen(String),
    #[error("not reversible: {0}")]
    NotReversible(String),
    /// The database cannot be reached or written (disk full, locked, down).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("internal storage error: {0}")]
    Internal(String),
}
