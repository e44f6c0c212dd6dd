//! The desk's search: a person types a case number, a name or an ID number
//! as a page shows it (masked), and finds the tasks of their agency.

use onething_core::case::CaseView;

use crate::database::Database;
use crate::error::StoreError;
use crate::with_pool;

/// The cases with a task of this agency that a person's search finds: the
/// applicant's ID number as the summaries keep it (masked, as a person reads
/// it on a page), or any text of the form as the summary shows it (a name,
/// an address). A name is a form field whose name differs per bundle, so the
/// form's text values are searched rather than one column.
pub async fn agency_cases_by_applicant(
    database: &Database,
    agency: &str,
    text: &str,
) -> Result<Vec<String>, StoreError> {
    let text = text.trim();
    // Only what could be a masked ID number is looked for as one.
    let id_text = if text.chars().all(|c| c.is_ascii_alphanumeric() || c == '*') {
        text.to_string()
    } else {
        String::new()
    };
    // `%`, `_` and `\` are the pattern's own characters; escaped, a person's
    // text is matched as typed.
    let escaped: String = text
        .to_lowercase()
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let sql = database.sql(
        "SELECT DISTINCT t.case_id, s.summary FROM agency_tasks t JOIN case_summaries s ON s.case_id = t.case_id
         WHERE t.agency = $1 AND (s.applicant LIKE $2 OR lower(s.summary) LIKE $3 ESCAPE '\\')",
    );
    // `*` is the mask's own character, not a wildcard. No ID text: NULL,
    // which matches nothing.
    let id_pattern = (!id_text.is_empty()).then(|| format!("%{}%", id_text.to_ascii_uppercase()));
    let text_pattern = format!("%{escaped}%");
    let rows: Vec<(String, String)> = with_pool!(database, pool => {
        sqlx::query_as(&sql).bind(agency).bind(&id_pattern).bind(&text_pattern).fetch_all(pool).await?
    });
    let wanted = text.to_lowercase();
    Ok(rows
        .into_iter()
        .filter(|(_, summary)| {
            let Ok(view) = serde_json::from_str::<CaseView>(summary) else {
                return false;
            };
            let id_found = !id_text.is_empty()
                && view
                    .applicant
                    .as_deref()
                    .is_some_and(|id| id.contains(&id_text.to_ascii_uppercase()));
            // The summary's JSON matched; only a form value counts (not a key,
            // a step's name or a time).
            id_found
                || view
                    .form
                    .as_object()
                    .into_iter()
                    .flat_map(|form| form.values())
                    .filter_map(|value| value.as_str())
                    .any(|value| value.to_lowercase().contains(&wanted))
        })
        .map(|(id, _)| id)
        .collect())
}
