//! `zhiying user …` and `zhiying token …`: first-run bootstrap and day-to-day account work.
//! Every change is written to the audit log with the operating-system user as actor.

use std::io::Read;
use std::str::FromStr;

use anyhow::{Context, bail};
use serde::Serialize;
use zhiying_core::access::{Permission, permissions_of};
use zhiying_core::domain::Role;
use zhiying_server::auth::password;
use zhiying_store::{OperationalStore, UserUpdate, hash_token};

use super::DataDirArg;
use crate::config::Config;
use crate::output;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Roles: admin, marketer, analyst, compliance_officer, service_agent, channel_system\n\
(docs/security.md lists what each may do).\n\n\
Examples:\n  zhiying user add --username alice --role marketer            # prints a generated password once\n  \
printf '%s' \"$PW\" | zhiying user add --username bob --role analyst --password-stdin\n  \
zhiying user passwd --username alice                          # new generated password\n  \
zhiying user list --json"
)]
pub struct UserArgs {
    #[command(flatten)]
    pub data_dir: DataDirArg,
    #[command(subcommand)]
    pub command: UserCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user. Without --password-stdin a strong password is generated and printed once.
    Add {
        #[arg(long)]
        username: String,
        /// A role; repeat or comma-separate for several.
        #[arg(long = "role", required = true, value_delimiter = ',')]
        roles: Vec<String>,
        /// Name shown in the console (default: the username).
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// Set a new password (generated unless --password-stdin) and end the user's sessions.
    Passwd {
        #[arg(long)]
        username: String,
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: sign-in, sessions and tokens stop working at once.
    Disable {
        #[arg(long)]
        username: String,
    },
    /// Enable a disabled user again.
    Enable {
        #[arg(long)]
        username: String,
    },
    /// List users with their roles.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Scopes are permission names (e.g. decision.call,events.write) or * for everything\n\
the user's roles allow; a token never exceeds its user's roles. The token is printed once;\n\
only its SHA-256 is stored.\n\n\
Examples:\n  zhiying token create --user crm --scope decision.call,events.write --expires 90d\n  \
zhiying token create --user ops --scope metrics.read --expires 365d --json\n  \
zhiying token list --user crm\n  zhiying token revoke --id 3f2a9c01b7de"
)]
pub struct TokenArgs {
    #[command(flatten)]
    pub data_dir: DataDirArg,
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an API token for a user and print it once.
    Create {
        #[arg(long)]
        user: String,
        /// Permissions the token carries (comma-separated), or `*`.
        #[arg(long = "scope", required = true, value_delimiter = ',')]
        scopes: Vec<String>,
        /// Lifetime: e.g. 12h, 30d, 52w; `never` for no expiry.
        #[arg(long, default_value = "30d")]
        expires: String,
        #[arg(long)]
        json: bool,
    },
    /// List tokens (never the tokens themselves: their ids, owners, scopes and state).
    List {
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id (the first characters of its hash, as `token list` shows).
    Revoke {
        #[arg(long)]
        id: String,
    },
}

/// Who the CLI acts as in the audit log.
pub fn cli_actor() -> String {
    let who = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_default();
    if who.is_empty() {
        "cli".to_string()
    } else {
        format!("cli:{who}")
    }
}

fn read_password_stdin() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("reading the password from standard input")?;
    let s = s.trim_end_matches(['\n', '\r']).to_string();
    if s.is_empty() {
        bail!(
            "standard input was empty: pipe the password in, e.g. printf '%s' \"$PW\" | zhiying user add … --password-stdin"
        );
    }
    Ok(s)
}

fn parse_roles(names: &[String]) -> anyhow::Result<Vec<Role>> {
    names
        .iter()
        .map(|n| Role::from_str(n).map_err(|e| anyhow::anyhow!("{e}")))
        .collect()
}

#[derive(Serialize)]
struct NewUser {
    username: String,
    roles: Vec<Role>,
    /// Present only when generated: shown once, never stored.
    password: Option<String>,
}

pub fn run_user(cfg: &Config, a: UserArgs) -> anyhow::Result<()> {
    let dd = a.data_dir.resolve(cfg);
    super::runtime()?.block_on(async {
        let store = zhiying_store::open(cfg.database_url.as_deref(), &dd).await?;
        let r = user_command(store.as_ref(), a.command).await;
        store.close().await;
        r
    })
}

async fn user_command(store: &dyn OperationalStore, cmd: UserCommand) -> anyhow::Result<()> {
    let actor = cli_actor();
    match cmd {
        UserCommand::Add {
            username,
            roles,
            display_name,
            password_stdin,
            json,
        } => {
            let roles = parse_roles(&roles)?;
            let (pw, generated) = if password_stdin {
                (read_password_stdin()?, false)
            } else {
                (password::random_password(), true)
            };
            let (u, _) = add_user(
                store,
                &actor,
                &username,
                display_name.as_deref(),
                &roles,
                &pw,
            )
            .await?;
            let out = NewUser {
                username: u.username,
                roles: u.roles,
                password: generated.then_some(pw),
            };
            if json {
                output::print_json(&out)?;
            } else {
                println!(
                    "Created user '{}' with roles {}.",
                    out.username,
                    role_list(&out.roles)
                );
                if let Some(p) = &out.password {
                    println!("Password (shown once, store it now): {p}");
                }
            }
        }
        UserCommand::Passwd {
            username,
            password_stdin,
            json,
        } => {
            let (pw, generated) = if password_stdin {
                (read_password_stdin()?, false)
            } else {
                (password::random_password(), true)
            };
            set_password(store, &actor, &username, &pw).await?;
            let out =
                serde_json::json!({"username": username, "password": generated.then_some(&pw)});
            if json {
                output::print_json(&out)?;
            } else {
                println!("Password of '{username}' changed; their sessions were ended.");
                if generated {
                    println!("New password (shown once): {pw}");
                }
            }
        }
        UserCommand::Disable { username } => {
            store
                .update_user(
                    &username,
                    &UserUpdate {
                        disabled: Some(true),
                        ..UserUpdate::default()
                    },
                )
                .await?;
            let ended = store.delete_user_sessions(&username).await?;
            store
                .append_audit(
                    &actor,
                    "user.disable",
                    &format!("user:{username}"),
                    &serde_json::json!({"sessions_ended": ended}),
                )
                .await?;
            println!("Disabled '{username}' ({ended} sessions ended; their tokens stop working).");
        }
        UserCommand::Enable { username } => {
            store
                .update_user(
                    &username,
                    &UserUpdate {
                        disabled: Some(false),
                        ..UserUpdate::default()
                    },
                )
                .await?;
            store
                .append_audit(
                    &actor,
                    "user.enable",
                    &format!("user:{username}"),
                    &serde_json::json!({}),
                )
                .await?;
            println!("Enabled '{username}'.");
        }
        UserCommand::List { json } => {
            let users = store.users().await?;
            if json {
                output::print_json(&users)?;
            } else {
                println!("{:<20} {:<10} {:<40} created", "username", "state", "roles");
                for u in users {
                    let created = chrono::DateTime::from_timestamp_micros(u.created_at)
                        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_default();
                    println!(
                        "{:<20} {:<10} {:<40} {created}",
                        u.username,
                        if u.disabled { "disabled" } else { "active" },
                        role_list(&u.roles)
                    );
                }
            }
        }
    }
    Ok(())
}

fn role_list(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Creates a user with an argon2id hash of `pw` and audits it. Returns the user and whether
/// it was created (false never happens: an existing name is an error).
pub async fn add_user(
    store: &dyn OperationalStore,
    actor: &str,
    username: &str,
    display_name: Option<&str>,
    roles: &[Role],
    pw: &str,
) -> anyhow::Result<(zhiying_store::User, bool)> {
    let username = username.trim();
    if username.is_empty()
        || username.len() > 64
        || !username
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.@".contains(c))
    {
        bail!("username '{username}' must be 1-64 letters, digits, '-', '_', '.' or '@'");
    }
    if roles.is_empty() {
        bail!(
            "give at least one --role (admin, marketer, analyst, compliance_officer, service_agent, channel_system)"
        );
    }
    let hash = password::hash_password(pw)?;
    let u = store
        .create_user(username, display_name.unwrap_or(username), &hash, roles)
        .await
        .with_context(|| format!("creating user '{username}' (use `zhiying user passwd` to change an existing user's password)"))?;
    store
        .append_audit(
            actor,
            "user.create",
            &format!("user:{username}"),
            &serde_json::json!({"roles": roles}),
        )
        .await?;
    Ok((u, true))
}

/// Sets a password, ends the user's sessions and audits it.
pub async fn set_password(
    store: &dyn OperationalStore,
    actor: &str,
    username: &str,
    pw: &str,
) -> anyhow::Result<()> {
    let hash = password::hash_password(pw)?;
    store
        .update_user(
            username,
            &UserUpdate {
                password_hash: Some(hash),
                ..UserUpdate::default()
            },
        )
        .await
        .with_context(|| format!("changing the password of '{username}'"))?;
    let ended = store.delete_user_sessions(username).await?;
    store
        .append_audit(
            actor,
            "user.password_reset",
            &format!("user:{username}"),
            &serde_json::json!({"sessions_ended": ended}),
        )
        .await?;
    Ok(())
}

/// `30d`, `12h`, `52w`, `90m`, or `never`.
fn parse_lifetime(s: &str) -> anyhow::Result<Option<chrono::Duration>> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().with_context(|| {
        format!("--expires '{s}': write a number and a unit, e.g. 30d, 12h, 52w, or `never`")
    })?;
    let d = match unit {
        "m" => chrono::Duration::minutes(n),
        "h" => chrono::Duration::hours(n),
        "d" | "" => chrono::Duration::days(n),
        "w" => chrono::Duration::weeks(n),
        other => bail!("--expires '{s}': unknown unit '{other}'; use m, h, d or w (or `never`)"),
    };
    if n <= 0 || n > 100_000 {
        bail!("--expires '{s}' must be a positive lifetime");
    }
    Ok(Some(d))
}

#[derive(Serialize)]
struct NewToken {
    /// The token: shown once.
    token: String,
    id: String,
    user: String,
    scopes: Vec<String>,
    expires_at: Option<String>,
}

#[derive(Serialize)]
struct TokenRow {
    id: String,
    user: String,
    scopes: Vec<String>,
    created_at: String,
    expires_at: Option<String>,
    revoked_at: Option<String>,
    active: bool,
}

fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// A token's public id: the first 12 hex digits of its hash.
fn token_id(hash: &str) -> String {
    hash.chars().take(12).collect()
}

pub fn run_token(cfg: &Config, a: TokenArgs) -> anyhow::Result<()> {
    let dd = a.data_dir.resolve(cfg);
    super::runtime()?.block_on(async {
        let store = zhiying_store::open(cfg.database_url.as_deref(), &dd).await?;
        let r = token_command(store.as_ref(), a.command).await;
        store.close().await;
        r
    })
}

async fn token_command(store: &dyn OperationalStore, cmd: TokenCommand) -> anyhow::Result<()> {
    let actor = cli_actor();
    match cmd {
        TokenCommand::Create {
            user,
            scopes,
            expires,
            json,
        } => {
            let out = create_token(store, &actor, &user, &scopes, &expires).await?;
            if json {
                output::print_json(&out)?;
            } else {
                println!(
                    "Token for '{}' (id {}), scopes {}, expires {}:",
                    out.user,
                    out.id,
                    out.scopes.join(","),
                    out.expires_at.as_deref().unwrap_or("never")
                );
                println!("{}", out.token);
                println!("It is shown once; send it as `Authorization: Bearer <token>`.");
            }
        }
        TokenCommand::List { user, json } => {
            let now = chrono::Utc::now().timestamp_micros();
            let rows: Vec<TokenRow> = store
                .tokens(user.as_deref())
                .await?
                .into_iter()
                .map(|t| TokenRow {
                    id: token_id(&t.token_hash),
                    active: t.is_active_at(now),
                    user: t.username,
                    scopes: t.scopes,
                    created_at: rfc3339(t.created_at),
                    expires_at: t.expires_at.map(rfc3339),
                    revoked_at: t.revoked_at.map(rfc3339),
                })
                .collect();
            if json {
                output::print_json(&rows)?;
            } else {
                println!(
                    "{:<13} {:<16} {:<8} {:<21} scopes",
                    "id", "user", "state", "expires"
                );
                for r in rows {
                    let state = if r.revoked_at.is_some() {
                        "revoked"
                    } else if r.active {
                        "active"
                    } else {
                        "expired"
                    };
                    println!(
                        "{:<13} {:<16} {:<8} {:<21} {}",
                        r.id,
                        r.user,
                        state,
                        r.expires_at.as_deref().unwrap_or("never"),
                        r.scopes.join(",")
                    );
                }
            }
        }
        TokenCommand::Revoke { id } => {
            let id = id.trim().to_ascii_lowercase();
            if id.len() < 8 {
                bail!(
                    "--id '{id}' is too short: give at least 8 characters of the id `zhiying token list` shows"
                );
            }
            let matches: Vec<_> = store
                .tokens(None)
                .await?
                .into_iter()
                .filter(|t| t.token_hash.starts_with(&id))
                .collect();
            let t = match matches.as_slice() {
                [one] => one,
                [] => bail!("no token has id '{id}': `zhiying token list` shows the ids"),
                _ => bail!(
                    "'{id}' matches {} tokens: give more characters",
                    matches.len()
                ),
            };
            if !store.revoke_token(&t.token_hash).await? {
                bail!("token {id} was already revoked");
            }
            store
                .append_audit(
                    &actor,
                    "token.revoke",
                    &format!("token:{}", token_id(&t.token_hash)),
                    &serde_json::json!({"user": t.username}),
                )
                .await?;
            println!(
                "Revoked token {} of '{}'.",
                token_id(&t.token_hash),
                t.username
            );
        }
    }
    Ok(())
}

async fn create_token(
    store: &dyn OperationalStore,
    actor: &str,
    user: &str,
    scopes: &[String],
    expires: &str,
) -> anyhow::Result<NewToken> {
    let u = store
        .user(user)
        .await?
        .with_context(|| format!("no user '{user}': create it first with `zhiying user add`"))?;
    let allowed = permissions_of(&u.roles);
    let mut clean: Vec<String> = Vec::new();
    for s in scopes.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if s != zhiying_server::auth::ALL_SCOPES {
            let p = Permission::from_str(s).map_err(|e| anyhow::anyhow!("--scope: {e}"))?;
            if !allowed.contains(&p) {
                bail!(
                    "--scope {p}: user '{user}' (roles {}) does not have this permission, so a token cannot carry it",
                    role_list(&u.roles)
                );
            }
        }
        if !clean.iter().any(|c| c == s) {
            clean.push(s.to_string());
        }
    }
    if clean.is_empty() {
        bail!(
            "give at least one --scope (a permission name, or * for all of the user's permissions)"
        );
    }
    let expires_at = parse_lifetime(expires)?.map(|d| (chrono::Utc::now() + d).timestamp_micros());
    let token = password::new_api_token();
    let th = hash_token(&token);
    store.create_token(&th, user, &clean, expires_at).await?;
    store
        .append_audit(
            actor,
            "token.create",
            &format!("token:{}", token_id(&th)),
            &serde_json::json!({"user": user, "scopes": clean, "expires_at": expires_at}),
        )
        .await?;
    Ok(NewToken {
        token,
        id: token_id(&th),
        user: user.to_string(),
        scopes: clean,
        expires_at: expires_at.map(rfc3339),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_lifetime;

    #[test]
    fn lifetimes() {
        assert_eq!(
            parse_lifetime("30d").ok().flatten(),
            Some(chrono::Duration::days(30))
        );
        assert_eq!(
            parse_lifetime("12h").ok().flatten(),
            Some(chrono::Duration::hours(12))
        );
        assert_eq!(parse_lifetime("never").ok(), Some(None));
        assert!(
            parse_lifetime("30x").is_err()
                && parse_lifetime("d").is_err()
                && parse_lifetime("0d").is_err()
        );
    }
}
