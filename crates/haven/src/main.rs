use std::process::ExitCode;

use clap::Parser;
use haven::cli::{Cli, Command, ConfigCommand};
use haven::telemetry;

fn main() -> ExitCode {
    haven::private_umask();
    haven::install_crypto_provider();
    let cli = Cli::parse();
    let config = match cli.load_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("haven: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::Config { command: ConfigCommand::Check } = &cli.command {
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
    let outcome = runtime.block_on(cli.command.run(config));
    // Not the runtime's unbounded drop: a task that never yields (seen: sqlx 0.9's pool
    // maintenance, spinning as its pool went away) would keep a finished command from exiting.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match outcome {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("haven: {e:#}");
            ExitCode::FAILURE
        }
    }
}
