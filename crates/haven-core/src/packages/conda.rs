//! conda: `repodata.json` per channel and subdir, filtered by the policy, and its artifacts.
//! `noarch` always exists (clients require it), even when the upstream has none.

use std::collections::HashMap;
use std::sync::Arc;

use haven_packages::conda::{self, Repodata};
use haven_packages::policy::{Candidate, Decision, Ecosystem};

use super::fetch::{Download, Expected, FileRequest};
use super::ports::fetch_all;
use super::{PackageError, Packages, UpstreamError};

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

    pub(super) async fn conda_upstream(&self, channel: &str, subdir: &str) -> Result<Arc<Repodata>, PackageError> {
        let key = format!("{channel}/{subdir}");
        if let Some(r) = self.cached(&self.conda_repodata, &key) {
            return Ok(r);
        }
        let url = format!("{}{key}/repodata.json", self.config.base(Ecosystem::Conda));
        let limit = conda::repodata::MAX_REPODATA_BYTES as u64;
        let repodata = match fetch_all(self.upstream.as_ref(), &url, "application/json", limit).await {
            Ok((bytes, _)) => conda::parse_repodata(&bytes, subdir).map_err(|e| {
                PackageError::BadUpstream(format!("The upstream's repodata for {key} was refused: {e}"))
            })?,
            // A channel without this platform is an empty subdir (noarch must always answer).
            Err(UpstreamError::NotFound(_)) if subdir == "noarch" => {
                Repodata { subdir: subdir.into(), ..Default::default() }
            }
            Err(UpstreamError::NotFound(_)) => {
                return Err(PackageError::NotFound(format!("The channel {channel} has no {subdir} packages.")));
            }
            Err(e) => return Err(e.into()),
        };
        let repodata = Arc::new(repodata);
        self.remember(&self.conda_repodata, &key, repodata.clone());
        Ok(repodata)
    }

    pub async fn conda_repodata(&self, channel: &str, subdir: &str) -> Result<ServedRepodata, PackageError> {
        self.conda_location(channel, subdir)?;
        let policy = self.policy(Ecosystem::Conda, None).await?;
        let upstream = self.conda_upstream(channel, subdir).await?;
        let now = self.now_us();
        let mut refused = HashMap::new();
        for (file, r) in upstream.packages.iter().chain(upstream.packages_conda.iter()) {
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
            if let Some(why) = why {
                refused.insert(file.clone(), why);
            }
        }
        let mut repodata = (*upstream).clone();
        repodata.retain(|file, _| !refused.contains_key(file));
        Ok(ServedRepodata { repodata, refused })
    }

    pub async fn conda_file(
        &self,
        channel: &str,
        subdir: &str,
        file: &str,
        who: &str,
        source: &str,
    ) -> Result<Download, PackageError> {
        if !conda::valid_artifact_name(file) {
            return Err(PackageError::NotFound(format!("{file:?} is not a conda artifact name.")));
        }
        let served = self.conda_repodata(channel, subdir).await?;
        let record = served.repodata.packages.get(file).or_else(|| served.repodata.packages_conda.get(file));
        let Some(record) = record else {
            return match served.refused.get(file) {
                Some(why) => {
                    let name = file.rsplitn(3, '-').last().unwrap_or(file);
                    Err(self.refusal(Ecosystem::Conda, name, why))
                }
                None => Err(PackageError::NotFound(format!("The channel {channel}/{subdir} has no {file}."))),
            };
        };
        let path = format!("{channel}/{subdir}/{file}");
        self.download(FileRequest {
            ecosystem: Ecosystem::Conda,
            upstream_url: format!("{}{path}", self.config.base(Ecosystem::Conda)),
            path,
            expected: Expected::Sha256(record.sha256.clone()),
            size: record.size,
            who: who.into(),
            source: source.into(),
            audited: true,
        })
        .await
    }
}
