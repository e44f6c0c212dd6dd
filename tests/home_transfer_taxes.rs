//! The taxes and fee of the home-transfer bundle, recomputed to the fen from
//! the form of each `home-transfer-*` scenario by the rules of
//! `workflows/home-transfer.toml`, and compared with the bills of the
//! scenario's expected file and with the amounts the script pays. Also: a
//! buyer family's third or later home is refused at opening, never billed as
//! a second home.

use onething_tests::{onething, scenarios, shipped_workflows, test_data, TempFolder, TestDatabase};
use serde_json::{json, Value};

/// `num / den` rounded half up (四舍五入) to a whole fen; both non-negative.
fn half_up(num: i128, den: i128) -> i64 {
    assert!(num >= 0 && den > 0);
    i64::try_from((2 * num + den) / (2 * den)).unwrap()
}

fn money(form: &Value, name: &str) -> Option<i128> {
    form.get(name)
        .filter(|value| !value.is_null())
        .map(|value| i128::from(value.as_i64().unwrap()))
}

/// The bills of one application, item by item (English label, fen), buyer first.
fn bills(form: &Value) -> Vec<(&'static str, Vec<(&'static str, i64)>)> {
    let price = money(form, "price").unwrap();
    let area = form["area"].as_f64().unwrap();
    let first_home = form["buyer_first_home"].as_bool().unwrap();
    let years_held = form["seller_years_held"].as_i64().unwrap();
    let seller_only_home = form["seller_only_home"].as_bool().unwrap();
    let vat_due = years_held < 2;

    // 契税 — 财政部 税务总局 住房城乡建设部公告2024年第16号 第一条: the family's only home 1%
    // (≤140 m²) or 1.5% (>140 m²); its second home 1% (≤140 m²) or 2% (>140 m²). The base
    // is the price without VAT (财税〔2016〕43号 第一条): price ÷ 1.05 when the seller owes VAT.
    let permille = if area <= 140.0 {
        10
    } else if first_home {
        15
    } else {
        20
    };
    let deed_tax = half_up(price * permille, if vat_due { 1050 } else { 1000 });

    // 不动产登记费 — 发改价格规〔2016〕2559号: ¥80 per residential case with the first
    // certificate, ¥10 per extra certificate.
    let extra = form
        .get("extra_certificates")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .max(0);
    let fee = 8000 + 1000 * extra;

    // 增值税 — 财税〔2016〕36号 附件3 第五条, 公告2024年第17号: held under 2 years, 5% of
    // price ÷ 1.05; otherwise exempt.
    let vat = if vat_due { half_up(price * 5, 105) } else { 0 };

    // 城市维护建设税法 第四条: 7% (city), 5% (county seat or town), 1% (elsewhere) of the VAT
    // paid; 征收教育费附加的暂行规定: 3%; 财综〔2010〕98号 地方教育附加: 2%.
    let city_rate = match form["location"].as_str().unwrap() {
        "city" => 7,
        "county" => 5,
        _ => 1,
    };
    let city_tax = half_up(i128::from(vat) * city_rate, 100);
    let education = half_up(i128::from(vat) * 3, 100);
    let local_education = half_up(i128::from(vat) * 2, 100);

    // 个人所得税 — 财税字〔1999〕278号: exempt for the family's only home held 5+ years;
    // otherwise 国税发〔2006〕108号: 20% of the gain when the original price is known, else 1%
    // of the price.
    let income_tax = if seller_only_home && years_held >= 5 {
        0
    } else {
        match money(form, "original_price") {
            Some(original) => half_up((price - original).max(0), 5),
            None => half_up(price, 100),
        }
    };

    vec![
        (
            "buyer",
            vec![
                ("Deed tax", deed_tax),
                (
                    "Registration fee (residential, plus extra certificates)",
                    fee,
                ),
            ],
        ),
        (
            "seller",
            vec![
                ("Value-added tax", vat),
                ("City maintenance and construction tax", city_tax),
                ("Education surcharge", education),
                ("Local education surcharge", local_education),
                ("Individual income tax", income_tax),
            ],
        ),
    ]
}

#[test]
fn the_rounding_is_half_up_to_the_fen() {
    assert_eq!(half_up(5, 10), 1);
    assert_eq!(half_up(4, 10), 0);
    assert_eq!(half_up(15, 10), 2);
    assert_eq!(half_up(500_000_000 * 5, 105), 23_809_524);
}

