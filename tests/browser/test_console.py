"""The console as people use it, through the pages only, in headless Chromium."""

import datetime
import io
import json
import pathlib
import re
import unicodedata

import pytest
from pypdf import PdfReader

from conftest import ROOT, shot, sign_in

MOTHER = "11010519491231002X"
HEAD = "440304198503151231"


def open_newborn(server, page, name="王小明", marriage_certificate="commitment", born_days_ago=2):
    """The clerk takes a newborn application; returns the case number.
    The marriage certificate is replaced by a commitment, or promised
    (容缺受理) to follow in three days."""
    page.goto(server.url + "/window")
    page.click("a[href='/window/newborn/apply']")
    birth = (datetime.date.today() - datetime.timedelta(days=born_days_ago)).isoformat()
    page.fill("[name='form.baby_name']", name)
    page.select_option("[name='form.baby_sex']", "male")
    page.fill("[name='form.birth_date']", birth)
    page.select_option("[name='form.born_in_province']", "true")
    page.fill("[name='form.mother_id']", MOTHER)
    page.fill("[name='form.household_head_id']", HEAD)
    page.fill("[name='form.address']", "某市某区幸福路1号")
    page.fill("[name='form.phone']", "13800138000")
    page.check(f"#material-marriage_certificate-{marriage_certificate}")
    if marriage_certificate == "promised":
        page.fill("#deadline-marriage_certificate",
                  (datetime.date.today() + datetime.timedelta(days=3)).isoformat())
    page.click("form.application button[type=submit]")
    page.wait_for_url(re.compile(r"/cases/[^/]+/notices/receipt$"))
    return page.url.split("/cases/")[1].split("/")[0]


# The CJK font's glyphs for these characters are shared with radicals, and
# the PDF's text maps them back to the radical: NFKC undoes the Kangxi
# radicals, this the simplified ones of the supplement block.
RADICALS = str.maketrans({
    "\u2ec5": "见", "\u2ec9": "贝", "\u2ecb": "车", "\u2ed3": "长", "\u2ed4": "门",
    "\u2eda": "页", "\u2edb": "风", "\u2edc": "飞", "\u2edd": "食", "\u2ee2": "马",
    "\u2ee3": "骨", "\u2ee5": "鱼", "\u2ee6": "鸟", "\u2ee8": "麦", "\u2ee9": "黄",
    "\u2eec": "齐", "\u2eee": "齿", "\u2ef0": "龙", "\u2ef3": "龟", "\u2ea0": "民",
})


def pdf_text(page):
    reader = PdfReader(io.BytesIO(page.pdf(format="A4")))
    text = "\n".join(p.extract_text() for p in reader.pages)
    return len(reader.pages), unicodedata.normalize("NFKC", text).translate(RADICALS)


def complete(page, server, case, step, outputs):
    page.goto(f"{server.url}/cases/{case}/steps/{step}")
    for name, value in outputs.items():
        page.fill(f"[name='outputs.{name}']", value)
    page.click(f"form[action='/cases/{case}/steps/{step}/complete'] button[type=submit]")


def test_a_newborn_case_from_the_window_through_three_agencies(browser, server):
    clerk = sign_in(browser, server, "zhang")
    assert clerk.url.endswith("/window")
    shot(clerk, "window-bundles")
    case = open_newborn(server, clerk, marriage_certificate="promised")
    assert "受理通知书" in clerk.inner_text("h1")
    shot(clerk, "receipt")
    code = clerk.locator(".query-code dd").first.inner_text().strip()
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}", code), code
    pages, text = pdf_text(clerk)
    assert pages <= 2
    assert "受理通知书" in text and case in text
    assert "承诺于" in text and "张窗口" in text
    assert "容缺受理" in text and "查询码" in text and code in text

    hospital = sign_in(browser, server, "li")
    assert hospital.url.endswith("/desk")
    row = hospital.locator(f"tr[data-case='{case}'][data-step='birth_certificate']")
    assert row.count() == 1
    shot(hospital, "desk")
    complete(hospital, server, case, "birth_certificate", {"certificate_number": "Q440012345"})
    hospital.wait_for_url(f"{server.url}/cases/{case}")

    police = sign_in(browser, server, "wang")
    police.goto(f"{server.url}/cases/{case}/steps/household_registration")
    shot(police, "task")
    police.fill("#items", "marriage_certificate")
    police.fill("#supplement-reason", "婚姻登记信息不一致")
    police.click(f"form[action='/cases/{case}/steps/household_registration/request-supplement'] button")
    police.wait_for_url(f"{server.url}/cases/{case}/notices/supplement")
    pages, text = pdf_text(police)
    assert pages <= 2
    assert "补正材料通知书" in text and "marriage_certificate" in text and "王警官" in text

    clerk.goto(f"{server.url}/cases/{case}")
    clerk.fill("#item-0", "结婚证已核验")
    clerk.click(f"form[action='/cases/{case}/supplement'] button")
    clerk.wait_for_url(f"{server.url}/cases/{case}")

    # A wrong output: every problem shown at once, nothing stored.
    police.goto(f"{server.url}/cases/{case}/steps/household_registration")
    police.fill("[name='outputs.child_id']", "12345")
    police.click(f"form[action='/cases/{case}/steps/household_registration/complete'] button")
    assert police.locator("#problems li").count() >= 1
    assert "outputs.child_id" in police.inner_text("#problems")
    shot(police, "task-problems")
    police.goto(f"{server.url}/cases/{case}")
    assert police.locator("g[data-step='household_registration'].state-active").count() == 1

    complete(police, server, case, "household_registration", {"child_id": "440304202611291230"})
    police.wait_for_url(f"{server.url}/cases/{case}")
    assert police.locator("g[data-step='household_registration'].state-completed").count() == 1
    assert police.locator("g[data-step='birth_certificate'].state-completed").count() == 1
    timeline = police.inner_text("#timeline")
    assert "police/王警官" in timeline and "hospital/李医生" in timeline and "window/张窗口" in timeline
    shot(police, "case")


