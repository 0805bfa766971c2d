//! Access requests: only an asset's IAO or one of its IAAs asks (add a person, change a role,
//! extend or end a membership); a request about someone without current training waits for it;
//! the service desk decides, never on a request they made or one about themselves; approval
//! provisions at once (a new account with its onboarding link, or the membership change).

use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::people::release_waiting;
use super::records::{AccessRequest, Asset, AssetStatus, MemberRole, Membership, RequestKind, RequestStatus};
use super::rules;
use super::store::{Paging, Profile};
use super::{Governance, GovernanceConfig, messages, standing_of};
use crate::accounts::{NewUser, Role, validate_email, validate_user_id};
use crate::audit::{NewAuditEvent, action};
use crate::authz::{Action, Resource, can, require};
use crate::caller::Caller;
use crate::identity::records::{AccountStatus, LinkPurpose, LinkRecord};
use crate::{CoreError, StoreError, Tx, read, to_micros, transact};

/// What an IAO or IAA fills in.
#[derive(Debug, Clone, Default)]
pub struct NewRequest {
    pub asset: String,
    pub kind: Option<RequestKind>,
    /// The person: an existing user id, or the user id to give a new person.
    pub user_id: String,
    /// For a new person: email, name and organisation (leave empty for an existing user).
    pub email: String,
    pub name: String,
    pub organisation: String,
    pub role: Option<MemberRole>,
    /// `YYYY-MM-DD`, the last day of access (add, extend).
    pub ends: String,
    pub justification: String,
}

/// The longest page of requests; pages are 100 long unless asked otherwise.
pub const MAX_PAGE: i64 = 1000;
pub const PAGE: i64 = 100;

/// One page of requests.
#[derive(Debug, Clone)]
pub struct RequestList {
    pub requests: Vec<AccessRequest>,
    /// The id to continue from for the next page in the same order; None on the last page.
    pub next: Option<i64>,
}

/// A decision's outcome: the request as decided, and for a new person the onboarding link (the
/// command line prints it; the web never shows it).
pub struct Decided {
    pub request: AccessRequest,
    pub onboarding_link: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Decided {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let link = self.onboarding_link.as_ref().map(|_| "<redacted>");
        f.debug_struct("Decided").field("request", &self.request).field("onboarding_link", &link).finish()
    }
}

impl Governance {
    /// Submit a request. Anyone else is refused, and the refusal audited.
    pub async fn submit_request(&self, who: &Caller, new: NewRequest) -> Result<AccessRequest, CoreError> {
        let asset_name = new.asset.trim().to_string();
        let standing = match self.require_on(who, Action::RequestAccess, &asset_name).await {
            Err(CoreError::Forbidden) => {
                self.refused(who, &asset_name).await?;
                return Err(CoreError::Refused(format!(
                    "Only the Information Asset Owner of {asset_name} or one of its Administrators (with current IG training) may ask for access."
                )));
            }
            other => other?,
        };
        let (asset, _) = standing;
        let (now, now_us) = self.now();
        let kind = new.kind.ok_or_else(|| CoreError::invalid("kind", "choose add, change_role, extend or end"))?;
        let mut user_id = new.user_id.trim().to_lowercase();
        if user_id.is_empty() && !new.email.trim().is_empty() {
            user_id = user_id_from_email(new.email.trim());
        }
        validate_user_id(&user_id)?;
        if user_id == who.user_id {
            return Err(CoreError::Conflict(
                "you cannot ask for access for yourself; ask the IAO or another IAA".into(),
            ));
        }
        let justification = rules::text("justification", &new.justification, true, 2000)?;
        let new_person = !new.email.trim().is_empty();
        if new_person {
            if kind != RequestKind::Add {
                return Err(CoreError::invalid("email", "only a request to add a person may name a new person"));
            }
            validate_email(new.email.trim())?;
            rules::text("name", &new.name, true, 200)?;
            rules::text("organisation", &new.organisation, true, 200)?;
        }
        let ends_us = match kind {
            RequestKind::Add | RequestKind::Extend => {
                let ends = rules::parse_end_date("ends", &new.ends)?;
                if ends <= now_us {
                    return Err(CoreError::invalid("ends", "this end date has passed; give a date in the future"));
                }
                if asset.ends_us != 0 && ends > asset.ends_us {
                    return Err(CoreError::invalid(
                        "ends",
                        format!(
                            "the asset ends on {}; a membership cannot outlast it",
                            rules::show_end_date(asset.ends_us)
                        ),
                    ));
                }
                ends
            }
            RequestKind::ChangeRole | RequestKind::End => 0,
        };
        let role = match kind {
            RequestKind::Add | RequestKind::ChangeRole => {
                new.role.ok_or_else(|| CoreError::invalid("role", "choose researcher or data_manager"))?
            }
            RequestKind::Extend | RequestKind::End => MemberRole::Researcher,
        };
        let request = AccessRequest {
            id: 0,
            asset: asset.name.clone(),
            kind,
            subject: user_id,
            new_email: if new_person { new.email.trim().to_string() } else { String::new() },
            new_name: if new_person { new.name.trim().to_string() } else { String::new() },
            new_organisation: if new_person { new.organisation.trim().to_string() } else { String::new() },
            role,
            ends_us,
            justification,
            requested_by: who.user_id.clone(),
            requested_us: now_us,
            status: RequestStatus::Pending,
            decided_by: String::new(),
            decided_us: 0,
            reason: String::new(),
        };
        let (src, config) = (who.source.clone(), self.config.clone());
        let stored =
            transact(self.store(), move |tx| Box::pin(insert_request(tx, asset, request, src, config, now))).await?;
        if stored.status == RequestStatus::Pending {
            let text = messages::request_submitted(&stored, &self.identity.public_url);
            self.notify_desk(&format!("Haven - access request #{} to decide", stored.id), text).await;
        }
        Ok(stored)
    }

