//! Governance: who may reach which data. Information assets with an accountable owner (IAO) and
//! administrators (IAAs), memberships that only an approved access request creates, IG training
//! that gates every role, the Acceptable Use Statement, access reviews, and the lifecycle jobs
//! that end what has expired. Every decision goes through [`crate::authz::can`] with the
//! caller's [`Standing`] in the asset, worked out here from the records.

pub mod assets;
pub mod config;
pub mod csv_file;
pub mod import;
pub mod lifecycle;
pub mod messages;
pub mod people;
pub mod records;
pub mod reports;
pub mod requests;
pub mod rules;
mod satre;
pub mod store;

use std::sync::Arc;

use time::OffsetDateTime;

pub use config::GovernanceConfig;
use records::{Asset, MemberRole};
use rules::{Blocked, ReachFacts};

use crate::accounts::Role;
use crate::authz::{Action, Resource, Standing, can};
use crate::caller::{Caller, Level};
use crate::identity::Identity;
use crate::keyring::KeyRing;
use crate::{CoreError, Store, Tx, read};

pub struct Governance {
    identity: Arc<Identity>,
    keys: Arc<KeyRing>,
    /// The assets' drives: a shredded asset's are erased.
    drives: Arc<dyn crate::workspaces::drives::Drives>,
    config: GovernanceConfig,
    counted: reports::Counted,
}

impl Governance {
    /// Governance over the identity use cases (accounts, links, mail), the key ring and the
    /// drives.
    pub fn new(
        identity: Arc<Identity>,
        keys: Arc<KeyRing>,
        drives: Arc<dyn crate::workspaces::drives::Drives>,
        config: GovernanceConfig,
    ) -> Result<Self, CoreError> {
        config.validate().map_err(|m| CoreError::invalid("governance", m))?;
        Ok(Governance { identity, keys, drives, config, counted: reports::Counted::default() })
    }

    pub fn config(&self) -> &GovernanceConfig {
        &self.config
    }

    fn store(&self) -> &dyn Store {
        self.identity.store.as_ref()
    }

    fn now(&self) -> (OffsetDateTime, i64) {
        self.identity.now()
    }

    /// Now, in microseconds, for what pages show (expired, expires soon).
    pub fn now_us(&self) -> i64 {
        self.now().1
    }

    /// From the web, a change that provisions or removes access needs both factors proven in
    /// the last few minutes (as the service desk's account changes do). The console holds the
    /// data directory already; a read-write API token was made after a fresh two-factor sign-in
    /// and lives at most `API_WRITE_DAYS` (see `crate::identity::api_tokens`).
    fn check_fresh(&self, who: &Caller) -> Result<(), CoreError> {
        match who.level {
            Level::Console | Level::ApiWrite => Ok(()),
            _ => self.identity.check_fresh(who),
        }
    }

    /// Email the active service desk; failures are logged, never fatal.
    pub(crate) async fn notify_desk(&self, subject: &str, text: String) {
        let desk = read(self.store(), |tx| Box::pin(async move { tx.accounts_with_role(Role::Admin.as_str()).await }))
            .await
            .unwrap_or_default();
        for admin in desk {
            self.identity.notify(&admin.email, subject, text.clone()).await;
        }
    }

    /// Email those who look after an asset's data (its IAO, IAAs and data managers), each once;
    /// failures are logged, never fatal.
    pub(crate) async fn notify_keepers(&self, asset: &str, subject: &str, text: String) {
        let name = asset.to_string();
        let keepers = read(self.store(), move |tx| {
            Box::pin(async move {
                let mut ids: Vec<String> = tx.asset(&name).await?.map(|a| vec![a.iao]).unwrap_or_default();
                ids.extend(tx.asset_admins(&name).await?.into_iter().map(|a| a.user_id));
                let managers = tx.memberships(&name, true).await?.into_iter();
                ids.extend(managers.filter(|m| m.role == MemberRole::DataManager).map(|m| m.user_id));
                ids.sort();
                ids.dedup();
                Ok::<_, CoreError>(ids)
            })
        })
        .await
        .unwrap_or_default();
        for user in keepers {
            self.notify_user(&user, subject, text.clone()).await;
        }
    }