def test_another_agencys_task_is_refused_and_never_listed(browser, server):
    clerk = sign_in(browser, server, "zhang")
    case = open_newborn(server, clerk, name="李小红")
    cdc = sign_in(browser, server, "chen")
    response = cdc.goto(f"{server.url}/cases/{case}/steps/birth_certificate")
    assert response.status == 403
    cdc.goto(server.url + "/desk")
    assert cdc.locator(f"tr[data-case='{case}'][data-step='birth_certificate']").count() == 0
    assert cdc.locator(f"tr[data-case='{case}'][data-step='vaccination_card']").count() == 1


def test_an_inbox_updates_live_when_another_agency_acts(browser, server):
    clerk = sign_in(browser, server, "zhang")
    case = open_newborn(server, clerk, name="赵小刚")
    insurance = sign_in(browser, server, "zhao")
    insurance.goto(server.url + "/desk")
    task = insurance.locator(f"tr[data-case='{case}'][data-step='medical_insurance']")
    assert task.count() == 0
    hospital = sign_in(browser, server, "li")
    complete(hospital, server, case, "birth_certificate", {"certificate_number": "Q440099999"})
    hospital.wait_for_url(f"{server.url}/cases/{case}")
    # No reload: the page's server-sent events bring the new task.
    task.wait_for(timeout=5000)
    assert task.count() == 1


def test_a_wrong_application_shows_every_problem_and_opens_nothing(browser, server):
    clerk = sign_in(browser, server, "zhang")
    clerk.goto(server.url + "/window/newborn/apply")
    clerk.fill("[name='form.mother_id']", "110105194912310021")
    clerk.click("form.application button[type=submit]")
    problems = clerk.inner_text("#problems")
    for field in ["form.baby_name", "form.mother_id", "form.household_head_id", "form.phone"]:
        assert field in problems
    assert clerk.locator(".field.has-problem").count() >= 4
    assert clerk.url.endswith("/window/newborn/apply")
    shot(clerk, "application-problems")


def test_a_failed_sign_in_is_throttled(browser, server):
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    for _ in range(3):
        page.goto(server.url + "/login")
        page.fill("#login", "gao")
        page.fill("#password", "wrong-password")
        page.click("form[action='/login'] button[type=submit]")
    page.goto(server.url + "/login")
    page.fill("#login", "gao")
    page.fill("#password", "password-gao-2026")
    page.click("form[action='/login'] button[type=submit]")
    assert "登录失败次数过多" in page.inner_text("main")


def test_the_newborn_flow_on_postgresql(browser, postgres_server):
    clerk = sign_in(browser, postgres_server, "zhang")
    case = open_newborn(postgres_server, clerk, marriage_certificate="promised")
    # The code, then the link to the progress page.
    assert clerk.locator(".query-code dd").count() == 2
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{4}(-[2-9A-HJ-NP-Z]{4}){2}", clerk.locator(".query-code dd").first.inner_text().strip())
    hospital = sign_in(browser, postgres_server, "li")
    complete(hospital, postgres_server, case, "birth_certificate", {"certificate_number": "Q440054321"})
    hospital.wait_for_url(f"{postgres_server.url}/cases/{case}")
    assert hospital.locator("g[data-step='birth_certificate'].state-completed").count() == 1
    assert "hospital/李医生" in hospital.inner_text("#timeline")


def test_a_home_transfer_through_the_joint_payment_per_payer_and_payee(browser, server):
    clerk = sign_in(browser, server, "zhang")
    clerk.goto(server.url + "/window/home-transfer/apply")
    values = {
        "seller_name": "李卖", "seller_id": "32010219620708461X", "seller_phone": "13900139000",
        "buyer_name": "张买", "buyer_id": "510107199302113459", "buyer_phone": "13700137000",
        "property_address": "某市某区和平路8号2单元301", "title_certificate_number": "某(2018)不动产权第0012345号",
        "price": "3000000", "area": "90", "seller_years_held": "3",
    }
    for name, value in values.items():
        clerk.fill(f"[name='form.{name}']", value)
    clerk.select_option("[name='form.buyer_first_home']", "true")
    clerk.select_option("[name='form.seller_only_home']", "false")
    clerk.select_option("[name='form.location']", "city")
    clerk.select_option("[name='form.delivery']", "self_print")
    clerk.check("input[name='opted_in'][value='water_transfer']")
    clerk.click("form.application button[type=submit]")
    clerk.wait_for_url(re.compile(r"/notices/receipt$"))
    case = clerk.url.split("/cases/")[1].split("/")[0]

    housing = sign_in(browser, server, "zhou")
    complete(housing, server, case, "online_contract", {"contract_number": "WQ-2026-000123"})
    housing.wait_for_url(f"{server.url}/cases/{case}")
    complete(housing, server, case, "transaction_check", {"check_number": "JY-2026-0456"})
    housing.wait_for_url(f"{server.url}/cases/{case}")
    registry = sign_in(browser, server, "wu")
    complete(registry, server, case, "registry_review", {"application_number": "BDC-2026-0789"})
    registry.wait_for_url(f"{server.url}/cases/{case}")
    tax = sign_in(browser, server, "qian")
    complete(tax, server, case, "tax_assessment", {"assessment_number": "HS-2026-1001", "assessed_price": "3000000"})
    tax.wait_for_url(f"{server.url}/cases/{case}")

    clerk.goto(f"{server.url}/cases/{case}")
    bills = clerk.locator("section.bill")
    assert bills.count() == 2
    text = clerk.inner_text("main")
    assert "缴费人：buyer" in text and "缴费人：seller" in text
    assert "契税" in text
    shot(clerk, "bills")
    for payer in ["buyer", "seller"]:
        clerk.fill(f"#receipt-{payer}", f"PJ-{payer}-0001")
        clerk.click(f"section.bill:has(#receipt-{payer}) button[type=submit]")
        clerk.wait_for_url(f"{server.url}/cases/{case}")
    assert clerk.locator("section.bill h3:has-text('已缴清')").count() == 2
    assert clerk.locator("g[data-step='joint_payment'].state-completed").count() == 1
    assert clerk.locator("g[data-step='register_entry'].state-active").count() == 1


