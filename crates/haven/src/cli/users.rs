//! `haven users …`: the service desk's account tools at the console, through the same use cases
//! as the web pages, audited as `console`.

use anyhow::Result;
use clap::Subcommand;
use haven_core::accounts::Role;
use haven_core::caller::Caller;
use haven_core::identity::records::AccountStatus;

use super::open_identity;
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Add an account and print its single-use onboarding link (also emailed).
    Add {
        id: String,
        #[arg(long)]
        email: String,
        /// Make the account a service-desk administrator.
        #[arg(long)]
        admin: bool,
    },
    /// Add accounts from CSV (columns user_id,email[,roles], roles separated by ";",
    /// researcher when empty): every row or none; a bad row is named by its line (exit 2). Each
    /// person gets their onboarding link by email.
    Import { file: std::path::PathBuf },
    /// List accounts whose id or email contains QUERY (all without one).
    List { query: Option<String> },
    /// Show an account: status, counters, tokens (never a secret).
    Show { id: String },
    /// Lock an account until it is unlocked; ends its sessions.
    Lock { id: String },
    /// Unlock an account and clear its failure counter.
    Unlock { id: String },
    /// Disable an account; ends its sessions.
    Disable { id: String },
    /// Start a password reset: email the user a single-use link (never printed) that still needs a second factor.
    ResetPassword { id: String },
    /// Revoke every repository and API token of the account (what its scripts and package
    /// clients hold stops at once).
    RevokePersonalTokens { id: String },
    /// Grant a role (admin, researcher, package_reviewer, staff, auditor, output_checker), or
    /// withdraw it with --withdraw.
    Role {
        id: String,
        role: String,
        #[arg(long)]
        withdraw: bool,
    },
}

impl UsersCommand {
    pub async fn run(self, config: Config) -> Result<i32> {
        match self {
            UsersCommand::Add { id, email, admin, .. } => add(config, &id, &email, admin).await,
            UsersCommand::Import { file } => import(config, &file).await,
            UsersCommand::List { query, .. } => list(config, query.as_deref().unwrap_or("")).await,
            UsersCommand::Show { id, .. } => show(config, &id).await,
            UsersCommand::Lock { id, .. } => set_status(config, &id, AccountStatus::Locked).await,
            UsersCommand::Unlock { id, .. } => set_status(config, &id, AccountStatus::Active).await,
            UsersCommand::Disable { id, .. } => set_status(config, &id, AccountStatus::Disabled).await,
            UsersCommand::ResetPassword { id, .. } => reset_password(config, &id).await,
            UsersCommand::RevokePersonalTokens { id } => revoke_personal_tokens(config, &id).await,
            UsersCommand::Role { id, role, withdraw, .. } => set_role(config, &id, &role, !withdraw).await,
        }
    }
}

