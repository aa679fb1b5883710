//! Why a proposal's risk floor is what it is.

use crate::domain::types::Risk;
use serde::{Deserialize, Serialize};

/// Why the floor is what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Finding {
    /// `broad_indicator`, `internal_indicator`, `crown_jewel`,
    /// `permission_change`, …
    pub class: String,
    pub detail: String,
    /// The floor this finding alone sets.
    pub floor: Risk,
}