PAGES = [
    ("zhang", "/login"),
    ("zhang", "/window"),
    ("zhang", "/window/newborn/guide"),
    ("zhang", "/window/newborn/apply"),
    ("zhang", "/cases"),
    ("zhang", "/desk"),
]


def serious(page):
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


def test_no_page_has_a_serious_accessibility_violation(browser, server):
    clerk = sign_in(browser, server, "zhang")
    case = open_newborn(server, clerk, name="钱小芳")
    found = {}
    anonymous = browser.new_context(locale="zh-CN").new_page()
    anonymous.goto(server.url + "/login")
    found["/login"] = serious(anonymous)
    for path in ["/window", "/window/newborn/guide", "/window/newborn/apply", "/cases", "/desk",
                 f"/cases/{case}", f"/cases/{case}/notices/receipt"]:
        clerk.goto(server.url + path)
        found[path] = serious(clerk)
    hospital = sign_in(browser, server, "li")
    for path in ["/desk", f"/cases/{case}/steps/birth_certificate"]:
        hospital.goto(server.url + path)
        found["hospital " + path] = serious(hospital)
    hospital.goto(f"{server.url}/cases/{case}/steps/birth_certificate")
    hospital.click(f"form[action='/cases/{case}/steps/birth_certificate/complete'] button")
    found["task with problems"] = serious(hospital)
    bad = {path: problems for path, problems in found.items() if problems}
    assert not bad, bad


def test_the_main_actions_work_with_the_keyboard_alone(browser, server):
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(server.url + "/login")
    page.focus("#login")
    page.keyboard.type("li")
    page.keyboard.press("Tab")
    page.keyboard.type("password-li-2026")
    page.keyboard.press("Enter")
    page.wait_for_url(server.url + "/desk")
    clerk = sign_in(browser, server, "zhang")
    case = open_newborn(server, clerk, name="孙小伟")
    page.goto(f"{server.url}/cases/{case}/steps/birth_certificate")
    page.focus("[name='outputs.certificate_number']")
    page.keyboard.type("Q440077777")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/cases/{case}")
    assert page.locator("g[data-step='birth_certificate'].state-completed").count() == 1


def test_a_restaurant_with_a_promised_material_an_extension_and_a_refusal_prints_each_notice(browser, server):
    clerk = sign_in(browser, server, "zhang")
    clerk.goto(server.url + "/window/restaurant/apply")
    for name, value in {
        "shop_name": "老街面馆", "operator_id": "440304198503151231", "phone": "13600136000",
        "premises_address": "某市某区老街12号", "floor_area": "86.5",
    }.items():
        clerk.fill(f"[name='form.{name}']", value)
    clerk.fill("[name='form.food_categories']", "hot_food\ncold_food")
    for name, value in {"has_business_licence": "false", "entity_type": "sole_trader",
                        "fire_commitment": "true", "wants_sign": "false", "kitchen_fumes": "true"}.items():
        clerk.select_option(f"[name='form.{name}']", value)
    clerk.check("#material-food_safety_rules-promised")
    clerk.fill("#deadline-food_safety_rules", (datetime.date.today() + datetime.timedelta(days=3)).isoformat())
    clerk.click("form.application button[type=submit]")
    clerk.wait_for_url(re.compile(r"/notices/receipt$"))
    case = clerk.url.split("/cases/")[1].split("/")[0]
    pages, text = pdf_text(clerk)
    assert pages <= 2 and "容缺受理" in text

    market = sign_in(browser, server, "ma")
    complete(market, server, case, "business_licence", {"credit_code": "91350100M000100Y43"})
    market.wait_for_url(f"{server.url}/cases/{case}")
    market.goto(f"{server.url}/cases/{case}/steps/food_licence")
    market.fill("#extend-reason", "现场核查需要补充检测")
    market.click(f"form[action='/cases/{case}/steps/food_licence/extend'] button")
    market.wait_for_url(f"{server.url}/cases/{case}")
    market.click(f"a[href='/cases/{case}/notices/extension']")
    pages, text = pdf_text(market)
    assert pages <= 2 and "延长期限告知书" in text and "5个工作日" in text and "马科长" in text

    market.goto(f"{server.url}/cases/{case}/steps/food_licence")
    market.fill("#refuse-reason", "经营场所与居民住宅共用通道，不符合《食品经营许可和备案管理办法》第十一条")
    market.click(f"form[action='/cases/{case}/steps/food_licence/refuse'] button")
    market.wait_for_url(f"{server.url}/cases/{case}/notices/refusal")
    pages, text = pdf_text(market)
    assert pages <= 2 and "不予许可决定书" in text and "行政复议" in text and "第十一条" in text
    market.goto(f"{server.url}/cases/{case}")
    assert market.locator("g[data-step='food_licence'].state-refused").count() == 1


