//! PyPI: project pages filtered by the policy, and their files and core metadata.

use crate::caller::Caller;
use std::sync::{Arc, Mutex, Weak};

use haven_packages::policy::{Candidate, DAY_US, Decision, Ecosystem, Mode, Policy, RuleKind};
use haven_packages::pypi::{self, FileEntry, ProjectPage};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::fetch::{Download, Expected, FileRequest};
use super::ports::fetch_all;
use super::{PackageError, Packages, UpstreamError};

/// How long a filtered page is served again at most without deciding anew.
const SERVED_FOR_US: i64 = 60_000_000;

const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1";

pub struct UpstreamPage {
    pub page: ProjectPage,
    /// What was last served of it, kept with the page (so as long as it, within the same cache
    /// bound): most requests are for pages already filtered by the same policy.
    served: Mutex<Option<Served>>,
}

/// A served page and what it was decided on: the policy (weakly: a replaced policy is not kept
/// alive, and its allocation is not reused while this is held) and the time until which no
/// file's cooldown ends (the only decision that time changes: files only become allowed), at
/// most a minute (refusals say how many days old a file is).
struct Served {
    policy: Weak<Policy>,
    /// Decided at `from_us`, for times up to `until_us` (a clock stepped back misses).
    from_us: i64,
    until_us: i64,
    page: Arc<ServedPage>,
}

/// A project page as Haven serves it: only the files the policy allows, and why the others
/// were left out.
pub struct ServedPage {
    pub page: ProjectPage,
    pub refused: Vec<(String, String)>,
    /// The page in the formats it was served in, rendered once by whoever serves it.
    pub rendered: Rendered,
}

