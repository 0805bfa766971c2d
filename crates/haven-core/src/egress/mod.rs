//! Egress: the one way out of the garden. The automated checks that run on the exact bytes of a
//! file ([`checks`]: disclosure control for tables, identifiers in any text; with [`records`], a
//! table rebuilt from its records), which `haven egress check` offers outside any request; an
//! output request's life as a typed state machine ([`request`]); the use cases that gather,
//! pin, check, review and release a request ([`outputs`]); and the release itself, a zip of the
//! approved bytes with a signed manifest ([`release`]).

pub mod checks;
mod identifiers;
pub mod outputs;
pub mod records;
pub mod release;
pub mod request;
mod split;
pub mod store;
mod stream;
mod table;
mod workbook;

use std::collections::BTreeMap;

pub use outputs::{Egress, EgressDeps};

/// `[egress]` in the configuration.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EgressConfig {
    /// The automated checks' thresholds (`[egress.checks]`).
    pub checks: checks::Thresholds,
    /// One asset's own thresholds (`[egress.assets.<name>]`), in place of `[egress.checks]`
    /// for that asset; keys not given there take the built-in defaults.
    pub assets: BTreeMap<String, checks::Thresholds>,
    /// Approvals by distinct output checkers a request needs (never fewer than 2).
    pub checkers: u8,
    /// How long a release's download link lives, in minutes (it works once).
    pub link_minutes: u32,
    /// The most files one request holds.
    pub max_files: u32,
}

impl Default for EgressConfig {
    fn default() -> Self {
        EgressConfig {
            checks: checks::Thresholds::default(),
            assets: BTreeMap::new(),
            checkers: 2,
            link_minutes: 15,
            max_files: 100,
        }
    }
}

impl EgressConfig {
    pub fn validate(&self) -> Result<(), String> {
        self.checks.validate()?;
        for (name, t) in &self.assets {
            t.validate().map_err(|e| format!("egress.assets.{name}: {e}"))?;
        }
        if !(2..=10).contains(&self.checkers) {
            return Err(format!("egress.checkers is {}; give a number from 2 to 10", self.checkers));
        }
        if !(1..=1440).contains(&self.link_minutes) {
            return Err(format!(
                "egress.link_minutes is {}; give a number of minutes from 1 to 1440",
                self.link_minutes
            ));
        }
        if !(1..=10_000).contains(&self.max_files) {
            return Err(format!("egress.max_files is {}; give a number from 1 to 10000", self.max_files));
        }
        Ok(())
    }

    /// The thresholds `asset` is checked under.
    pub fn thresholds(&self, asset: &str) -> &checks::Thresholds {
        self.assets.get(asset).unwrap_or(&self.checks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_asset_may_have_thresholds_of_its_own_and_bad_settings_say_which_key() {
        let mut c = EgressConfig::default();
        let strict = checks::Thresholds { min_count: 20, ..checks::Thresholds::default() };
        c.assets.insert("heart".into(), strict.clone());
        assert_eq!(c.thresholds("heart"), &strict);
        assert_eq!(c.thresholds("lung").min_count, 10);
        assert!(c.validate().is_ok());
        c.assets.insert("bad".into(), checks::Thresholds { min_count: 0, ..strict });
        assert!(c.validate().unwrap_err().starts_with("egress.assets.bad:"));
        let few = EgressConfig { checkers: 1, ..EgressConfig::default() };
        assert!(few.validate().unwrap_err().contains("egress.checkers"));
        let parsed: Result<EgressConfig, _> = serde_json::from_str(r#"{"assets": {"heart": {"min_cont": 5}}}"#);
        assert!(parsed.is_err(), "an unknown key in an asset's thresholds is refused");
    }
}