    async fn refused(&self, who: &Caller, asset: &str) -> Result<(), CoreError> {
        let (now, _) = self.now();
        let (actor, src, asset) = (who.audit_name().to_string(), who.source.clone(), asset.to_string());
        transact(self.store(), move |tx| {
            Box::pin(async move {
                tx.append_audit(
                    NewAuditEvent::new(now, &actor, action::ACCESS_REQUEST_REFUSED).project(&asset).source(&src),
                )
                .await?;
                Ok::<_, CoreError>(())
            })
        })
        .await
    }

    /// One page of the requests the caller may see: all (service desk, auditors), those of an
    /// asset they own or administer, else those they made. Filtered by asset and status when
    /// given.
    pub async fn requests(
        &self,
        who: &Caller,
        asset: Option<&str>,
        status: Option<RequestStatus>,
        page: Paging,
    ) -> Result<RequestList, CoreError> {
        let mut requested_by = None;
        if !can(who, Action::ViewGovernance, Resource::Service) {
            match asset {
                Some(name) => {
                    self.require_on(who, Action::ViewMembers, name).await?;
                }
                None => {
                    require(who, Action::UseOwnGovernance, Resource::Account(&who.user_id))?;
                    requested_by = Some(who.user_id.clone());
                }
            }
        }
        self.request_page(asset.map(str::to_string), status, requested_by, page).await
    }

    /// One page of the requests the caller made (My requests).
    pub async fn my_requests(&self, who: &Caller, page: Paging) -> Result<RequestList, CoreError> {
        require(who, Action::UseOwnGovernance, Resource::Account(&who.user_id))?;
        self.request_page(None, None, Some(who.user_id.clone()), page).await
    }

    async fn request_page(
        &self,
        asset: Option<String>,
        status: Option<RequestStatus>,
        requested_by: Option<String>,
        page: Paging,
    ) -> Result<RequestList, CoreError> {
        if !(1..=MAX_PAGE).contains(&page.limit()) {
            return Err(CoreError::invalid("limit", format!("give 1 to {MAX_PAGE}")));
        }
        let mut requests = read(self.store(), move |tx| {
            Box::pin(async move {
                Ok::<_, CoreError>(
                    tx.requests(asset.as_deref(), status, requested_by.as_deref(), page.plus_one()).await?,
                )
            })
        })
        .await?;
        let more = requests.len() as i64 > page.limit();
        requests.truncate(page.limit() as usize);
        let next = if more { requests.last().map(|r| r.id) } else { None };
        Ok(RequestList { requests, next })
    }

    /// One request: for the service desk and auditors, or the IAO and IAAs of its asset.
    pub async fn request(&self, who: &Caller, id: i64) -> Result<AccessRequest, CoreError> {
        let desk = can(who, Action::ViewGovernance, Resource::Service);
        if !desk {
            require(who, Action::UseOwnGovernance, Resource::Account(&who.user_id))?;
        }
        let found =
            read(self.store(), move |tx| Box::pin(async move { Ok::<_, CoreError>(tx.request(id).await?) })).await?;
        match found {
            Some(r) if desk => Ok(r),
            Some(r) => {
                self.require_on(who, Action::ViewMembers, &r.asset).await?;
                Ok(r)
            }
            None if desk => Err(CoreError::NotFound),
            None => Err(CoreError::Forbidden),
        }
    }

