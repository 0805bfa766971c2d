//! The application catalogue: the applications sessions can run, each at one or more versions
//! side by side (R 4.3 and R 4.4, say), and which version opens each file type by default (what
//! opens a `.R` file when nobody says which R). The service desk keeps it; every signed-in user
//! reads it. A version's command is a program and its arguments, run without a shell.

use async_trait::async_trait;
use serde::Serialize;
use serde_json::json;

use crate::audit::{NewAuditEvent, action};
use crate::authz::{Action, Resource, require};
use crate::caller::Caller;
use crate::{Clock, CoreError, Store, StoreError, read, to_micros, transact};

/// How a session shows an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    /// A terminal in the browser (R's console, a shell).
    Terminal,
    /// A web application reverse-proxied to the browser (JupyterLab).
    Web,
    /// A desktop in the browser (RStudio, a spreadsheet).
    Desktop,
}

impl AppKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AppKind::Terminal => "terminal",
            AppKind::Web => "web",
            AppKind::Desktop => "desktop",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "terminal" => Some(AppKind::Terminal),
            "web" => Some(AppKind::Web),
            "desktop" => Some(AppKind::Desktop),
            _ => None,
        }
    }
}

/// One version of an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct App {
    pub name: String,
    pub version: String,
    pub kind: AppKind,
    /// The program and its arguments.
    pub command: Vec<String>,
    pub description: String,
    pub added_by: String,
    pub added_us: i64,
}

/// What the service desk gives to add a version.
#[derive(Debug, Clone, Default)]
pub struct NewApp {
    pub name: String,
    pub version: String,
    /// `terminal`, `web` or `desktop`.
    pub kind: String,
    pub command: Vec<String>,
    pub description: String,
    /// File extensions (`R`, `ipynb`) this version opens by default from now on.
    pub default_for: Vec<String>,
}

/// Which version opens a file type by default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DefaultApp {
    pub extension: String,
    pub name: String,
    pub version: String,
}

/// The catalogue as a user sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    /// By name, then newest version first.
    pub apps: Vec<App>,
    pub defaults: Vec<DefaultApp>,
}

impl Listing {
    /// The version that opens files ending `.ext`, if one is set.
    pub fn default_for(&self, extension: &str) -> Option<&App> {
        let d = self.defaults.iter().find(|d| d.extension.eq_ignore_ascii_case(extension))?;
        self.apps.iter().find(|a| a.name == d.name && a.version == d.version)
    }
}

/// The catalogue's part of a unit of work.
#[async_trait]
pub trait CatalogueTx: Send {
    /// `Duplicate` if that name and version exist.
    async fn insert_app(&mut self, app: &App) -> Result<(), StoreError>;
    async fn apps(&mut self) -> Result<Vec<App>, StoreError>;
    /// Make `name` `version` the default for `extension`, replacing any other.
    async fn set_app_default(&mut self, d: &DefaultApp) -> Result<(), StoreError>;
    async fn app_defaults(&mut self) -> Result<Vec<DefaultApp>, StoreError>;
}

pub struct Catalogue {
    store: std::sync::Arc<dyn Store>,
    clock: std::sync::Arc<dyn Clock>,
}

fn valid_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn valid_version(v: &str) -> bool {
    (1..=40).contains(&v.len())
        && v.starts_with(|c: char| c.is_ascii_alphanumeric())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_'))
}

/// An extension as stored: without its dot, as given (`R` and `r` are the same).
fn extension(raw: &str) -> Result<String, CoreError> {
    let ext = raw.trim().trim_start_matches('.');
    if (1..=16).contains(&ext.len()) && ext.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(ext.to_ascii_lowercase())
    } else {
        Err(CoreError::invalid(
            "default_for",
            format!("{raw:?} is not a file extension: give letters and digits, like R or ipynb"),
        ))
    }
}

impl Catalogue {
    pub fn new(store: std::sync::Arc<dyn Store>, clock: std::sync::Arc<dyn Clock>) -> Self {
        Catalogue { store, clock }
    }

