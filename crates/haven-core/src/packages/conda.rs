//! conda: `repodata.json` per channel and subdir, filtered by the policy, and its artifacts.
//! `noarch` always exists (clients require it), even when the upstream has none. Upstream
//! repodata is parsed as it streams; in allowlist mode only the allowed names' records are kept.

use crate::caller::Caller;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use haven_packages::conda::{self, PackageRecord, Repodata};
use haven_packages::policy::{Candidate, Decision, Ecosystem, Mode, RuleKind};

use super::fetch::{Download, Expected, FileRequest};
use super::ports::io_error;
use super::{PackageError, Packages, UpstreamError};
use crate::CoreError;
use crate::blobs::ByteStream;

/// An upstream subdir as read: the records of `names` only (None: all of them).
pub struct UpstreamRepodata {
    pub names: Option<BTreeSet<String>>,
    pub repodata: Repodata,
}

/// Parse an upstream repodata body as it arrives. serde_json reads synchronously and haven-core
/// is tied to no runtime, so the parser runs on a thread of its own, fed chunk by chunk through
/// a bounded channel: memory holds a few chunks and the records kept, never the whole file.
async fn stream_repodata(
    mut body: ByteStream,
    subdir: &str,
    mut keep: impl FnMut(&PackageRecord) -> bool + Send + 'static,
) -> Result<Repodata, PackageError> {
    let (mut tx, rx) = futures::channel::mpsc::channel::<Bytes>(4);
    let (done_tx, done_rx) = futures::channel::oneshot::channel();
    let subdir = subdir.to_string();
    std::thread::Builder::new()
        .name("repodata".into())
        .spawn(move || {
            let reader = ChannelReader { rx, current: Bytes::new() };
            let _ = done_tx.send(conda::read_repodata(reader, &subdir, &mut keep));
        })
        .map_err(|e| CoreError::Unavailable(format!("no thread to read repodata: {e}")))?;
    let mut failed = None;
    while let Some(chunk) = body.next().await {
        match chunk {
            // A closed channel means the parser has stopped (it found an error): stop reading.
            Ok(chunk) => {
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                failed = Some(io_error(&e));
                break;
            }
        }
    }
    drop(tx);
    let parsed = done_rx.await.map_err(|_| CoreError::Unavailable("the repodata reader stopped".into()))?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    parsed.map_err(|e| PackageError::BadUpstream(e.to_string()))
}

/// `std::io::Read` over chunks from the async side.
struct ChannelReader {
    rx: futures::channel::mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match futures::executor::block_on(self.rx.next()) {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        self.current.split_to(n).iter().zip(buf.iter_mut()).for_each(|(from, to)| *to = *from);
        Ok(n)
    }
}

pub struct ServedRepodata {
    pub repodata: Repodata,
    /// Artifact name → why it is not offered.
    pub refused: HashMap<String, String>,
}

impl Packages {
    fn conda_location(&self, channel: &str, subdir: &str) -> Result<(), PackageError> {
        if !self.config.conda_channels().iter().any(|c| c == channel) {
            return Err(PackageError::NotFound(format!(
                "Haven does not serve the conda channel {channel:?}; it serves: {}.",
                self.config.conda_channels().join(", ")
            )));
        }
        if !conda::valid_subdir(subdir) {
            return Err(PackageError::NotFound(format!("{subdir:?} is not a conda platform.")));
        }
        Ok(())
    }

    /// The upstream's repodata for `channel/subdir`, with only the records of `names` (None:
    /// all), remembered for `index_ttl_secs` per subdir with the names it was read for.
    async fn conda_upstream(
        &self,
        channel: &str,
        subdir: &str,
        names: Option<BTreeSet<String>>,
    ) -> Result<Arc<UpstreamRepodata>, PackageError> {
        let key = format!("{channel}/{subdir}");
        if let Some(r) = self.cached(&self.conda_repodata, &key).filter(|r| r.names == names) {
            return Ok(r);
        }
        let lock = match self.conda_reads.lock() {
            Ok(mut locks) => locks.entry(key.clone()).or_default().clone(),
            Err(_) => Arc::default(),
        };
        let _one_at_a_time = lock.lock().await;
        if let Some(r) = self.cached(&self.conda_repodata, &key).filter(|r| r.names == names) {
            return Ok(r);
        }
        let wanted = names.clone();
        let repodata =
            self.conda_read(channel, subdir, move |r| wanted.as_ref().is_none_or(|n| n.contains(&r.name))).await?;
        // A parsed record takes about this much memory (name, version, build, hashes, depends).
        let size = (repodata.packages.len() + repodata.packages_conda.len()) * 512;
        let upstream = Arc::new(UpstreamRepodata { names, repodata });
        self.remember(&self.conda_repodata, &key, size, upstream.clone());
        Ok(upstream)
    }