def test_a_refused_application_prints_the_notice_of_refusal_to_accept(browser, server):
    clerk = sign_in(browser, server, "zhang")
    clerk.goto(server.url + "/window/newborn/apply")
    clerk.fill("[name='form.baby_name']", "周小安")
    clerk.fill("[name='form.mother_id']", "110105194912310021")
    clerk.click("form.application button[type=submit]")
    with clerk.context.expect_page() as opened:
        clerk.click("button[formaction='/window/newborn/refusal-notice']")
    notice = opened.value
    notice.wait_for_load_state()
    pages, text = pdf_text(notice)
    assert pages <= 2 and "不予受理通知书" in text and "周小安" in text and "form.mother_id" in text


def test_an_extension_asked_by_one_agency_is_decided_by_the_approving_one(browser, server):
    hotline = sign_in(browser, server, "lin")
    hotline.goto(server.url + "/window/hotline-12345/apply")
    hotline.select_option("[name='form.channel']", "phone")
    hotline.fill("[name='form.caller_phone']", "13300133000")
    hotline.fill("[name='form.content']", "小区门口商铺油烟扰民")
    hotline.fill("[name='form.location']", "某区花园路3号")
    hotline.click("form.application button[type=submit]")
    hotline.wait_for_url(re.compile(r"/notices/receipt$"))
    case = hotline.url.split("/cases/")[1].split("/")[0]
    hotline.goto(f"{server.url}/cases/{case}/steps/intake")
    hotline.select_option("[name='outputs.kind']", "complaint")
    hotline.select_option("[name='outputs.urgent']", "false")
    hotline.select_option("[name='outputs.direct_answer']", "false")
    hotline.click(f"form[action='/cases/{case}/steps/intake/complete'] button")
    hotline.wait_for_url(f"{server.url}/cases/{case}")
    # 派单: the hotline names the lead from the step's set.
    hotline.goto(f"{server.url}/cases/{case}/steps/handle")
    hotline.select_option("#dispatch-to", "market_regulation")
    hotline.click(f"form[action='/cases/{case}/steps/handle/dispatch'] button")
    hotline.wait_for_url(f"{server.url}/cases/{case}")

    market = sign_in(browser, server, "ma")
    market.goto(f"{server.url}/cases/{case}/steps/handle")
    market.fill("#extend-length", "3 working days")
    market.fill("#extend-reason", "需会同城管联合复查")
    market.click(f"form[action='/cases/{case}/steps/handle/extend'] button")
    market.wait_for_url(f"{server.url}/cases/{case}")

    hotline.goto(server.url + "/desk?tab=extension_requested")
    waiting = hotline.locator(f"tr[data-case='{case}'][data-step='handle']")
    assert waiting.count() == 1
    waiting.locator("a").click()
    hotline.fill("#decision-reason", "同意延期3个工作日")
    hotline.click("button[name='approve'][value='true']")
    hotline.wait_for_url(f"{server.url}/cases/{case}")
    hotline.click(f"a[href='/cases/{case}/notices/extension']")
    pages, text = pdf_text(hotline)
    assert "延长期限告知书" in text and "3个工作日" in text


def test_a_case_page_follows_another_agency_live_and_the_ended_case_prints_its_completion_notice(browser, server):
    clerk = sign_in(browser, server, "zhang")
    case = open_newborn(server, clerk, name="吴小满")
    clerk.goto(f"{server.url}/cases/{case}")
    birth = clerk.locator("g[data-step='birth_certificate'].state-completed")
    assert birth.count() == 0
    hospital = sign_in(browser, server, "li")
    complete(hospital, server, case, "birth_certificate", {"certificate_number": "Q440088888"})
    hospital.wait_for_url(f"{server.url}/cases/{case}")
    # The clerk's page was not reloaded: its server-sent events bring the change.
    birth.wait_for(timeout=5000)

    for login, step, outputs in [
        ("chen", "vaccination_card", {"card_number": "V-2026-0001"}),
        ("wang", "household_registration", {"child_id": "440304202611291230"}),
        ("zhao", "medical_insurance", {"insurance_number": "YB-2026-0001"}),
        ("sun", "social_security_card", {"card_number": "SB-2026-0001"}),
    ]:
        officer = sign_in(browser, server, login)
        complete(officer, server, case, step, outputs)
        officer.wait_for_url(f"{server.url}/cases/{case}")
    clerk.goto(f"{server.url}/cases/{case}")
    clerk.fill("#receipt-guardian", "PJ-2026-0001")
    clerk.click("section.bill:has(#receipt-guardian) button[type=submit]")
    clerk.wait_for_url(f"{server.url}/cases/{case}")
    assert "已办结" in clerk.inner_text("dl.facts")
    clerk.click(f"a[href='/cases/{case}/notices/completion']")
    pages, text = pdf_text(clerk)
    assert pages <= 2 and "办结通知书" in text and "出生医学证明" in text and "按时办结" in text