    /// Approve or reject a request, with a reason. Approval provisions at once.
    pub async fn decide(&self, who: &Caller, id: i64, approve: bool, reason: &str) -> Result<Decided, CoreError> {
        require(who, Action::DecideAccess, Resource::Service)?;
        self.check_fresh(who)?;
        let reason = rules::text("reason", reason, true, 2000)?;
        let (now, _) = self.now();
        // The new person's onboarding link is made before the unit (no randomness inside it).
        let token = haven_crypto::token::new_token(self.identity.rng.as_ref())?;
        let hours = self.identity.policy.onboarding_link_hours;
        let link_expires_us = to_micros(now + time::Duration::hours(i64::from(hours)));
        let (actor, src, config) = (who.clone(), who.source.clone(), self.config.clone());
        let hash = token.hash;
        let request = transact(self.store(), move |tx| {
            Box::pin(decide_request(tx, id, approve, reason, actor, src, config, now, (hash, link_expires_us)))
        })
        .await?;
        let mut onboarding_link = None;
        if approve && request.new_person() {
            let url = self.identity.link_url(crate::paths::ONBOARD, &token.secret);
            let text = crate::identity::messages::onboarding(&request.subject, &url, hours, &self.identity.public_url);
            self.identity.notify(&request.new_email, "Haven - your new account", text).await;
            onboarding_link = Some(Zeroizing::new(url));
        }
        let text = messages::request_decided(&request, &self.identity.public_url);
        self.notify_user(
            &request.requested_by,
            &format!("Haven - access request #{} {}", request.id, request.status.as_str()),
            text,
        )
        .await;
        Ok(Decided { request, onboarding_link })
    }
}

/// A user id for a new person from their email's local part (`Jo.Bloggs@x.org` → `jo.bloggs`).
fn user_id_from_email(email: &str) -> String {
    let local = email.split('@').next().unwrap_or("").to_lowercase();
    let id: String = local
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        .skip_while(|c| !c.is_ascii_lowercase())
        .take(32)
        .collect();
    id
}

async fn insert_request(
    tx: &mut dyn Tx,
    asset: Asset,
    mut request: AccessRequest,
    src: String,
    config: GovernanceConfig,
    now: OffsetDateTime,
) -> Result<AccessRequest, CoreError> {
    let now_us = to_micros(now);
    let standing = standing_of(tx, &asset, &request.requested_by, &config, now_us).await?;
    if !(standing.iao || standing.iaa) {
        return Err(CoreError::Forbidden);
    }
    let subject = request.subject.clone();
    let account = tx.account(&subject).await?;
    if request.new_person() {
        if account.is_some() {
            return Err(CoreError::Conflict(format!(
                "the user id {subject} is taken; if this is the same person, request them as an existing user (leave the email empty)"
            )));
        }
        // A second account for someone who has one (the requester above all) would let them
        // grant themselves access under another name.
        if let Some(holder) = crate::identity::desk::email_holder(tx, &request.new_email).await? {
            return Err(CoreError::Conflict(format!(
                "{} belongs to the account {holder} already; request that account instead",
                request.new_email
            )));
        }
    } else if account.is_none() {
        return Err(CoreError::invalid(
            "user_id",
            format!("there is no account {subject}; to add a new person give their email, name and organisation"),
        ));
    }
    if let Some(open) = tx.open_requests_about(&subject).await?.into_iter().find(|r| r.asset == asset.name) {
        return Err(CoreError::Conflict(format!(
            "request #{} about {subject} in {} is still open; wait for its decision",
            open.id, asset.name
        )));
    }
    let current = tx.current_membership(&asset.name, &subject).await?;
    match (request.kind, &current) {
        (RequestKind::Add, Some(_)) => {
            return Err(CoreError::Conflict(format!(
                "{subject} is a member of {} already; ask to change their role or extend instead",
                asset.name
            )));
        }
        (RequestKind::ChangeRole | RequestKind::Extend | RequestKind::End, None) => {
            return Err(CoreError::Conflict(format!("{subject} is not a member of {}", asset.name)));
        }
        (RequestKind::ChangeRole, Some(m)) if m.role == request.role => {
            return Err(CoreError::Conflict(format!("{subject} is a {} already", m.role.as_str())));
        }
        (RequestKind::Extend, Some(m)) => {
            if request.ends_us <= m.ends_us {
                return Err(CoreError::invalid(
                    "ends",
                    format!("the membership runs to {} already; give a later date", rules::show_end_date(m.ends_us)),
                ));
            }
            request.role = m.role;
        }
        (RequestKind::End, Some(m)) => request.role = m.role,
        _ => {}
    }
    let needs_training = matches!(request.kind, RequestKind::Add | RequestKind::ChangeRole | RequestKind::Extend)
        && account.is_some()
        && !rules::missing_courses(&tx.training_of(&subject).await?, &config.courses.researcher, now_us).is_empty();
    if needs_training {
        request.status = RequestStatus::AwaitingTraining;
    }
    request.id = tx.insert_request(&request).await?;
    tx.append_audit(
        NewAuditEvent::new(now, &request.requested_by, action::ACCESS_REQUEST_SUBMITTED)
            .target(&subject)
            .project(&asset.name)
            .source(&src)
            .details(serde_json::json!({
                "request": request.id,
                "kind": request.kind.as_str(),
                "role": request.role.as_str(),
                "ends": rules::show_end_date(request.ends_us),
                "new_person": request.new_person(),
                "status": request.status.as_str(),
            })),
    )
    .await?;
    Ok(request)
}

