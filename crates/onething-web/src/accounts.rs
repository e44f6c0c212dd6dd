//! Console users: their roles, mapped onto the API's roles so that one set
//! of rules decides what anyone may see and do, and their passwords, kept
//! only as argon2 hashes.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use onething_server::{Client, Role};
use onething_store::console_users::{self, ConsoleUser};
use onething_store::{Database, StoreError};

/// What a person does at the administration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleRole {
    /// At the comprehensive window (综合窗口): opens cases, records supplements and payments.
    Clerk,
    /// At an agency: works the agency's own steps.
    Officer,
    /// A section head (科室负责人): an officer who also decides extensions.
    Approver,
    /// Electronic supervision (电子监察): reads every case, changes none.
    Supervisor,
    /// Manages the console; sees ID numbers masked.
    Admin,
}

impl ConsoleRole {
    pub const ALL: [ConsoleRole; 5] = [
        ConsoleRole::Clerk,
        ConsoleRole::Officer,
        ConsoleRole::Approver,
        ConsoleRole::Supervisor,
        ConsoleRole::Admin,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ConsoleRole::Clerk => "clerk",
            ConsoleRole::Officer => "officer",
            ConsoleRole::Approver => "approver",
            ConsoleRole::Supervisor => "supervisor",
            ConsoleRole::Admin => "admin",
        }
    }

    pub fn parse(name: &str) -> Option<ConsoleRole> {
        ConsoleRole::ALL
            .into_iter()
            .find(|role| role.name() == name)
    }

    /// The API role whose permissions this role has: the console asks the
    /// same [`onething_server::auth::Permission`]s as the API.
    pub fn api_role(self) -> Role {
        match self {
            ConsoleRole::Clerk => Role::Window,
            ConsoleRole::Officer | ConsoleRole::Approver => Role::Agency,
            ConsoleRole::Supervisor => Role::Auditor,
            ConsoleRole::Admin => Role::Admin,
        }
    }

    /// Whether the role acts for an agency named on the user.
    pub fn needs_agency(self) -> bool {
        matches!(self, ConsoleRole::Officer | ConsoleRole::Approver)
    }
}

/// The API client a person counts as: their role's permissions, their agency.
pub fn client_of(user: &ConsoleUser) -> Client {
    let role = ConsoleRole::parse(&user.role).unwrap_or(ConsoleRole::Supervisor);
    Client {
        id: format!("console:{}", user.login),
        role: role.api_role(),
        agency: match role {
            ConsoleRole::Clerk => Some("window".into()),
            ConsoleRole::Officer | ConsoleRole::Approver => Some(user.agency.clone()),
            ConsoleRole::Supervisor | ConsoleRole::Admin => None,
        },
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("the user has problems: {}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("a user `{0}` exists already")]
    Exists(String),
    #[error("no user `{0}`")]
    Unknown(String),
    #[error("the password could not be hashed: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn hash_password(password: &str) -> Result<String, AccountError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| AccountError::Hash(error.to_string()))
}

/// Whether `password` is the one hashed in `hash` (false for a malformed hash).
pub fn password_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// The least a password may be.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// A new user to add, checked all at once.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub login: String,
    pub name: String,
    pub agency: Option<String>,
    pub role: String,
    pub password: String,
    pub language: String,
}

/// Checks and adds a user; `known_agencies` are those of `agencies.toml`.
pub async fn add_user(
    database: &Database,
    user: NewUser,
    known_agencies: &[String],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ConsoleUser, AccountError> {
    let mut problems = Vec::new();
    let login_ok = !user.login.is_empty()
        && user.login.len() <= 64
        && user
            .login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !login_ok {
        problems.push(format!(
            "login `{}`: 1 to 64 letters, digits, `-`, `_` or `.`",
            user.login
        ));
    }
    if user.name.trim().is_empty() {
        problems.push("name: must not be empty".into());
    }
    let role = ConsoleRole::parse(&user.role);
    let agency = match role {
        None => {
            problems.push(format!(
                "role `{}`: one of {}",
                user.role,
                ConsoleRole::ALL.map(ConsoleRole::name).join(", ")
            ));
            String::new()
        }
        Some(ConsoleRole::Clerk) => "window".to_string(),
        Some(role) if role.needs_agency() => match &user.agency {
            Some(agency) if known_agencies.contains(agency) => agency.clone(),
            Some(agency) => {
                problems.push(format!(
                    "agency `{agency}`: not in agencies.toml (known: {})",
                    known_agencies.join(", ")
                ));
                String::new()
            }
            None => {
                problems.push(format!(
                    "agency: a {} acts for an agency; name it",
                    user.role
                ));
                String::new()
            }
        },
        Some(_) => user.agency.clone().unwrap_or_default(),
    };
    if user.password.chars().count() < MIN_PASSWORD_CHARS {
        problems.push(format!(
            "password: at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if !["zh", "en"].contains(&user.language.as_str()) {
        problems.push(format!("language `{}`: zh or en", user.language));
    }
    if !problems.is_empty() {
        return Err(AccountError::Invalid(problems));
    }
    let stored = ConsoleUser {
        login: user.login.clone(),
        name: user.name.trim().to_string(),
        agency,
        role: user.role,
        password_hash: hash_password(&user.password)?,
        language: user.language,
        disabled: false,
    };
    if !console_users::add(database, &stored, now).await? {
        return Err(AccountError::Exists(user.login));
    }
    Ok(stored)
}

pub async fn reset_password(
    database: &Database,
    login: &str,
    password: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AccountError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccountError::Invalid(vec![format!(
            "password: at least {MIN_PASSWORD_CHARS} characters"
        )]));
    }
    let hash = hash_password(password)?;
    if console_users::set_password_hash(database, login, &hash, now).await? {
        Ok(())
    } else {
        Err(AccountError::Unknown(login.to_string()))
    }
}

/// A random password people can type: 20 characters of letters and digits.
pub fn random_password() -> String {
    let alphabet: Vec<char> = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        .chars()
        .collect();
    let mut bytes = Vec::new();
    while bytes.len() < 20 {
        bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    bytes
        .iter()
        .take(20)
        .map(|byte| alphabet[usize::from(*byte) % alphabet.len()])
        .collect()
}

/// On a store without any user: adds `admin` with a random password and
/// returns it, to be printed once. `None` when users exist.
pub async fn first_admin(
    database: &Database,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<String>, AccountError> {
    if console_users::count(database).await? > 0 {
        return Ok(None);
    }
    let password = random_password();
    let user = NewUser {
        login: "admin".into(),
        name: "admin".into(),
        agency: None,
        role: "admin".into(),
        password: password.clone(),
        language: "zh".into(),
    };
    match add_user(database, user, &[], now).await {
        Ok(_) => Ok(Some(password)),
        // Another server added it first: its start printed the password.
        Err(AccountError::Exists(_)) => Ok(None),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_matches_its_hash_only() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(password_matches("correct horse battery", &hash));
        assert!(!password_matches("correct horse batterz", &hash));
        assert!(!password_matches("correct horse battery", "not a hash"));
    }

    #[test]
    fn each_console_role_has_the_api_role_of_its_work() {
        assert_eq!(ConsoleRole::Clerk.api_role(), Role::Window);
        assert_eq!(ConsoleRole::Officer.api_role(), Role::Agency);
        assert_eq!(ConsoleRole::Approver.api_role(), Role::Agency);
        assert_eq!(ConsoleRole::Supervisor.api_role(), Role::Auditor);
        assert_eq!(ConsoleRole::Admin.api_role(), Role::Admin);
    }
}