def test_the_guide_prints_with_every_material_and_step(browser, server):
    clerk = sign_in(browser, server, "zhang")
    clerk.goto(server.url + "/window")
    clerk.click("a[href='/window/newborn/guide']")
    pages, text = pdf_text(clerk)
    assert pages <= 2, pages
    for words in ["一次性告知书", "出生医学证明", "结婚证", "公安局", "承诺时限", "5个工作日", "¥400.00"]:
        assert words in text, words


def look_up(page, server, case, code):
    page.goto(server.url + "/track")
    page.fill("#case", case)
    page.fill("#code", code)
    page.click("form.track button[type=submit]")


def test_an_applicant_follows_the_case_on_a_phone_without_javascript_supplies_and_rates_it(browser, server):
    clerk = sign_in(browser, server, "zhang")
    case = open_newborn(server, clerk, name="孙小雨")
    code = clerk.locator(".query-code dd").first.inner_text().strip()
    phone = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844},
                                java_script_enabled=False, is_mobile=True).new_page()
    look_up(phone, server, case, code)
    progress = phone.inner_text("ol.progress")
    assert "正在办理" in progress and "出生医学证明签发" in progress
    for secret in [MOTHER, HEAD, "张窗口", "李医生"]:
        assert secret not in phone.content()
    shot(phone, "applicant-progress")

    # A wrong code tells nothing about the case.
    look_up(phone, server, case, "AAAA-BBBB-CCCC")
    assert "办件编号或查询码不正确" in phone.inner_text("main")
    assert phone.locator("ol.progress").count() == 0

    hospital = sign_in(browser, server, "li")
    complete(hospital, server, case, "birth_certificate", {"certificate_number": "Q440077777"})
    hospital.wait_for_url(f"{server.url}/cases/{case}")
    police = sign_in(browser, server, "wang")
    police.goto(f"{server.url}/cases/{case}/steps/household_registration")
    police.fill("#items", "结婚证编号")
    police.fill("#supplement-reason", "婚姻登记信息不一致")
    police.click(f"form[action='/cases/{case}/steps/household_registration/request-supplement'] button")
    police.wait_for_url(f"{server.url}/cases/{case}/notices/supplement")

    look_up(phone, server, case, code)
    assert "结婚证编号" in phone.inner_text("section.to-do")
    shot(phone, "applicant-supplement")
    phone.fill("#item-0", "J440304-2020-001")
    phone.click("section.to-do button[type=submit]")
    assert phone.locator("section.to-do").count() == 0
    assert "公安局正在办理出生登记（户口登记）" in phone.inner_text("ol.progress")
    police.goto(f"{server.url}/cases/{case}")
    assert "applicant" in police.inner_text("#timeline")

    for login, step, outputs in [
        ("chen", "vaccination_card", {"card_number": "V-2026-0002"}),
        ("wang", "household_registration", {"child_id": "440304202611291230"}),
        ("zhao", "medical_insurance", {"insurance_number": "YB-2026-0002"}),
        ("sun", "social_security_card", {"card_number": "SB-2026-0002"}),
    ]:
        officer = sign_in(browser, server, login)
        complete(officer, server, case, step, outputs)
        officer.wait_for_url(f"{server.url}/cases/{case}")
    look_up(phone, server, case, code)
    assert "缴纳费用" in phone.inner_text("main")
    clerk.goto(f"{server.url}/cases/{case}")
    clerk.fill("#receipt-guardian", "PJ-2026-0002")
    clerk.click("section.bill:has(#receipt-guardian) button[type=submit]")
    clerk.wait_for_url(f"{server.url}/cases/{case}")

    look_up(phone, server, case, code)
    assert "出生医学证明" in phone.inner_text("main")
    phone.check("input[name='score'][value='1']")
    phone.fill("#comment", "等待时间太长")
    phone.click("form.rating button[type=submit]")
    assert "您已评价：非常不满意" in phone.inner_text("main")
    assert phone.locator("form.rating").count() == 0
    shot(phone, "applicant-rated")

    # The bad rating's follow-up waits in the window's desk with its due
    # time; the clerk records it, and the case page says what was done.
    clerk.goto(f"{server.url}/desk?tab=follow_up")
    row = clerk.locator(f"tr[data-case='{case}'][data-step='follow_up']")
    assert row.count() == 1 and "差评回访整改" in row.inner_text()
    row.locator("a").click()
    clerk.fill("#follow-up-result", "已电话回访，致歉并说明办理进度")
    clerk.select_option("#follow-up-resolved", "true")
    clerk.click(f"form[action='/cases/{case}/follow-up'] button")
    clerk.wait_for_url(f"{server.url}/cases/{case}")
    assert "已电话回访" in clerk.inner_text("#follow-up")

    # The same pages with scripts, for axe and the phone's width.
    scripted = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}).new_page()
    scripted.goto(server.url + "/track")
    assert serious(scripted) == []
    look_up(scripted, server, case, code)
    assert serious(scripted) == []
    assert scripted.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_supervisor_sees_a_red_card_appear_live_issues_a_notice_and_the_agency_answers(browser, server):
    supervisor = sign_in(browser, server, "song")
    assert supervisor.url.endswith("/supervision")
    # A case taken ten days ago (the command line, dated by --now): the
    # server's next deadline check (every second) finds the hospital's step
    # overdue, and the page, not reloaded, shows the card.
    ten_days_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=10)
    form = json.loads((ROOT / "tests" / "data" / "forms" / "newborn.json").read_text())
    form["baby_name"] = "郑小红"
    form["birth_date"] = (ten_days_ago - datetime.timedelta(days=2)).date().isoformat()
    case = server.cli(["--now", ten_days_ago.isoformat(timespec="seconds"), "case", "open", "newborn",
                       "--form", json.dumps(form, ensure_ascii=False), "--as", "window/张窗口"]).strip().split()[-1]
    card = supervisor.locator(f"tr.mark-overdue[data-case='{case}'][data-step='birth_certificate']")
    card.wait_for(timeout=20000)
    assert "红牌" in card.inner_text() and "助产医疗机构" in card.inner_text()
    assert supervisor.locator("tr[data-agency='hospital']").count() == 1
    assert supervisor.locator("svg.chart").count() == 1
    shot(supervisor, "supervision")
    assert serious(supervisor) == []
    with supervisor.expect_download() as download:
        supervisor.click("a[href='/supervision.csv']")
    rows = pathlib.Path(download.value.path()).read_text().splitlines()
    assert rows[0] == "card,agency,case,workflow,step,due,state,person"
    assert any(row.startswith(f"red,hospital,{case},newborn,birth_certificate,") for row in rows)

    # 督办通知 on the card; the hospital answers it on its task page.
    card.locator("input[name='notice']").fill("出生医学证明签发已超期，请立即办理并反馈原因")
    card.locator("button[type=submit]").click()
    supervisor.wait_for_url(f"{server.url}/cases/{case}")
    hospital = sign_in(browser, server, "li")
    hospital.goto(f"{server.url}/desk?tab=supervised")
    row = hospital.locator(f"tr[data-case='{case}'][data-step='birth_certificate']")
    assert row.count() == 1 and "督办" in row.inner_text()
    hospital.goto(f"{server.url}/cases/{case}/steps/birth_certificate")
    assert "请立即办理并反馈原因" in hospital.inner_text("section.supervision")
    hospital.fill("#supervision-answer", "系统故障已修复，今日签发")
    hospital.click(f"form[action='/cases/{case}/steps/birth_certificate/answer-supervision'] button")
    hospital.wait_for_url(f"{server.url}/cases/{case}")
    timeline = hospital.inner_text("#timeline")
    assert "supervision/宋监察" in timeline and "督办通知" in timeline
    assert "hospital/李医生" in timeline and "督办反馈" in timeline and "今日签发" in timeline