    /// The URL people reach Haven at (for links in emails).
    pub(crate) fn public_url(&self) -> &str {
        &self.identity.public_url
    }

    /// Email one user, if they have an address.
    pub(crate) async fn notify_user(&self, user_id: &str, subject: &str, text: String) {
        let id = user_id.to_string();
        let account = read(self.store(), |tx| Box::pin(async move { tx.account(&id).await })).await.ok().flatten();
        if let Some(account) = account {
            self.identity.notify(&account.email, subject, text).await;
        }
    }

    /// Ask [`can`] about `name` with the caller's standing in it; `NotFound` for an unknown asset.
    pub async fn require_on(&self, who: &Caller, action: Action, name: &str) -> Result<(Asset, Standing), CoreError> {
        let (who2, name2, config, now_us) = (who.clone(), name.to_string(), self.config.clone(), self.now().1);
        let found = read(self.store(), move |tx| Box::pin(standing_in(tx, who2, name2, config, now_us))).await;
        // Only those who may see the register learn whether an asset they cannot see exists.
        let (asset, standing) = match found {
            Err(CoreError::NotFound) if !can(who, Action::ViewGovernance, Resource::Service) => {
                return Err(CoreError::Forbidden);
            }
            other => other?,
        };
        if can(who, action, Resource::Asset { asset: &asset.name, standing }) {
            Ok((asset, standing))
        } else {
            Err(CoreError::Forbidden)
        }
    }

    /// The caller's standing in `name` (none in an asset that does not exist), for use cases that
    /// ask [`can`] about something inside the asset (an output request) themselves.
    pub async fn standing(&self, who: &Caller, name: &str) -> Result<Standing, CoreError> {
        let (who2, name2, config, now_us) = (who.clone(), name.to_string(), self.config.clone(), self.now().1);
        match read(self.store(), move |tx| Box::pin(standing_in(tx, who2, name2, config, now_us))).await {
            Ok((_, standing)) => Ok(standing),
            Err(CoreError::NotFound) => Ok(Standing::default()),
            Err(e) => Err(e),
        }
    }

    /// The caller with only the roles whose required courses are current (SATRE 1.6.04): made
    /// where a session becomes a caller. No read when no role of theirs needs a course.
    pub async fn gate_roles(&self, mut caller: Caller) -> Result<Caller, CoreError> {
        let c = &self.config.courses;
        let gated = caller.roles.iter().any(|r| match r {
            Role::Admin => !c.service_desk.is_empty(),
            Role::PackageReviewer => !c.reviewer.is_empty(),
            Role::Auditor => !c.auditor.is_empty(),
            Role::OutputChecker => !c.output_checker.is_empty(),
            Role::Researcher | Role::Staff | Role::System => false,
        });
        if !gated {
            return Ok(caller);
        }
        let (id, now_us) = (caller.user_id.clone(), self.now().1);
        let records =
            read(self.store(), move |tx| Box::pin(async move { Ok::<_, CoreError>(tx.training_of(&id).await?) }))
                .await?;
        caller.roles = rules::trained_roles(&caller.roles, &records, &self.config, now_us);
        Ok(caller)
    }

    /// Whether the caller may reach the asset's data now, and if not, why and what to do: what
    /// sign-in and every later portal ask before opening an asset.
    pub async fn reach(&self, who: &Caller, name: &str) -> Result<MemberRole, CoreError> {
        let (who2, name2, config, now_us) = (who.clone(), name.to_string(), self.config.clone(), self.now().1);
        let outcome = read(self.store(), move |tx| Box::pin(reach_of(tx, who2, name2, config, now_us))).await?;
        match outcome {
            Ok(role) if can(who, Action::ReachAsset, Resource::Asset { asset: name, standing: member() }) => Ok(role),
            Ok(_) => Err(CoreError::Forbidden),
            Err(blocked) => Err(CoreError::Conflict(blocked.message(name))),
        }
    }
}

