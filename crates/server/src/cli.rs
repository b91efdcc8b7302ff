//! The `sluice` command line: serve (the default), migrate the state database, manage API keys.

use clap::{Args, Parser, Subcommand};
use secrecy::ExposeSecret;
use sluice_domain::api_key::{ApiKeyName, Scope, Scopes};
use sluice_domain::services::ApiKeyService;
use std::sync::Arc;
use std::time::Duration;

use crate::{Settings, StartError, open_state_database};

/// Sluice runs data pipelines and answers every question about them. Settings come from
/// config/default.toml (built in), config/$SLUICE_ENVIRONMENT.toml and SLUICE__SECTION__KEY
/// environment variables.
#[derive(Debug, Parser)]
#[command(name = "sluice", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Say more: a command other than serve logs only warnings and errors; -v adds what it
    /// does (information), -vv the details (debug). RUST_LOG, when set, decides instead.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// The log level of a command: `log.level` for `serve`; warnings unless `-v` (`verbose`) for the
/// others, whose output is for the person or script that ran them.
pub fn log_level<'s>(command: &Command, verbose: u8, configured: &'s str) -> &'s str {
    match (command, verbose) {
        (Command::Serve, _) => configured,
        (_, 0) => "warn",
        (_, 1) => "info",
        _ => "debug",
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API and run flows (what `sluice` alone does).
    Serve,
    /// Apply the state database's pending migrations, then exit.
    Migrate,
    /// Manage the API keys kept in the state database.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The keys data store passwords are sealed with.
    #[command(subcommand)]
    Secrets(SecretsCommand),
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Print a new random key (base64), for secrets.key.
    GenerateKey,
    /// Seal every stored password again under the current key (secrets.key, secrets.key_id),
    /// opening them with it or any of secrets.previous_keys.
    Rotate,
}

/// Runs a secrets command. A generated key goes alone to standard output.
///
/// # Errors
/// A message for the person at the terminal.
pub async fn secrets(settings: &Settings, command: SecretsCommand) -> Result<(), StartError> {
    match command {
        SecretsCommand::GenerateKey => {
            let key = sluice_store::Keyring::generate_key().map_err(StartError::Command)?;
            println!("{key}");
        }
        SecretsCommand::Rotate => {
            let store = open_state_database(settings).await?;
            let sealed = store.reseal_passwords().await?;
            eprintln!(
                "sealed {sealed} password(s) again under key '{}'; every password is now under it",
                settings.secrets.key_id
            );
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a key and print it once: Sluice keeps only its hash.
    Create(CreateKey),
    /// List the keys: name, scopes and the first characters of each.
    List,
    /// Revoke a key: its holders are refused from then on.
    Revoke {
        /// The key's name.
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct CreateKey {
    /// A name for the key, unique among keys: a letter, then letters, digits, '_', '-', '.'
    /// (not 'current').
    #[arg(long)]
    name: String,
    /// What the key may do: read; run (read, start and cancel flows); write (run, register
    /// stores, define flow inputs); admin (everything, keys included). Repeat for several.
    #[arg(long = "scope", required = true, value_parser = parse_scope)]
    scopes: Vec<Scope>,
}

fn parse_scope(raw: &str) -> Result<Scope, String> {
    Scope::parse(raw)
}

/// Runs a key command against the state database. The new key goes alone to standard output (so
/// `KEY=$(sluice keys create …)` works); everything else to standard error.
///
/// # Errors
/// A message for the person at the terminal.
pub async fn keys(settings: &Settings, command: KeysCommand) -> Result<(), StartError> {
    let store = Arc::new(open_state_database(settings).await?);
    let keys = ApiKeyService::new(store, Duration::ZERO);
    match command {
        KeysCommand::Create(create) => {
            let name = ApiKeyName::new_key(&create.name)
                .map_err(|why| StartError::Command(format!("the key name {why}")))?;
            let scopes = Scopes::new(create.scopes).map_err(StartError::Command)?;
            let (key, secret) = keys.create(name, scopes).await?;
            eprintln!(
                "created key '{}' with scopes {}; it is shown once, keep it now:",
                key.name,
                key.scopes.to_list()
            );
            println!("{}", secret.expose_secret());
        }
        KeysCommand::List => {
            for key in keys.list().await? {
                println!(
                    "{}\t{}\tsluice_{}…\t{}",
                    key.name,
                    key.scopes.to_list(),
                    key.lookup,
                    key.created_utc.to_rfc3339()
                );
            }
        }
        KeysCommand::Revoke { name } => {
            let name = ApiKeyName::parse(&name)
                .map_err(|why| StartError::Command(format!("the key name {why}")))?;
            keys.revoke(&name).await?;
            eprintln!("revoked key '{name}'");
        }
    }
    Ok(())
}