#[test]
fn every_home_transfer_scenario_bills_the_taxes_computed_by_hand() {
    let scenarios: Vec<_> = scenarios()
        .into_iter()
        .filter(|scenario| scenario.name.starts_with("home-transfer-"))
        .collect();
    assert!(
        scenarios.len() >= 3,
        "the home-transfer scenarios are found"
    );
    let mut vat_cases = 0;
    for scenario in &scenarios {
        let commands = scenario.script["commands"].as_array().unwrap();
        let form = &commands[0]["form"];
        assert_eq!(commands[0]["run"][1], "open", "{}", scenario.name);
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(
                test_data()
                    .join("scenarios")
                    .join(format!("{}.expected.json", scenario.name)),
            )
            .unwrap(),
        )
        .unwrap();
        let payments = expected["payments"].as_array().unwrap();
        let computed = bills(form);
        assert_eq!(payments.len(), computed.len(), "{}", scenario.name);
        for (payer, items) in &computed {
            let bill = payments
                .iter()
                .find(|payment| payment["payer"] == *payer)
                .unwrap_or_else(|| panic!("{}: no bill for {payer}", scenario.name));
            let billed: Vec<(String, i64)> = bill["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| {
                    (
                        item["label"]["en"].as_str().unwrap().to_string(),
                        item["amount"].as_i64().unwrap(),
                    )
                })
                .collect();
            let wanted: Vec<(String, i64)> = items
                .iter()
                .map(|(label, amount)| (label.to_string(), *amount))
                .collect();
            assert_eq!(billed, wanted, "{}: the items of {payer}", scenario.name);
            let total: i64 = items.iter().map(|(_, amount)| amount).sum();
            assert_eq!(bill["total"], total, "{}: {payer}'s total", scenario.name);
            assert_eq!(
                scenario.script["expect"]["bills"][payer], total,
                "{}: the scenario's expected bill of {payer}",
                scenario.name
            );
            let paid: Vec<i64> = commands
                .iter()
                .filter(|command| {
                    command["run"][1] == "pay"
                        && command["run"]
                            .as_array()
                            .unwrap()
                            .windows(2)
                            .any(|pair| pair[0] == "--payer" && pair[1] == *payer)
                })
                .map(|command| {
                    let run = command["run"].as_array().unwrap();
                    let at = run.iter().position(|arg| arg == "--amount").unwrap();
                    run[at + 1].as_str().unwrap().parse().unwrap()
                })
                .collect();
            // The script pays exactly the computed total; a bill of nothing is settled
            // without a payment.
            let wanted_payments = if total > 0 { vec![total] } else { vec![] };
            assert_eq!(paid, wanted_payments, "{}: {payer} pays", scenario.name);
        }
        if form["seller_years_held"].as_i64().unwrap() < 2 {
            vat_cases += 1;
        }
    }
    assert!(
        vat_cases >= 1 && vat_cases < scenarios.len(),
        "the scenarios cover a seller who owes VAT and one who does not"
    );
}

/// A second-home application of 150 m² with `changes`.
fn application(changes: Value) -> Value {
    let mut form = json!({
        "seller_name": "李卖", "seller_id": "32010219620708461X", "seller_phone": "13900139000",
        "buyer_name": "张买", "buyer_id": "510107199302113459", "buyer_phone": "13700137000",
        "property_address": "某市某区和平路8号2单元301", "title_certificate_number": "某(2018)不动产权第0012345号",
        "price": 500000000, "area": 150.0, "buyer_first_home": false, "buyer_homes_owned": 1,
        "seller_years_held": 1, "seller_only_home": false, "location": "city", "delivery": "self_print"
    });
    for (key, value) in changes.as_object().unwrap() {
        if value.is_null() {
            form.as_object_mut().unwrap().remove(key);
        } else {
            form[key] = value.clone();
        }
    }
    form
}

/// Opens a home transfer on a fresh database; the run of the command line.
fn open(form: &Value, name: &str) -> onething_tests::Run {
    let scratch = TempFolder::new("home-transfer-taxes");
    let database = TestDatabase::sqlite();
    let path = scratch.path.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string(form).unwrap()).unwrap();
    let workflows = shipped_workflows();
    onething(&[
        "--workflows",
        workflows.to_str().unwrap(),
        "--database",
        &database.url,
        "--now",
        "2025-07-01T09:00:00+08:00",
        "case",
        "open",
        "home-transfer",
        "--as",
        "window/clerk-02",
        "--form",
        path.to_str().unwrap(),
        "--command-id",
        name,
    ])
}

#[test]
fn a_third_home_is_refused_at_opening_and_never_billed_as_a_second_home() {
    let second = open(&application(json!({})), "second");
    assert_eq!(second.code, 0, "{}", second.stderr);

    let third = open(&application(json!({"buyer_homes_owned": 2})), "third");
    assert_ne!(third.code, 0, "a third home opens no case");
    assert!(
        third.stderr.contains("checks.third_home_deed_tax_is_local"),
        "{}",
        third.stderr
    );
    assert!(third.stderr.contains("契税法第三条"), "{}", third.stderr);
    assert!(
        third.stderr.contains("the application has 1 problem(s)"),
        "{}",
        third.stderr
    );

    let fifth = open(&application(json!({"buyer_homes_owned": 4})), "fifth");
    assert!(
        fifth.stderr.contains("checks.third_home_deed_tax_is_local"),
        "{}",
        fifth.stderr
    );
}

#[test]
fn the_number_of_homes_is_required_unless_the_home_is_the_familys_only_one() {
    let missing = open(&application(json!({"buyer_homes_owned": null})), "missing");
    assert_ne!(missing.code, 0);
    assert!(
        missing
            .stderr
            .contains("form.buyer_homes_owned: is required (when `!form.buyer_first_home`)"),
        "{}",
        missing.stderr
    );

    let only = open(
        &application(json!({"buyer_first_home": true, "buyer_homes_owned": null})),
        "only",
    );
    assert_eq!(only.code, 0, "{}", only.stderr);

    let only_owning_two = open(
        &application(json!({"buyer_first_home": true, "buyer_homes_owned": 2})),
        "only-owning-two",
    );
    assert!(
        only_owning_two
            .stderr
            .contains("checks.only_home_owns_none"),
        "{}",
        only_owning_two.stderr
    );

    let second_owning_none = open(&application(json!({"buyer_homes_owned": 0})), "none");
    assert!(
        second_owning_none
            .stderr
            .contains("checks.second_home_owns_one"),
        "{}",
        second_owning_none.stderr
    );
}
