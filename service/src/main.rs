//! `auth-service`: parse the command line, then run the chosen command.

use std::path::PathBuf;
use std::process::ExitCode;

use auth_service::cli::{self, Outcome, RenderArgs};
use auth_service::config::Settings;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "auth-service", version, about = "Vault Agent Authentication Service")]
struct Cli {
    /// Optional TOML settings file; AUTH_SERVICE_* variables win over it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the REST service.
    Serve,
    /// Check a method-block JSON file (`-` for stdin) offline.
    Validate {
        /// The method-block JSON file, or `-` for stdin.
        file: PathBuf,
    },
    /// Print the full agent configuration (HCL) that would be used.
    Render {
        /// The method-block JSON file, or `-` for stdin.
        #[arg(long, value_name = "FILE")]
        method: PathBuf,
        /// The Vault server address.
        #[arg(long, value_name = "URL")]
        vault_addr: String,
        /// The profile's namespace.
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
        /// An ec2 nonce to show in place (never shown otherwise).
        #[arg(long, value_name = "N")]
        nonce: Option<String>,
        /// Where the file sink writes the token.
        #[arg(long, value_name = "P", default_value = "token")]
        sink_path: PathBuf,
    },
    /// Check the settings (file and environment) as `serve` would, and print the effective values with secrets masked.
    CheckConfig,
    /// Copy the SQLite database online to a new file (PostgreSQL: use pg_dump).
    Backup {
        /// The file to write (must not exist).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
}

fn emit(outcome: Outcome) -> ExitCode {
    print!("{}", outcome.stdout);
    eprint!("{}", outcome.stderr);
    ExitCode::from(u8::try_from(outcome.code).unwrap_or(1))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::CheckConfig => emit(cli::check_config(&settings, cli.config.as_deref())),
        Command::Backup { to } => emit(cli::backup(&settings, &to)),
        Command::Validate { file } => emit(cli::validate(&file, &settings.validation_policy())),
        Command::Render { method, vault_addr, namespace, nonce, sink_path } => emit(cli::render(
            RenderArgs { method, vault_addr, namespace, nonce, sink_path },
            &settings.validation_policy(),
            settings.vault_ca_cert.as_deref(),
        )),
        Command::Serve => match auth_service::startup::serve_main(settings) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        },
    }
}
