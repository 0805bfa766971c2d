use std::process::ExitCode;

use clap::Parser;
use haven::cli::{
    AdminCommand, AuditCommand, Cli, Command, ConfigCommand, TokensCommand, UpdatesCommand, UsersCommand,
};
use haven::{commands, desk, packages_cli, serve, telemetry};
use haven_core::identity::records::AccountStatus;

fn main() -> ExitCode {
    haven::private_umask();
    haven::install_crypto_provider();
    let cli = Cli::parse();
    let config = match cli.command.load_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("haven: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::Config { command: ConfigCommand::Check { .. } } = &cli.command {
        print!("{}", config.to_redacted_toml());
        eprintln!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    telemetry::init(cli.log_format.unwrap_or(config.log.format), &config.log.level);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("haven: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Serve { .. } => serve::run(config).await.map(|_| 0),
            Command::Config { .. } => Ok(0),
            Command::Audit { command } => match command {
                AuditCommand::Verify { .. } => commands::audit_verify(config).await,
                AuditCommand::Export { since, output, .. } => {
                    commands::audit_export(config, since.as_deref(), output.as_deref()).await
                }
                AuditCommand::Checkpoint { .. } => commands::audit_checkpoint(config).await,
            },
            Command::Updates { command } => match command {
                UpdatesCommand::Publish { author, title, body_file, .. } => {
                    commands::updates_publish(config, &author, &title, &body_file).await
                }
                UpdatesCommand::List { .. } => commands::updates_list(config).await,
            },
            Command::Admin { command: AdminCommand::BootstrapLink { .. } } => commands::bootstrap_link(config).await,
            Command::Users { command } => match command {
                UsersCommand::Add { id, email, admin, .. } => desk::add(config, &id, &email, admin).await,
                UsersCommand::List { query, .. } => desk::list(config, query.as_deref().unwrap_or("")).await,
                UsersCommand::Show { id, .. } => desk::show(config, &id).await,
                UsersCommand::Lock { id, .. } => desk::set_status(config, &id, AccountStatus::Locked).await,
                UsersCommand::Unlock { id, .. } => desk::set_status(config, &id, AccountStatus::Active).await,
                UsersCommand::Disable { id, .. } => desk::set_status(config, &id, AccountStatus::Disabled).await,
                UsersCommand::ResetPassword { id, .. } => desk::reset_password(config, &id).await,
                UsersCommand::Role { id, role, withdraw, .. } => desk::set_role(config, &id, &role, !withdraw).await,
            },
            Command::Tokens { command } => match command {
                TokensCommand::ImportPskc { file, key_file, .. } => {
                    desk::import_pskc(config, &file, key_file.as_deref()).await
                }
                TokensCommand::Assign { serial, user, .. } => desk::assign(config, &serial, &user).await,
            },
            Command::Mail { .. } => desk::mail_list(&config),
            Command::Packages { command } => packages_cli::run(config, command).await,
        }
    });
    match outcome {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("haven: {e:#}");
            ExitCode::FAILURE
        }
    }
}