def test_a_supervisor_sees_a_yellow_card_appear_live_and_then_the_officer_who_claims_it(browser, hours_server):
    server = hours_server
    supervisor = sign_in(browser, server, "song")
    assert supervisor.url.endswith("/supervision")
    # A case of the test-only `hours-check` bundle taken two hours ago: its
    # step is limited to 4 hours and warned 3 hours before, so an hour ago it
    # passed its warning point and it is due in two hours, whatever the day.
    # The server's next deadline check (every second) warns it, and the page,
    # not reloaded, shows a yellow card.
    two_hours_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=2)
    case = server.cli(["--now", two_hours_ago.isoformat(timespec="seconds"), "case", "open", "hours-check",
                       "--form", json.dumps({"patient": "孙小黄"}, ensure_ascii=False),
                       "--as", "window/张窗口"]).strip().split()[-1]
    card = supervisor.locator(f"tr.mark-warned[data-case='{case}'][data-step='review']")
    card.wait_for(timeout=20000)
    assert "黄牌" in card.inner_text() and "即将到期" in card.inner_text()
    assert supervisor.locator(f"tr.mark-overdue[data-case='{case}']").count() == 0
    assert card.locator("td.person").inner_text().strip() == ""

    # The hospital's officer claims the task on the desk (认领).
    hospital = sign_in(browser, server, "li")
    hospital.goto(f"{server.url}/desk")
    row = hospital.locator(f"tr[data-case='{case}'][data-step='review']")
    assert "未认领" in row.inner_text()
    row.locator(f"form[action='/cases/{case}/steps/review/claim'] button").click()
    hospital.wait_for_url(f"{server.url}/desk")
    row = hospital.locator(f"tr[data-case='{case}'][data-step='review']")
    assert row.locator(".claimed-by").inner_text() == "李医生"
    assert row.locator("form.claim").count() == 0
    hospital.goto(f"{server.url}/cases/{case}/steps/review")
    assert "承办人 李医生" in hospital.inner_text("p.meta")

    # The supervisor's page follows the claim live: the card names the person.
    supervisor.locator(f"tr.mark-warned[data-case='{case}'] td.person", has_text="李医生").wait_for(timeout=20000)
    with supervisor.expect_download() as download:
        supervisor.click("a[href='/supervision.csv']")
    rows = pathlib.Path(download.value.path()).read_text().splitlines()
    assert rows[0] == "card,agency,case,workflow,step,due,state,person"
    assert any(row.startswith(f"yellow,hospital,{case},hours-check,review,") and row.endswith(",active,李医生")
               for row in rows), rows
    # 督办通知 on the yellow card; the hospital answers on its task page.
    card = supervisor.locator(f"tr.mark-warned[data-case='{case}'][data-step='review']")
    card.locator("input[name='notice']").fill("复核即将到期，请按时办结")
    card.locator("button[type=submit]").click()
    supervisor.wait_for_url(f"{server.url}/cases/{case}")
    hospital.goto(f"{server.url}/cases/{case}/steps/review")
    assert "请按时办结" in hospital.inner_text("section.supervision")
    hospital.fill("#supervision-answer", "已安排专人今日办结")
    hospital.click(f"form[action='/cases/{case}/steps/review/answer-supervision'] button")
    hospital.wait_for_url(f"{server.url}/cases/{case}")
    timeline = hospital.inner_text("#timeline")
    assert "hospital/李医生" in timeline and "认领" in timeline
    assert "supervision/宋监察" in timeline and "督办通知" in timeline
    assert "督办反馈" in timeline and "今日办结" in timeline