impl Governance {
    /// The identity use cases governance stands on.
    pub(crate) fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Whether `user_id` may still reach `asset`'s data, by the same rules as [`Governance::reach`],
    /// and their account is active: what running sessions are held to. Why not, if not.
    pub(crate) async fn still_reaches(&self, user_id: &str, asset: &str) -> Result<Result<(), String>, CoreError> {
        let (user, name, config, now_us) = (user_id.to_string(), asset.to_string(), self.config.clone(), self.now().1);
        read(self.store(), move |tx| {
            Box::pin(async move {
                match tx.account(&user).await? {
                    Some(a) if a.status == crate::identity::records::AccountStatus::Active => {}
                    _ => return Ok(Err("the account is not active".to_string())),
                }
                let Some(asset) = tx.asset(&name).await? else { return Ok(Err("the asset is gone".to_string())) };
                let records = tx.training_of(&user).await?;
                let reach = reach_facts(tx, &asset, &user, &config, now_us, records).await?;
                Ok::<_, CoreError>(reach.map(|_| ()).map_err(|blocked| blocked.message(&name)))
            })
        })
        .await
    }
}

fn member() -> Standing {
    Standing { member: true, ..Standing::default() }
}

/// The asset and the caller's standing in it, read in one transaction.
async fn standing_in(
    tx: &mut dyn Tx,
    who: Caller,
    name: String,
    config: GovernanceConfig,
    now_us: i64,
) -> Result<(Asset, Standing), CoreError> {
    let asset = tx.asset(&name).await?.ok_or(CoreError::NotFound)?;
    let standing = standing_of(tx, &asset, &who.user_id, &config, now_us).await?;
    Ok((asset, standing))
}

/// `user_id`'s standing in `asset`: IAO and IAA count only with current IAO training and while
/// the asset is active; member only when [`rules::reach`] allows.
pub(crate) async fn standing_of(
    tx: &mut dyn Tx,
    asset: &Asset,
    user_id: &str,
    config: &GovernanceConfig,
    now_us: i64,
) -> Result<Standing, CoreError> {
    Ok(standing_and_reach(tx, asset, user_id, config, now_us).await?.0)
}

/// As [`standing_of`], with why the person cannot reach the data (if not), from the same reads.
pub(crate) async fn standing_and_reach(
    tx: &mut dyn Tx,
    asset: &Asset,
    user_id: &str,
    config: &GovernanceConfig,
    now_us: i64,
) -> Result<(Standing, Result<MemberRole, Blocked>), CoreError> {
    if user_id.is_empty() {
        return Ok((Standing::default(), Err(Blocked::NotMember)));
    }
    let records = tx.training_of(user_id).await?;
    let iao_trained = rules::missing_courses(&records, &config.courses.iao, now_us).is_empty();
    let active = asset.status == records::AssetStatus::Active;
    let iao = active && iao_trained && asset.iao == user_id;
    let iaa = active && iao_trained && tx.asset_admins(&asset.name).await?.iter().any(|a| a.user_id == user_id);
    let reach = reach_facts(tx, asset, user_id, config, now_us, records).await?;
    let data_manager = matches!(reach, Ok(MemberRole::DataManager));
    let outputs = reach.is_ok() && tx.egress_permission(&asset.name, user_id).await?;
    Ok((Standing { iao, iaa, member: reach.is_ok(), data_manager, outputs }, reach))
}

async fn reach_of(
    tx: &mut dyn Tx,
    who: Caller,
    name: String,
    config: GovernanceConfig,
    now_us: i64,
) -> Result<Result<MemberRole, Blocked>, CoreError> {
    let Some(asset) = tx.asset(&name).await? else { return Ok(Err(Blocked::NotMember)) };
    let records = tx.training_of(&who.user_id).await?;
    reach_facts(tx, &asset, &who.user_id, &config, now_us, records).await
}

async fn reach_facts(
    tx: &mut dyn Tx,
    asset: &Asset,
    user_id: &str,
    config: &GovernanceConfig,
    now_us: i64,
    records: Vec<records::TrainingRecord>,
) -> Result<Result<MemberRole, Blocked>, CoreError> {
    let membership = tx.current_membership(&asset.name, user_id).await?;
    let compliance = tx.compliance_items(&asset.name).await?;
    let aus_accepted = tx.aus_version(user_id).await? >= config.aus_version;
    Ok(rules::reach(&ReachFacts {
        asset,
        membership: membership.as_ref(),
        compliance: &compliance,
        missing_training: rules::missing_courses(&records, &config.courses.researcher, now_us),
        aus_accepted,
        now_us,
    }))
}
