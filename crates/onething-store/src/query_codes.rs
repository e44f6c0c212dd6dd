//! The query code (查询码) printed on a case's receipt: with the case number
//! it lets the applicant follow the case without an account. Twelve
//! characters from an alphabet without look-alikes (no 0/O, 1/I), 60 random
//! bits: too many to guess behind a throttle. Made once per case, the first
//! time a receipt is printed, and kept beside the history (not in an event),
//! since it is a credential and the history is exported to auditors.

use chrono::{DateTime, Utc};

use crate::database::Database;
use crate::error::StoreError;
use crate::time::stamp;
use crate::with_pool;

const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
const LENGTH: usize = 12;

/// The case's query code, made now if it has none yet, as printed:
/// `ABCD-EFGH-JKLM`.
pub async fn code_for(
    database: &Database,
    case_id: &str,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let insert = database.sql(
        "INSERT INTO query_codes (case_id, code, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (case_id) DO NOTHING",
    );
    let select = database.sql("SELECT code FROM query_codes WHERE case_id = $1");
    let code: (String,) = with_pool!(database, pool => {
        // Two receipts printed at once both insert; the first wins and both
        // read it back.
        sqlx::query(&insert).bind(case_id).bind(new_code()).bind(stamp(now)).execute(pool).await?;
        sqlx::query_as(&select).bind(case_id).fetch_one(pool).await?
    });
    Ok(printed(&code.0))
}

/// Whether `given` is the case's query code, as a person types it: any
/// case, with or without the dashes and spaces. False for a case with no
/// code, so a wrong number and a wrong code answer alike.
pub async fn matches(database: &Database, case_id: &str, given: &str) -> Result<bool, StoreError> {
    let select = database.sql("SELECT code FROM query_codes WHERE case_id = $1");
    let stored: Option<(String,)> = with_pool!(database, pool => {
        sqlx::query_as(&select).bind(case_id).fetch_optional(pool).await?
    });
    let given = normalized(given);
    Ok(stored.is_some_and(|(code,)| {
        let code = code.as_bytes();
        code.len() == given.len()
            && code
                .iter()
                .zip(given.as_bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }))
}

fn new_code() -> String {
    let random = uuid::Uuid::new_v4().as_u128();
    (0..LENGTH)
        .map(|i| ALPHABET[((random >> (5 * i)) & 31) as usize] as char)
        .collect()
}

fn normalized(given: &str) -> String {
    given
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn printed(code: &str) -> String {
    code.as_bytes()
        .chunks(4)
        .map(|chunk| std::str::from_utf8(chunk).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_twelve_characters_without_look_alikes_printed_in_fours() {
        let code = new_code();
        assert_eq!(code.len(), LENGTH);
        assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
        assert!(!code.contains(['0', 'O', '1', 'I']), "{code}");
        let shown = printed(&code);
        assert_eq!(shown.len(), 14);
        assert_eq!(shown.matches('-').count(), 2);
        assert_eq!(normalized(&shown.to_lowercase()), code);
    }

    #[test]
    fn codes_differ() {
        let codes: std::collections::HashSet<String> = (0..1000).map(|_| new_code()).collect();
        assert_eq!(codes.len(), 1000);
    }

    #[tokio::test]
    async fn a_case_keeps_its_first_code_and_only_that_code_matches() {
        let database = Database::open("sqlite::memory:").await.unwrap();
        let now = Utc::now();
        let first = code_for(&database, "case-1", now).await.unwrap();
        assert_eq!(code_for(&database, "case-1", now).await.unwrap(), first);
        assert_ne!(code_for(&database, "case-2", now).await.unwrap(), first);
        assert!(matches(&database, "case-1", &first).await.unwrap());
        assert!(
            matches(&database, "case-1", &first.replace('-', " ").to_lowercase())
                .await
                .unwrap()
        );
        assert!(!matches(&database, "case-2", &first).await.unwrap());
        assert!(!matches(&database, "case-3", &first).await.unwrap());
        assert!(!matches(&database, "case-1", "").await.unwrap());
    }
}
