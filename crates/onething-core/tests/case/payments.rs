//! Payment steps: bills in whole fen, rounding, and who records which payment.

use onething_core::case::*;
use serde_json::json;

use crate::support::*;

#[test]
fn bills_are_computed_once_in_whole_fen_and_paying_completes_the_step() {
    // 1.5% of 200 000 fen = 3 000 fen; with the 8 000 fen fee, 11 000.
    let mut given = intake_done();
    given.push(complete("c-left", "a", "left", json!({}), local(3, 11)));
    let events = when(
        &given,
        complete("c-right", "b", "right", json!({}), local(3, 12)),
    )
    .unwrap();
    assert_eq!(
        events,
        [
            "step_completed right",
            "step_activated pay",
            "bills_issued pay buyer=11000(tax:3000,finance:8000)",
        ]
    );
    let mut given_bills = given.clone();
    given_bills.push(complete("c-right", "b", "right", json!({}), local(3, 12)));
    let pay = command(
        "p",
        agency("window"),
        local(3, 13),
        Action::Pay {
            payer: "buyer".into(),
            amount: 11_000,
            receipt: "R-1".into(),
        },
    );
    assert_eq!(
        when(&given_bills, pay).unwrap(),
        [
            "payment_received buyer 11000",
            "step_completed pay",
            "step_activated finish"
        ]
    );
}

#[test]
fn half_fen_amounts_round_half_up() {
    // 1.5% of 100 001 fen = 1 500.015 fen → 1 500; of 100 033 = 1 500.495 → 1 500;
    // of 100 034 = 1 500.51 → 1 501.
    for (price, tax) in [(100_001, 1500), (100_033, 1500), (100_034, 1501)] {
        let given = [
            open(price),
            complete(
                "c-intake",
                "a",
                "intake",
                json!({ "number": "N" }),
                local(3, 10),
            ),
            complete("c-left", "a", "left", json!({}), local(3, 11)),
        ];
        let events = when(
            &given,
            complete("c-right", "b", "right", json!({}), local(3, 12)),
        )
        .unwrap();
        assert_eq!(
            events[2],
            format!(
                "bills_issued pay buyer={}(tax:{tax},finance:8000)",
                tax + 8000
            )
        );
    }
}

#[test]
fn a_payment_must_match_the_bill_and_come_from_the_collector() {
    let mut given = intake_done();
    given.push(complete("c-left", "a", "left", json!({}), local(3, 11)));
    given.push(complete("c-right", "b", "right", json!({}), local(3, 12)));
    let pay = |by: &str, payer: &str, amount: i64, receipt: &str| {
        command(
            "p",
            agency(by),
            local(3, 13),
            Action::Pay {
                payer: payer.into(),
                amount,
                receipt: receipt.into(),
            },
        )
    };
    then_refused(
        &given,
        pay("tax", "buyer", 10_999, "R"),
        CaseError::WrongAmount {
            payer: "buyer".into(),
            expected: 11_000,
            given: 10_999,
        },
    );
    then_refused(
        &given,
        pay("tax", "seller", 11_000, "R"),
        CaseError::NoSuchBill {
            payer: "seller".into(),
        },
    );
    then_refused(
        &given,
        pay("tax", "buyer", 11_000, " "),
        CaseError::MissingReceipt,
    );
    then_refused(
        &given,
        pay("a", "buyer", 11_000, "R"),
        CaseError::Forbidden {
            actor: "a".into(),
            action: "record a payment".into(),
            reason: "payments for `pay` are recorded by `tax` or the window".into(),
        },
    );
    then_refused(
        &given,
        complete("c", "tax", "pay", json!({}), local(3, 13)),
        CaseError::PaymentStep { step: "pay".into() },
    );
}