#[allow(clippy::too_many_arguments)]
async fn decide_request(
    tx: &mut dyn Tx,
    id: i64,
    approve: bool,
    reason: String,
    who: Caller,
    src: String,
    config: GovernanceConfig,
    now: OffsetDateTime,
    link: ([u8; 32], i64),
) -> Result<AccessRequest, CoreError> {
    let now_us = to_micros(now);
    let mut request = tx.request(id).await?.ok_or(CoreError::NotFound)?;
    if !request.open() {
        return Err(CoreError::Conflict(format!("request #{id} was {} already", request.status.as_str())));
    }
    if request.requested_by == who.user_id {
        return Err(CoreError::Conflict(
            "you made this request; another member of the service desk must decide it".into(),
        ));
    }
    if !can(&who, Action::DecideAccess, Resource::Account(&request.subject)) {
        return Err(CoreError::Conflict(
            "this request is about you; another member of the service desk must decide it".into(),
        ));
    }
    // Training may have arrived since the request was made.
    if approve
        && request.status == RequestStatus::AwaitingTraining
        && release_waiting(tx, &request.subject, &config, now).await? > 0
    {
        request = tx.request(id).await?.ok_or(CoreError::NotFound)?;
    }
    if approve && request.status == RequestStatus::AwaitingTraining {
        return Err(CoreError::Conflict(format!(
            "{} has no current IG training record yet; the request moves on by itself when one is entered",
            request.subject
        )));
    }
    let asset = tx.asset(&request.asset).await?.ok_or(CoreError::NotFound)?;
    if approve && asset.status != AssetStatus::Active {
        return Err(CoreError::Conflict(format!("{} is closed", asset.name)));
    }
    if approve {
        let standing = standing_of(tx, &asset, &request.requested_by, &config, now_us).await?;
        if !(standing.iao || standing.iaa) {
            return Err(CoreError::Conflict(format!(
                "{} is no longer the IAO or an IAA of {} with current IG training; reject this request",
                request.requested_by, asset.name
            )));
        }
    }
    let actor = who.audit_name().to_string();
    request.status = if approve { RequestStatus::Approved } else { RequestStatus::Rejected };
    request.decided_by = actor.clone();
    request.decided_us = now_us;
    request.reason = reason;
    if !tx.update_request(&request).await? {
        return Err(CoreError::Conflict(format!("request #{id} was decided meanwhile")));
    }
    if approve {
        provision(tx, &request, &actor, &src, now, link).await?;
    }
    let what = if approve { action::ACCESS_REQUEST_APPROVED } else { action::ACCESS_REQUEST_REJECTED };
    tx.append_audit(
        NewAuditEvent::new(now, &actor, what).target(&request.subject).project(&request.asset).source(&src).details(
            serde_json::json!({"request": request.id, "kind": request.kind.as_str(), "reason": request.reason}),
        ),
    )
    .await?;
    Ok(request)
}

