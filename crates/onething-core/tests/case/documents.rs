//! Attaching a scanned document: by the window or an agency at work on the
//! case, every problem of the document at once.

use onething_core::case::*;

use crate::support::*;

fn scan(material: Option<&str>, media_type: &str, size: u64) -> DocumentRecord {
    DocumentRecord {
        material: material.map(str::to_string),
        name: "contract-scan.pdf".into(),
        media_type: media_type.into(),
        sha256: "ab".repeat(32),
        size,
    }
}

fn attach(id: &str, actor: Actor, document: DocumentRecord) -> CaseCommand {
    command(id, actor, local(3, 12), Action::AttachDocument { document })
}

fn window() -> Actor {
    Actor::Agency {
        agency: "window".into(),
        operator: Some("clerk".into()),
    }
}

#[test]
fn the_window_attaches_a_scan_of_a_material() {
    let given = vec![open(200_000)];
    assert_eq!(
        when(
            &given,
            attach(
                "d1",
                window(),
                scan(Some("contract"), "application/pdf", 2048)
            )
        )
        .unwrap(),
        ["document_attached contract application/pdf 2048 abababab"]
    );
    let mut attached = given.clone();
    attached.push(attach(
        "d1",
        window(),
        scan(Some("contract"), "application/pdf", 2048),
    ));
    let file = state(&history(&attached));
    assert_eq!(file.documents.len(), 1);
    assert_eq!(file.documents[0].sha256, "ab".repeat(32));
}

#[test]
fn an_agency_at_work_on_the_case_attaches_and_one_that_is_not_is_refused() {
    let given = vec![open(200_000)];
    // `a` owns the first step, under way; `b`'s steps wait.
    assert_eq!(
        when(
            &given,
            attach("d1", agency("a"), scan(None, "image/png", 10))
        )
        .unwrap(),
        ["document_attached - image/png 10 abababab"]
    );
    then_refused(
        &given,
        attach("d2", agency("b"), scan(None, "image/png", 10)),
        CaseError::Forbidden {
            actor: "b".into(),
            action: "attach_document".into(),
            reason: "documents are attached by the window or by an agency whose step is under way"
                .into(),
        },
    );
}

#[test]
fn every_problem_of_a_document_is_told_at_once() {
    let given = vec![open(200_000)];
    let mut wrong = scan(Some("passport"), "text/plain", 0);
    wrong.name = String::new();
    wrong.sha256 = "XYZ".into();
    then_refused(
        &given,
        attach("d1", window(), wrong),
        CaseError::InvalidDocument {
            problems: vec![
                problem("document.name", "must have 1 to 200 characters"),
                problem("document.media_type", "`text/plain` is not accepted (accepted: application/pdf, image/jpeg, image/png)"),
                problem("document.sha256", "must be 64 lower-case hexadecimal digits"),
                problem("document.size", "0 bytes: a document has 1 to 10485760 bytes"),
                problem("document.material", "`passport` is not a material of this bundle (known: contract, permit, idcard)"),
            ],
        },
    );
    then_refused(
        &[],
        attach("d1", window(), scan(None, "image/png", 10)),
        CaseError::NotOpened,
    );
}

fn problem(field: &str, message: &str) -> onething_core::value_type::ValueProblem {
    onething_core::value_type::ValueProblem {
        field: field.into(),
        message: message.into(),
    }
}