/// Renderings by format (the caller's few names, such as "json" and "html"), each made once.
#[derive(Default)]
pub struct Rendered(Mutex<Vec<(&'static str, bytes::Bytes)>>);

impl Rendered {
    pub fn get_or(&self, format: &'static str, render: impl FnOnce() -> bytes::Bytes) -> bytes::Bytes {
        if let Ok(done) = self.0.lock()
            && let Some((_, body)) = done.iter().find(|(f, _)| *f == format)
        {
            return body.clone();
        }
        let body = render();
        if let Ok(mut done) = self.0.lock()
            && !done.iter().any(|(f, _)| *f == format)
        {
            done.push((format, body.clone()));
        }
        body
    }
}

pub fn upload_time_us(t: &str) -> Option<i64> {
    let at = OffsetDateTime::parse(t, &Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1000).ok()
}

/// Whether any allow rule names the project at all (in allowlist mode a project nobody asked
/// for is refused as a whole, before the upstream is asked).
fn named(policy: &Policy, name: &str) -> bool {
    policy.mode != Mode::Allowlist || policy.rules.iter().any(|r| r.kind == RuleKind::Allow && r.name == name)
}

/// The download of `f` (or of its `<file>.metadata` with `suffix`).
fn pypi_request(
    name: &str,
    f: &FileEntry,
    suffix: &str,
    expected: Expected,
    size: Option<u64>,
    who: &Caller,
) -> FileRequest {
    FileRequest {
        ecosystem: Ecosystem::Pypi,
        path: format!("{name}/{}{suffix}", f.filename),
        upstream_url: format!("{}{suffix}", f.url),
        expected,
        size,
        who: who.audit_name().into(),
        source: who.source.clone(),
        audited: suffix.is_empty(),
    }
}

impl Packages {
    pub(super) async fn pypi_upstream(&self, name: &str) -> Result<Arc<UpstreamPage>, PackageError> {
        if let Some(page) = self.cached(&self.pypi_pages, name) {
            return Ok(page);
        }
        let url = format!("{}{name}/", self.config.base(Ecosystem::Pypi));
        let (bytes, fetched) =
            match fetch_all(self.upstream.as_ref(), &url, ACCEPT, pypi::simple::MAX_PAGE_BYTES as u64).await {
                Ok(ok) => ok,
                Err(UpstreamError::NotFound(_)) => {
                    return Err(PackageError::NotFound(format!("There is no project named {name} upstream.")));
                }
                Err(e) => return Err(e.into()),
            };
        let json = fetched.content_type.as_deref().is_some_and(|t| t.contains("json"));
        let parsed = if json {
            pypi::parse_project_json(&bytes, &url, name)
        } else {
            pypi::parse_project_html(&bytes, &url, name)
        };
        let page = parsed
            .map_err(|e| PackageError::BadUpstream(format!("The upstream's page for {name} was refused: {e}")))?;
        let page = Arc::new(UpstreamPage { page, served: Mutex::new(None) });
        // Counted four times: the page, what is served of it (kept with it) and its two renderings.
        self.remember(&self.pypi_pages, name, bytes.len().saturating_mul(4), page.clone());
        Ok(page)
    }

    /// The page for `requested` (any spelling; the caller redirects to the normalised one).
    pub(crate) async fn pypi_served(&self, requested: &str) -> Result<Arc<ServedPage>, PackageError> {
        let name = pypi::normalize(requested)
            .map_err(|_| PackageError::NotFound(format!("{requested:?} is not a valid project name.")))?;
        let policy = self.policy(Ecosystem::Pypi, Some(&name)).await?;
        if !named(&policy, &name) {
            return Err(self.refusal(Ecosystem::Pypi, &name, &format!("{name} is not on the allowlist")));
        }
        let upstream = self.pypi_upstream(&name).await?;
        let now = self.now_us();
        if let Ok(last) = upstream.served.lock()
            && let Some(last) = last.as_ref()
            && (last.from_us..last.until_us).contains(&now)
            && std::ptr::eq(last.policy.as_ptr(), Arc::as_ptr(&policy))
        {
            return Ok(last.page.clone());
        }
        let mut page = upstream.page.clone();
        let mut refused = Vec::new();
        let cooldown_us = i64::from(policy.min_age_days).saturating_mul(DAY_US);
        let mut until_us = now.saturating_add(SERVED_FOR_US);
        page.files.retain_mut(|f| {
            let uploaded_us = f.upload_time.as_deref().and_then(upload_time_us);
            if let Some(at) = uploaded_us
                && at.saturating_add(cooldown_us) > now
            {
                until_us = until_us.min(at.saturating_add(cooldown_us));
            }
            let decision = match pypi::filename_version(&f.filename) {
                None => Decision::Refused(format!("{}: no version in the file name", f.filename)),
                Some(version) => policy.decide(&Candidate { name: &name, version, uploaded_us, size: f.size }, now),
            };
            // Core metadata is only offered when its hash lets Haven verify it.
            if matches!(f.core_metadata, Some(None)) {
                f.core_metadata = None;
            }
            match decision {
                Decision::Allowed => true,
                Decision::Refused(why) => {
                    refused.push((f.filename.clone(), why));
                    false
                }
            }
        });
        if page.files.is_empty()
            && let Some((_, why)) = refused.last()
        {
            // Nothing left to offer: say why rather than serve an empty page.
            return Err(self.refusal(Ecosystem::Pypi, &name, why));
        }
        // PEP 700 `versions`: those Haven offers a file of (the upstream's list may name more).
        let mut versions: Vec<String> = Vec::new();
        for f in &page.files {
            if let Some(v) = pypi::filename_version(&f.filename)
                && !versions.iter().any(|known| known == v)
            {
                versions.push(v.to_string());
            }
        }
        page.versions = versions;
        let served = Arc::new(ServedPage { page, refused, rendered: Rendered::default() });
        if let Ok(mut last) = upstream.served.lock() {
            *last = Some(Served { policy: Arc::downgrade(&policy), from_us: now, until_us, page: served.clone() });
        }
        Ok(served)
    }

    async fn pypi_entry(&self, project: &str, filename: &str) -> Result<(String, FileEntry), PackageError> {
        if !pypi::valid_filename(filename) {
            return Err(PackageError::NotFound(format!("{filename:?} is not a distribution file name.")));
        }
        let served = self.pypi_served(project).await?;
        if let Some(f) = served.page.files.iter().find(|f| f.filename == filename) {
            return Ok((served.page.name.clone(), f.clone()));
        }
        match served.refused.iter().find(|(name, _)| name == filename) {
            Some((_, why)) => Err(self.refusal(Ecosystem::Pypi, &served.page.name, why)),
            None => Err(PackageError::NotFound(format!("{project} has no file named {filename}."))),
        }
    }

    pub async fn pypi_file(&self, project: &str, filename: &str, who: &Caller) -> Result<Download, PackageError> {
        self.may_read(who)?;
        let (name, f) = self.pypi_entry(project, filename).await?;
        let request = pypi_request(&name, &f, "", Expected::Sha256(f.sha256.clone()), f.size, who);
        self.download(request).await
    }

    /// PEP 658: `<file>.metadata`, verified against the hash the upstream gave for it.
    pub async fn pypi_metadata(&self, project: &str, filename: &str, who: &Caller) -> Result<Download, PackageError> {
        self.may_read(who)?;
        let (name, f) = self.pypi_entry(project, filename).await?;
        let Some(Some(hash)) = &f.core_metadata else {
            return Err(PackageError::NotFound(format!("{filename} has no core metadata file.")));
        };
        let request = pypi_request(&name, &f, ".metadata", Expected::Sha256(hash.clone()), None, who);
        self.download(request).await
    }
}