    /// Stream the upstream's `channel/subdir/repodata.json` through the parser, keeping what
    /// `keep` wants. A channel without `noarch` has an empty one (clients require it).
    async fn conda_read(
        &self,
        channel: &str,
        subdir: &str,
        keep: impl FnMut(&PackageRecord) -> bool + Send + 'static,
    ) -> Result<Repodata, PackageError> {
        let key = format!("{channel}/{subdir}");
        let url = format!("{}{key}/repodata.json", self.config.base(Ecosystem::Conda));
        let limit = conda::repodata::MAX_REPODATA_BYTES as u64;
        match self.upstream.get(&url, "application/json", limit).await {
            Ok(fetched) if fetched.length.is_some_and(|n| n > limit) => Err(UpstreamError::TooLarge { limit }.into()),
            Ok(fetched) => stream_repodata(fetched.body, subdir, keep).await.map_err(|e| match e {
                PackageError::BadUpstream(why) => {
                    PackageError::BadUpstream(format!("The upstream's repodata for {key} was refused: {why}"))
                }
                other => other,
            }),
            Err(UpstreamError::NotFound(_)) if subdir == "noarch" => {
                Ok(Repodata { subdir: subdir.into(), ..Default::default() })
            }
            Err(UpstreamError::NotFound(_)) => {
                Err(PackageError::NotFound(format!("The channel {channel} has no {subdir} packages.")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Every record of the packages named in `wanted` and of everything they depend on, over
    /// `subdirs`, read as the files stream (for a request's closure). A pass keeps the records
    /// of the names wanted so far and adds their dependencies as it meets them; a name first met
    /// after its records went by needs another pass, so passes repeat until one adds nothing.
    pub(super) async fn conda_records_with_dependencies(
        &self,
        channel: &str,
        subdirs: &[String],
        wanted: BTreeSet<String>,
    ) -> Result<Vec<PackageRecord>, PackageError> {
        const MAX_PASSES: usize = 12;
        let wanted = Arc::new(std::sync::Mutex::new(wanted));
        let mut records: BTreeMap<(String, String), PackageRecord> = BTreeMap::new();
        for _ in 0..MAX_PASSES {
            let before = wanted.lock().map(|w| w.len()).unwrap_or(0);
            for subdir in subdirs {
                let w = wanted.clone();
                let keep = move |r: &PackageRecord| {
                    let Ok(mut w) = w.lock() else { return false };
                    if !w.contains(&r.name) {
                        return false;
                    }
                    for d in &r.depends {
                        let dep = conda::dependency_name(d);
                        if !dep.starts_with("__") && !w.contains(dep) {
                            w.insert(dep.to_string());
                        }
                    }
                    true
                };
                let found = match self.conda_read(channel, subdir, keep).await {
                    Ok(found) => found,
                    Err(PackageError::NotFound(_)) => continue,
                    Err(e) => return Err(e),
                };
                for (file, r) in found.packages.into_iter().chain(found.packages_conda) {
                    records.insert((subdir.clone(), file), r);
                }
            }
            if wanted.lock().map(|w| w.len()).unwrap_or(0) == before {
                return Ok(records.into_values().collect());
            }
        }
        Err(PackageError::BadRequest(format!(
            "The dependencies of this package could not be collected in {MAX_PASSES} passes over the channel; ask the service desk."
        )))
    }

    pub(crate) async fn conda_served(&self, channel: &str, subdir: &str) -> Result<ServedRepodata, PackageError> {
        self.conda_location(channel, subdir)?;
        let policy = self.policy(Ecosystem::Conda, None).await?;
        // In allowlist mode only the allowed names' records are read into memory.
        let names = (policy.mode == Mode::Allowlist)
            .then(|| policy.rules.iter().filter(|r| r.kind == RuleKind::Allow).map(|r| r.name.clone()).collect());
        let upstream = self.conda_upstream(channel, subdir, names).await?;
        let upstream = &upstream.repodata;
        let now = self.now_us();
        let mut refused = HashMap::new();
        let mut repodata =
            Repodata { subdir: upstream.subdir.clone(), removed: upstream.removed.clone(), ..Default::default() };
        for (conda, (file, r)) in
            upstream.packages.iter().map(|e| (false, e)).chain(upstream.packages_conda.iter().map(|e| (true, e)))
        {
            let candidate = Candidate {
                name: &r.name,
                version: &r.version,
                uploaded_us: r.timestamp_ms.and_then(|t| i64::try_from(t).ok()).map(|t| t.saturating_mul(1000)),
                size: r.size,
            };
            let why = match policy.decide(&candidate, now) {
                Decision::Refused(why) => Some(why),
                Decision::Allowed => policy.license_refusal(&r.name, &r.version, r.license.as_deref()),
            };
            match why {
                Some(why) => {
                    refused.insert(file.clone(), why);
                }
                None if conda => {
                    repodata.packages_conda.insert(file.clone(), r.clone());
                }
                None => {
                    repodata.packages.insert(file.clone(), r.clone());
                }
            }
        }
        Ok(ServedRepodata { repodata, refused })
    }

    pub async fn conda_file(
        &self,
        channel: &str,
        subdir: &str,
        file: &str,
        who: &Caller,
    ) -> Result<Download, PackageError> {
        self.may_read(who)?;
        if !conda::valid_artifact_name(file) {
            return Err(PackageError::NotFound(format!("{file:?} is not a conda artifact name.")));
        }
        let served = self.conda_served(channel, subdir).await?;
        let record = served.repodata.packages.get(file).or_else(|| served.repodata.packages_conda.get(file));
        let Some(record) = record else {
            let (name, version) = conda::artifact_name_version(file).unwrap_or((file, ""));
            if let Some(why) = served.refused.get(file) {
                return Err(self.refusal(Ecosystem::Conda, name, why));
            }
            // Names without an allow rule were not even read (allowlist mode): say why all the same.
            let policy = self.policy(Ecosystem::Conda, Some(name)).await?;
            let rules_only = Candidate { name, version, uploaded_us: Some(0), size: None };
            if let Decision::Refused(why) = policy.decide(&rules_only, self.now_us()) {
                return Err(self.refusal(Ecosystem::Conda, name, &why));
            }
            return Err(PackageError::NotFound(format!("The channel {channel}/{subdir} has no {file}.")));
        };
        let path = format!("{channel}/{subdir}/{file}");
        self.download(FileRequest {
            ecosystem: Ecosystem::Conda,
            upstream_url: format!("{}{path}", self.config.base(Ecosystem::Conda)),
            path,
            expected: Expected::Sha256(record.sha256.clone()),
            size: record.size,
            who: who.audit_name().into(),
            source: who.source.clone(),
            audited: true,
        })
        .await
    }
}