/// Carry out an approved request inside its decision's unit.
async fn provision(
    tx: &mut dyn Tx,
    r: &AccessRequest,
    actor: &str,
    src: &str,
    now: OffsetDateTime,
    (link_hash, link_expires_us): ([u8; 32], i64),
) -> Result<(), CoreError> {
    let now_us = to_micros(now);
    if r.new_person() {
        let user = NewUser {
            id: r.subject.clone(),
            email: r.new_email.clone(),
            password_hash: String::new(),
            roles: vec![Role::Researcher],
            created_us: now_us,
        };
        tx.insert_user(&user).await.map_err(|e| match e {
            StoreError::Duplicate(_) => CoreError::Conflict(format!("the user id {} was taken meanwhile", r.subject)),
            other => other.into(),
        })?;
        tx.put_profile(
            &r.subject,
            &Profile { name: r.new_name.clone(), organisation: r.new_organisation.clone(), auto_disabled_us: 0 },
        )
        .await?;
        tx.replace_link(&LinkRecord {
            hash: link_hash,
            purpose: LinkPurpose::Onboarding,
            user_id: r.subject.clone(),
            subject: String::new(),
            created_us: now_us,
            expires_us: link_expires_us,
        })
        .await?;
        tx.append_audit(
            NewAuditEvent::new(now, actor, action::ACCOUNT_CREATED).target(&r.subject).source(src).details(
                serde_json::json!({
                    "roles": user.roles,
                    "via": "access_request",
                    "request": r.id,
                }),
            ),
        )
        .await?;
    } else {
        reenable(tx, &r.subject, actor, src, now).await?;
    }
    let current = tx.current_membership(&r.asset, &r.subject).await?;
    let (role, ends_us) = match (r.kind, &current) {
        (RequestKind::Add, None) => (r.role, r.ends_us),
        (RequestKind::ChangeRole, Some(m)) => (r.role, m.ends_us),
        (RequestKind::Extend, Some(m)) => (m.role, r.ends_us),
        (RequestKind::End, Some(_)) => (r.role, 0),
        _ => {
            return Err(CoreError::Conflict(format!(
                "{}'s membership of {} changed since the request was made; reject it and ask for a new one",
                r.subject, r.asset
            )));
        }
    };
    if let Some(m) = &current {
        let reason = format!("{} by request #{}", if r.kind == RequestKind::End { "ended" } else { "replaced" }, r.id);
        tx.end_membership(m.id, now_us, &reason).await?;
        tx.append_audit(
            NewAuditEvent::new(now, actor, action::MEMBERSHIP_ENDED)
                .target(&r.subject)
                .project(&r.asset)
                .source(src)
                .details(serde_json::json!({"membership": m.id, "reason": reason})),
        )
        .await?;
    }
    if r.kind != RequestKind::End {
        let membership = Membership {
            id: 0,
            asset: r.asset.clone(),
            user_id: r.subject.clone(),
            role,
            starts_us: now_us,
            ends_us,
            ended_us: 0,
            end_reason: String::new(),
            request_id: r.id,
            confirmed_us: now_us,
            flagged_us: 0,
            suspended: false,
        };
        let mid = tx.insert_membership(&membership).await?;
        tx.append_audit(
            NewAuditEvent::new(now, actor, action::MEMBERSHIP_STARTED)
                .target(&r.subject)
                .project(&r.asset)
                .source(src)
                .details(serde_json::json!({
                    "membership": mid,
                    "role": role.as_str(),
                    "ends": rules::show_end_date(ends_us),
                    "request": r.id,
                })),
        )
        .await?;
    }
    Ok(())
}

/// An account the lifecycle job disabled for having no access is enabled again by a new
/// membership; one the service desk disabled stays disabled.
pub(super) async fn reenable(
    tx: &mut dyn Tx,
    user_id: &str,
    actor: &str,
    src: &str,
    now: OffsetDateTime,
) -> Result<(), CoreError> {
    let Some(mut account) = tx.account(user_id).await? else { return Ok(()) };
    let Some(mut profile) = tx.profile(user_id).await? else { return Ok(()) };
    if account.status != AccountStatus::Disabled || profile.auto_disabled_us == 0 {
        return Ok(());
    }
    account.status = AccountStatus::Active;
    tx.update_account(&account).await?;
    profile.auto_disabled_us = 0;
    tx.put_profile(user_id, &profile).await?;
    tx.append_audit(
        NewAuditEvent::new(now, actor, action::ACCOUNT_ENABLED)
            .target(user_id)
            .source(src)
            .details(serde_json::json!({"reason": "new membership"})),
    )
    .await?;
    Ok(())
}