    /// Add a version (the service desk), and make it the default for the extensions named.
    /// Audited.
    pub async fn add(&self, who: &Caller, new: NewApp) -> Result<App, CoreError> {
        require(who, Action::ManageCatalogue, Resource::Service)?;
        let name = new.name.trim().to_string();
        let version = new.version.trim().to_string();
        if !valid_name(&name) {
            return Err(CoreError::invalid(
                "name",
                "use up to 40 characters: lower-case letters, digits and '-', starting with a letter (e.g. r, jupyterlab)",
            ));
        }
        if !valid_version(&version) {
            return Err(CoreError::invalid(
                "version",
                "use up to 40 letters, digits, '.', '-', '+' or '_' (e.g. 4.3.2)",
            ));
        }
        let kind = AppKind::parse(new.kind.trim())
            .ok_or_else(|| CoreError::invalid("kind", "choose terminal, web or desktop"))?;
        let command: Vec<String> = new.command.iter().map(|a| a.to_string()).collect();
        match command.first() {
            Some(program) if program_path(program) => {}
            _ => {
                return Err(CoreError::invalid(
                    "command",
                    "give the program as an absolute path in the host's read-only software (/usr or /opt), then its \
                     arguments (e.g. /opt/R/4.3.2/bin/R --no-save)",
                ));
            }
        }
        if command.len() > 64
            || command.iter().any(|a| a.contains(['\0', '\n']))
            || command.iter().map(String::len).sum::<usize>() > 4096
        {
            return Err(CoreError::invalid("command", "the command is too long or holds a NUL byte or a line break"));
        }
        let description: String = new.description.trim().chars().take(500).collect();
        let defaults = new.default_for.iter().map(|e| extension(e)).collect::<Result<Vec<_>, _>>()?;
        let now = self.clock.now();
        let app = App {
            name,
            version,
            kind,
            command,
            description,
            added_by: who.audit_name().to_string(),
            added_us: to_micros(now),
        };
        let event = NewAuditEvent::new(now, who.audit_name(), action::APP_ADDED)
            .target(&format!("{}@{}", app.name, app.version))
            .source(&who.source)
            .details(json!({"kind": app.kind.as_str(), "command": app.command, "default_for": defaults}));
        let stored = app.clone();
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.insert_app(&stored).await.map_err(|e| match e {
                    StoreError::Duplicate(_) => CoreError::Conflict(format!(
                        "{} {} is in the catalogue already; add another version beside it",
                        stored.name, stored.version
                    )),
                    other => other.into(),
                })?;
                for extension in defaults {
                    let d = DefaultApp { extension, name: stored.name.clone(), version: stored.version.clone() };
                    tx.set_app_default(&d).await?;
                }
                tx.append_audit(event).await?;
                Ok::<_, CoreError>(())
            })
        })
        .await?;
        Ok(app)
    }

    /// Make a version already in the catalogue the default for an extension. Audited.
    pub async fn set_default(&self, who: &Caller, ext: &str, name: &str, version: &str) -> Result<(), CoreError> {
        require(who, Action::ManageCatalogue, Resource::Service)?;
        let (name, version) = (name.trim(), version.trim());
        let d = DefaultApp { extension: extension(ext)?, name: name.to_string(), version: version.to_string() };
        let event = NewAuditEvent::new(self.clock.now(), who.audit_name(), action::APP_DEFAULT_SET)
            .target(&format!("{name}@{version}"))
            .source(&who.source)
            .details(json!({"extension": d.extension}));
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if !tx.apps().await?.iter().any(|a| a.name == d.name && a.version == d.version) {
                    return Err(CoreError::invalid(
                        "version",
                        format!("{} {} is not in the catalogue (haven apps list)", d.name, d.version),
                    ));
                }
                tx.set_app_default(&d).await?;
                tx.append_audit(event).await?;
                Ok(())
            })
        })
        .await
    }

    /// The catalogue: every signed-in user may read it.
    pub async fn list(&self, who: &Caller) -> Result<Listing, CoreError> {
        require(who, Action::ReadCatalogue, Resource::Service)?;
        read(self.store.as_ref(), |tx| {
            Box::pin(async move {
                let mut apps = tx.apps().await?;
                apps.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| newer_first(&a.version, &b.version)));
                Ok::<_, CoreError>(Listing { apps, defaults: tx.app_defaults().await? })
            })
        })
        .await
    }
}

/// A program sessions may run: an absolute, clean path in the host's read-only software, never
/// in a place a user can write (a drive, a home, scratch space), where a member could plant a
/// program that then runs in every member's session.
fn program_path(p: &str) -> bool {
    (p.starts_with("/usr/") || p.starts_with("/opt/"))
        && p.len() <= 255
        && !p.split('/').any(|c| c == ".." || c == ".")
        && !p.contains(['\0', '\n'])
}

/// Versions compared part by part, numbers as numbers (4.10 after 4.9), a release after its
/// pre-releases (4.10.0 after 4.10.0-rc1), newest first.
fn newer_first(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |v: &str| {
        let (release, pre) = match v.split_once('-') {
            Some((r, p)) => (r.to_string(), Some(p.to_string())),
            None => (v.to_string(), None),
        };
        let parts: Vec<(u64, String)> =
            release.split(['.', '+', '_']).map(|p| (p.parse::<u64>().unwrap_or(0), p.to_string())).collect();
        // No pre-release sorts after any pre-release of the same release.
        (parts, pre.is_none(), pre)
    };
    key(b).cmp(&key(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_newest_first_with_numbers_as_numbers() {
        let mut v = vec!["4.9.1", "4.10.0", "3.6", "4.10.0-rc1"];
        v.sort_by(|a, b| newer_first(a, b));
        assert_eq!(v, ["4.10.0", "4.10.0-rc1", "4.9.1", "3.6"]);
    }

    #[test]
    fn names_versions_and_extensions_are_checked() {
        assert!(valid_name("jupyterlab") && valid_name("r") && valid_name("rstudio-desktop"));
        assert!(!valid_name("R") && !valid_name("-r") && !valid_name("r/../x"));
        assert!(
            valid_version("4.3.2") && valid_version("2024.12.0+467") && !valid_version("../1") && !valid_version("")
        );
        assert_eq!(extension(".R").unwrap(), "r");
        assert!(extension("tar.gz").is_err() && extension("").is_err());
        assert!(program_path("/opt/R/4.3.2/bin/R") && program_path("/usr/bin/python3"));
        for bad in ["R", "/drives/S/tool", "/home/ada/bin/r", "/tmp/x", "/usr/../drives/S/x", "/opt/a\nb"] {
            assert!(!program_path(bad), "{bad}");
        }
    }
}