def work_order_taken(hotline, server, content):
    """The hotline takes a call about a market matter; returns the case."""
    hotline.goto(server.url + "/window/hotline-12345/apply")
    hotline.select_option("[name='form.channel']", "phone")
    hotline.fill("[name='form.caller_phone']", "13300133001")
    hotline.fill("[name='form.content']", content)
    hotline.fill("[name='form.location']", "某区花园路5号")
    hotline.click("form.application button[type=submit]")
    hotline.wait_for_url(re.compile(r"/notices/receipt$"))
    case = hotline.url.split("/cases/")[1].split("/")[0]
    hotline.goto(f"{server.url}/cases/{case}/steps/intake")
    hotline.select_option("[name='outputs.kind']", "complaint")
    hotline.select_option("[name='outputs.urgent']", "false")
    hotline.select_option("[name='outputs.direct_answer']", "false")
    hotline.click(f"form[action='/cases/{case}/steps/intake/complete'] button")
    hotline.wait_for_url(f"{server.url}/cases/{case}")
    return case


def dispatch(hotline, server, case, lead, co_handlers=()):
    """派单: the hotline names the lead and the co-handlers of the work order."""
    hotline.goto(f"{server.url}/cases/{case}/steps/handle")
    hotline.select_option("#dispatch-to", lead)
    for agency in co_handlers:
        hotline.check(f"input[name='with'][value='{agency}']")
    act(hotline, server, case, "handle", "dispatch")


def act(page, server, case, step, action):
    page.click(f"form[action='/cases/{case}/steps/{step}/{action}'] button")
    page.wait_for_url(re.compile(rf"{re.escape(server.url)}/cases/{case}(/notices/\w+)?$"))


def give_back(page, server, case, step, to, reason):
    page.goto(f"{server.url}/cases/{case}/steps/{step}")
    page.select_option("#return-to", to)
    page.fill("#return-reason", reason)
    act(page, server, case, step, "return")


def test_a_12345_work_order_runs_its_closed_loop_through_the_pages(browser, server):
    hotline = sign_in(browser, server, "lin")
    case = work_order_taken(hotline, server, "商铺占道经营，多次反映未解决")
    # Dispatched to the sub-district office, which sends it back: not its function.
    dispatch(hotline, server, case, "subdistrict")
    subdistrict = sign_in(browser, server, "xu")
    assert subdistrict.locator(f"tr[data-case='{case}'][data-step='handle']").count() == 1
    subdistrict.goto(f"{server.url}/cases/{case}/steps/handle")
    subdistrict.fill("#send-back-reason", "占道经营属市场监管职责，非本单位职能")
    subdistrict.fill("#send-back-basis", "街道履职事项清单（占道经营由市场监管部门查处）")
    act(subdistrict, server, case, "handle", "send-back")
    # The hotline reviews the rejection and re-dispatches: market regulation
    # leads, the sub-district office co-handles the street part.
    dispatch(hotline, server, case, "market_regulation", ["subdistrict"])
    subdistrict.goto(f"{server.url}/cases/{case}/steps/handle")
    subdistrict.fill("#report-text", "已组织网格员现场劝导")
    act(subdistrict, server, case, "handle", "report")
    market = sign_in(browser, server, "ma")
    # Handling: an extension granted by the hotline, then the reply.
    market.goto(f"{server.url}/cases/{case}/steps/handle")
    market.fill("#extend-length", "3 working days")
    market.fill("#extend-reason", "需现场核查")
    act(market, server, case, "handle", "extend")
    hotline.goto(f"{server.url}/cases/{case}/steps/handle")
    hotline.fill("#decision-reason", "同意延期")
    hotline.click("button[name='approve'][value='true']")
    hotline.wait_for_url(re.compile(rf"{re.escape(server.url)}/cases/{case}(/notices/\w+)?$"))

    def reply(text, resolved):
        market.goto(f"{server.url}/cases/{case}/steps/handle")
        market.fill("[name='outputs.reply']", text)
        market.select_option("[name='outputs.resolved']", resolved)
        act(market, server, case, "handle", "complete")
        hotline.goto(f"{server.url}/cases/{case}/steps/review")
        act(hotline, server, case, "review", "complete")

    reply("已责令商户整改", "false")
    # The call-back: the caller is not satisfied, the order goes back for redo
    # (发回重办), and the hotline dispatches it again.
    give_back(hotline, server, case, "callback", "handle", "回访不满意：商铺仍占道")
    dispatch(hotline, server, case, "market_regulation")
    reply("已立案查处，商铺已退回店内经营", "true")
    hotline.goto(f"{server.url}/cases/{case}/steps/callback")
    hotline.select_option("[name='outputs.satisfied']", "true")
    act(hotline, server, case, "callback", "complete")
    hotline.goto(f"{server.url}/cases/{case}/steps/archive")
    act(hotline, server, case, "archive", "complete")
    hotline.goto(f"{server.url}/cases/{case}")
    assert "已办结" in hotline.inner_text("dl.facts")
    timeline = ""
    for number in range(1, 4):
        hotline.goto(f"{server.url}/cases/{case}?page={number}&order=oldest")
        timeline += hotline.inner_text("#timeline")
    for who in ["subdistrict/徐街道", "market_regulation/马科长", "hotline/林班长"]:
        assert who in timeline, who
    assert "非本单位职能" in timeline and "街道履职事项清单" in timeline and "回访不满意" in timeline
    assert "网格员现场劝导" in timeline
    shot(hotline, "hotline-closed")