fn when(us: i64) -> String {
    if us == 0 {
        return "never".into();
    }
    let t = haven_core::from_micros(us);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

pub async fn add(config: Config, id: &str, email: &str, admin: bool) -> Result<i32> {
    let identity = open_identity(config).await?;
    let link = identity.add_account(&Caller::console(), id, email, admin).await?;
    say!("Account {id} created{}.", if admin { " (service desk)" } else { "" });
    say!(
        "Onboarding link (single use, valid {} hours; also emailed to {email}):",
        identity.policy.onboarding_link_hours
    );
    say!("  {link}");
    Ok(0)
}

pub async fn import(config: Config, file: &std::path::Path) -> Result<i32> {
    let identity = open_identity(config).await?;
    let reader = super::open_csv(file)?;
    let parsed =
        tokio::task::spawn_blocking(move || haven_core::governance::import::parse_accounts_csv(reader)).await?;
    let rows = match parsed {
        Err(e) => return super::usage(e),
        Ok(rows) => rows,
    };
    match identity.import_accounts(&Caller::console(), rows).await {
        Err(e) => super::usage(e),
        Ok(n) => {
            say!(
                "Imported {n} account(s) from {}; each was emailed a single-use onboarding link, valid {} hours.",
                file.display(),
                identity.policy.onboarding_link_hours
            );
            Ok(0)
        }
    }
}

pub async fn list(config: Config, query: &str) -> Result<i32> {
    let identity = open_identity(config).await?;
    let accounts = identity.find_accounts(&Caller::console(), query).await?;
    say!("{:<24} {:<32} {:<10} ROLES", "USER", "EMAIL", "STATUS");
    for a in &accounts {
        let roles: Vec<&str> = a.roles.iter().map(|r| r.as_str()).collect();
        let status = if a.has_password() { a.status.as_str() } else { "onboarding" };
        say!("{:<24} {:<32} {:<10} {}", a.id, a.email, status, roles.join(","));
    }
    say!("{} account(s)", accounts.len());
    Ok(0)
}

pub async fn show(config: Config, id: &str) -> Result<i32> {
    let identity = open_identity(config).await?;
    let v = identity.account_view(&Caller::console(), id).await?;
    let a = &v.account;
    say!("User:               {}", a.id);
    say!("Email:              {}", a.email);
    say!("Status:             {}", a.status.as_str());
    say!("Roles:              {}", a.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "));
    say!("Onboarded:          {}", if v.onboarded { "yes" } else { "no" });
    say!("Locked until:       {}", if a.locked_until_us == 0 { "-".into() } else { when(a.locked_until_us) });
    say!("Failed sign-ins:    {}", a.failed_signins);
    say!("Last sign-in:       {}", when(a.last_signin_us));
    say!("ICE logon:          {}", if a.ice_enabled { "allowed" } else { "off" });
    say!("Security questions: {}", if v.has_security_questions { "set" } else { "not set" });
    say!("Recovery codes:     {} left", v.recovery_codes_left);
    say!("Sessions:           {}", v.sessions.len());
    say!("Tokens:");
    for t in &v.tokens {
        say!("  {:<14} {:<22} {:<28} failures {}", t.serial, t.product_label(), t.state.label(), t.failures);
    }
    say!("Repository and API tokens:");
    for t in &v.personal_tokens {
        say!(
            "  {:<12} {:<10} expires {:<25} last used {:<25} {}",
            t.handle(),
            t.scope.as_str(),
            when(t.expires_us),
            when(t.last_used_us),
            t.label
        );
    }
    Ok(0)
}

pub async fn revoke_personal_tokens(config: Config, id: &str) -> Result<i32> {
    let identity = open_identity(config).await?;
    let n = identity.revoke_personal_tokens(&Caller::console(), id).await?;
    say!("{n} repository or API token(s) of {id} revoked.");
    Ok(0)
}

pub async fn set_role(config: Config, id: &str, role: &str, on: bool) -> Result<i32> {
    let Some(parsed) = Role::parse(role) else {
        let names: Vec<&str> = Role::GRANTABLE.iter().map(|r| r.as_str()).collect();
        return super::usage(format!("{role:?} is not a role: use one of {}", names.join(", ")));
    };
    let identity = open_identity(config).await?;
    let changed = identity.set_role(&Caller::console(), id, parsed, on).await?;
    let what = if on { "now has" } else { "no longer has" };
    if changed {
        say!("{id} {what} the role {role}.");
    } else {
        say!("{id} already {} the role {role}; nothing changed.", if on { "had" } else { "did not have" });
    }
    Ok(0)
}

pub async fn set_status(config: Config, id: &str, status: AccountStatus) -> Result<i32> {
    let identity = open_identity(config).await?;
    identity.set_account_status(&Caller::console(), id, status).await?;
    say!(
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
    let identity = open_identity(config).await?;
    // The link goes to the user's email only: whoever runs this never sees it.
    if identity.start_password_reset(&Caller::console(), id).await? {
        say!(
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
