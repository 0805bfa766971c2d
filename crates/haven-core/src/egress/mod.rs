//! Egress: the one way out of the garden. So far, the automated checks that run on the exact
//! bytes of a file ([`checks`]: disclosure control for tables, identifiers in any text; with
//! [`records`], a table rebuilt from its records), which `haven egress check` offers outside any
//! request, and an output request's life as a typed state machine ([`request`]).

pub mod checks;
mod identifiers;
pub mod records;
pub mod request;
mod table;

/// `[egress]` in the configuration.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EgressConfig {
    /// The automated checks' thresholds (`[egress.checks]`).
    pub checks: checks::Thresholds,
}

impl EgressConfig {
    pub fn validate(&self) -> Result<(), String> {
        self.checks.validate()
    }
}
