//! The service desk on the command line: `haven users …`, `haven tokens …` and `haven mail list`,
//! for the operator at the server. They run the same use cases as the web pages, audited as
//! `console`.

use std::path::Path;

use anyhow::{Context, Result};
use haven_core::accounts::Role;
use haven_core::caller::Caller;
use haven_core::identity::Identity;
use haven_core::identity::records::AccountStatus;
use std::sync::Arc;

use crate::app::{self, Mode};
use crate::config::Config;

async fn open(config: Config) -> Result<Arc<Identity>> {
    let public_url = config.console_url();
    let app = app::open(config, Mode::Existing).await?;
    app.identity(&public_url).await
}

fn when(us: i64) -> String {
    if us == 0 {
        return "never".into();
    }
    let t = haven_core::from_micros(us);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

pub async fn add(config: Config, id: &str, email: &str, admin: bool) -> Result<i32> {
    let identity = open(config).await?;
    let link = identity.add_account(&Caller::console(), id, email, admin).await?;
    println!("Account {id} created{}.", if admin { " (service desk)" } else { "" });
    println!(
        "Onboarding link (single use, valid {} hours; also emailed to {email}):",
        identity.policy.onboarding_link_hours
    );
    println!("  {link}");
    Ok(0)
}

pub async fn list(config: Config, query: &str) -> Result<i32> {
    let identity = open(config).await?;
    let accounts = identity.find_accounts(&Caller::console(), query).await?;
    println!("{:<24} {:<32} {:<10} ROLES", "USER", "EMAIL", "STATUS");
    for a in &accounts {
        let roles: Vec<&str> = a.roles.iter().map(|r| r.as_str()).collect();
        let status = if a.has_password() { a.status.as_str() } else { "onboarding" };
        println!("{:<24} {:<32} {:<10} {}", a.id, a.email, status, roles.join(","));
    }
    println!("{} account(s)", accounts.len());
    Ok(0)
}

pub async fn show(config: Config, id: &str) -> Result<i32> {
    let identity = open(config).await?;
    let v = identity.account_view(&Caller::console(), id).await?;
    let a = &v.account;
    println!("User:               {}", a.id);
    println!("Email:              {}", a.email);
    println!("Status:             {}", a.status.as_str());
    println!("Roles:              {}", a.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "));
    println!("Onboarded:          {}", if v.onboarded { "yes" } else { "no" });
    println!("Locked until:       {}", if a.locked_until_us == 0 { "-".into() } else { when(a.locked_until_us) });
    println!("Failed sign-ins:    {}", a.failed_signins);
    println!("Last sign-in:       {}", when(a.last_signin_us));
    println!("ICE logon:          {}", if a.ice_enabled { "allowed" } else { "off" });
    println!("Security questions: {}", if v.has_security_questions { "set" } else { "not set" });
    println!("Recovery codes:     {} left", v.recovery_codes_left);
    println!("Sessions:           {}", v.sessions.len());
    println!("Tokens:");
    for t in &v.tokens {
        println!("  {:<14} {:<22} {:<28} failures {}", t.serial, t.product_label(), t.state.label(), t.failures);
    }
    Ok(0)
}

pub async fn set_role(config: Config, id: &str, role: &str, on: bool) -> Result<i32> {
    let parsed = Role::parse(role)
        .with_context(|| format!("{role:?} is not a role: use package_reviewer, admin or researcher"))?;
    let identity = open(config).await?;
    let changed = identity.set_role(&Caller::console(), id, parsed, on).await?;
    let what = if on { "now has" } else { "no longer has" };
    if changed {
        println!("{id} {what} the role {role}.");
    } else {
        println!("{id} already {} the role {role}; nothing changed.", if on { "had" } else { "did not have" });
    }
    Ok(0)
}

pub async fn set_status(config: Config, id: &str, status: AccountStatus) -> Result<i32> {
    let identity = open(config).await?;
    identity.set_account_status(&Caller::console(), id, status).await?;
    println!(
        "{id}: {}",
        match status {
            AccountStatus::Active => "unlocked (fail counters cleared)",
            AccountStatus::Locked => "locked; its sessions were ended",
            AccountStatus::Disabled => "disabled; its sessions were ended",
        }
    );
    Ok(0)
}

pub async fn reset_password(config: Config, id: &str) -> Result<i32> {
    let identity = open(config).await?;
    // The link goes to the user's email only: whoever runs this never sees it.
    if identity.start_password_reset(&Caller::console(), id).await? {
        println!(
            "A password reset link was emailed to {id} (single use; not shown here). They must still prove a second factor or answer their security questions."
        );
        Ok(0)
    } else {
        eprintln!(
            "The reset link for {id} could not be emailed: check the [mail] settings (see docs/configuration.md) and run this again. The link is never printed."
        );
        Ok(1)
    }
}

pub async fn import_pskc(config: Config, file: &Path, key_file: Option<&Path>) -> Result<i32> {
    let identity = open(config).await?;
    let xml = std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
    let key = match key_file {
        None => None,
        Some(p) => {
            let text =
                zeroize::Zeroizing::new(std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))?);
            Some(zeroize::Zeroizing::new(
                hex::decode(text.trim()).context("the key file must hold the pre-shared key in hex")?,
            ))
        }
    };
    let keys = match haven_core::identity::pskc::parse(&xml, key.as_ref().map(|k| k.as_slice())) {
        Ok(k) => k,
        Err(e) => {
            identity.pskc_refused(&Caller::console(), &e.to_string()).await?;
            return Err(e.into());
        }
    };
    let serials = identity.import_tokens(&Caller::console(), keys).await?;
    println!("Imported {} token(s): {}", serials.len(), serials.join(", "));
    println!("Assign each with `haven tokens assign SERIAL USER`; the user then sets its PIN and confirms a code.");
    Ok(0)
}

pub async fn assign(config: Config, serial: &str, user: &str) -> Result<i32> {
    let identity = open(config).await?;
    identity.assign_token(&Caller::console(), serial, user).await?;
    println!("Token {serial} assigned to {user}. They set its PIN and type a code in My Tokens to activate it.");
    Ok(0)
}

pub fn mail_list(config: &Config) -> Result<i32> {
    let dir = config.data().outbox();
    let entries = crate::mail::list_outbox(&dir)?;
    for e in &entries {
        let at: time::OffsetDateTime = e.modified.into();
        println!(
            "{}  {}  {}  {}",
            at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            e.to,
            e.subject,
            e.file.display()
        );
    }
    println!("{} message(s) in {}", entries.len(), dir.display());
    Ok(0)
}