def counted_from_histories(server, bundle):
    """A bundle's figures counted straight from each case's event history
    (the command line's `case history`), not from any read model."""
    from collections import Counter
    status, channel = Counter(), Counter()
    passes, returns_made = Counter(), Counter()
    dispatched, sent_back = Counter(), Counter()
    supplemented = returned = 0
    ids = [case["id"] for case in json.loads(server.cli(["case", "list", "--bundle", bundle, "--json"]))]
    for case in ids:
        changes = [entry["payload"]["change"] for entry in json.loads(server.cli(["case", "history", case, "--json"]))]
        agency_of = {seed["id"]: seed["agency"] for seed in changes[0]["steps"]}
        channel[changes[0]["channel"]] += 1
        ended = [change["outcome"] for change in changes if change["type"] == "case_ended"]
        status[ended[-1] if ended else "open"] += 1
        supplemented += any(change["type"] == "supplement_requested" for change in changes)
        returned += any(change["type"] == "step_returned" for change in changes)
        for change in changes:
            if change["type"] == "step_activated":
                passes[agency_of[change["step"]]] += 1
            if change["type"] == "step_returned":
                returns_made[(agency_of[change["step"]], change["step"])] += 1
            if change["type"] == "step_dispatched":
                dispatched[change["lead"]] += 1
            if change["type"] == "step_sent_back":
                sent_back[change["by"]] += 1
    return {"cases": len(ids), "status": status, "channel": channel, "supplemented": supplemented,
            "returned": returned, "passes": passes, "returns_made": returns_made,
            "dispatched": dispatched, "sent_back": sent_back}


def test_a_supervisor_reads_the_dashboard_and_its_figures_match_the_event_histories(browser, server):
    # Two more newborn cases, one withdrawn, beside whatever earlier tests left.
    form = json.loads((ROOT / "tests" / "data" / "forms" / "newborn.json").read_text())
    opened = [server.cli(["case", "open", "newborn", "--form", json.dumps(form, ensure_ascii=False),
                          "--as", "window/张窗口"]).strip().split()[-1] for _ in range(2)]
    server.cli(["case", "withdraw", opened[0], "--reason", "搬离本市", "--as", "window/张窗口"])
    supervisor = sign_in(browser, server, "song")
    supervisor.click("nav a[href='/dashboard']")
    supervisor.select_option("#workflow", "newborn")
    supervisor.click("form.filters button[type=submit]")
    supervisor.wait_for_url(re.compile(r"/dashboard\?workflow=newborn"))
    expected = counted_from_histories(server, "newborn")
    assert expected["cases"] > 0

    def figure(label):
        return supervisor.locator("table.figures tr", has=supervisor.locator(f"th:text-is('{label}')")).locator("td").inner_text()

    def percent(part, whole):
        return f"{part / whole * 100:.1f}%"

    assert figure("办件总数") == str(expected["cases"])
    assert figure("补正率") == percent(expected["supplemented"], expected["cases"])
    assert figure("退回率") == percent(expected["returned"], expected["cases"])
    for table in ("status", "channel"):
        shown = {row.get_attribute("data-key"): int(row.locator("td").nth(1).inner_text())
                 for row in supervisor.locator(f"table.{table} tbody tr").all()}
        assert shown == dict(expected[table]), table
    assert supervisor.locator("svg.chart").count() == 4
    shot(supervisor, "dashboard")
    assert serious(supervisor) == []
    with supervisor.expect_download() as download:
        supervisor.click("table.agencies caption a.csv")
    rows = pathlib.Path(download.value.path()).read_text().splitlines()
    assert rows[0].startswith("agency,steps,open,yellow,red,completed,completed_on_time")
    shown_passes = {row.split(",")[0]: int(row.split(",")[9]) for row in rows[1:]}
    assert shown_passes == dict(expected["passes"])

    # The 12345 desk's figures: the orders dispatched to each handling agency
    # and those it sent back (退单), as the histories say.
    supervisor.goto(server.url + "/dashboard?workflow=hotline-12345")
    hotline = counted_from_histories(server, "hotline-12345")
    assert sum(hotline["sent_back"].values()) > 0
    for row in supervisor.locator("table.hotline tbody tr").all():
        agency = row.get_attribute("data-agency")
        dispatches, rejections = hotline["dispatched"][agency], hotline["sent_back"][agency]
        assert row.locator("td").nth(1).inner_text() == str(dispatches), agency
        cell = row.locator("td").nth(2).inner_text()
        assert cell.endswith(f"({rejections}/{dispatches})"), (agency, cell)
    assert supervisor.locator("table.hotline tr[data-agency='subdistrict']").count() == 1
    shot(supervisor, "dashboard-12345")
    assert serious(supervisor) == []
