"""The browser tests' fixtures: a live `onething serve` (SQLite, and PostgreSQL
when ONETHING_TEST_POSTGRES is set) with console users made by the command
line, and headless Chromium from Debian driven by Playwright.

Run by scripts/browser-tests; screenshots go to target/browser-screenshots.
"""

import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid

import pytest
from playwright.sync_api import sync_playwright

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("ONETHING_BIN", str(ROOT / "target" / "release" / "onething"))
SHOTS = ROOT / "target" / "browser-screenshots"

# login, name, role, agency — every agency the flows act for.
PEOPLE = [
    ("zhang", "张窗口", "clerk", None),
    ("li", "李医生", "officer", "hospital"),
    ("chen", "陈医师", "officer", "cdc"),
    ("wang", "王警官", "officer", "police"),
    ("zhao", "赵科员", "officer", "medical_security"),
    ("qian", "钱专管员", "officer", "tax"),
    ("sun", "孙经办", "officer", "hrss"),
    ("zhou", "周房管", "officer", "housing"),
    ("wu", "吴登记", "officer", "real_estate"),
    ("ma", "马科长", "approver", "market_regulation"),
    ("lin", "林班长", "approver", "hotline"),
    # Locked out by the throttling test; no other test signs in as gao.
    ("gao", "高出纳", "officer", "hrss"),
    ("song", "宋监察", "supervisor", None),
    ("xu", "徐街道", "officer", "subdistrict"),
]


def password(login):
    return f"password-{login}-2026"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, database, work, workflows=ROOT / "workflows"):
        self.database = database
        self.work = work
        self.workflows = workflows
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = work / "onething.toml"
        config.write_text(
            f'bind = "127.0.0.1:{self.port}"\n'
            "deadline_check_seconds = 1\n"
            "checkpoint_seconds = 0\n"
            "console_max_failed_sign_ins = 3\n"
        )
        for login, name, role, agency in PEOPLE:
            self.cli(
                ["user", "add", login, "--name", name, "--role", role]
                + (["--agency", agency] if agency else []),
                stdin=password(login) + "\n",
            )
        self.log = open(work / "server.log", "w")
        self.process = subprocess.Popen(
            [BINARY, "--workflows", str(self.workflows), "--database", database,
             "serve", "--config", str(config)],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT,
        )
        for _ in range(200):
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the server did not start: " + (work / "server.log").read_text())

    def cli(self, arguments, stdin=None):
        done = subprocess.run(
            [BINARY, "--workflows", str(self.workflows), "--database", self.database] + arguments,
            input=stdin, capture_output=True, text=True, cwd=ROOT,
        )
        if done.returncode != 0:
            raise RuntimeError(f"onething {' '.join(arguments)}: {done.stderr}")
        return done.stdout

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)
        self.log.close()


@pytest.fixture(scope="session")
def work():
    folder = pathlib.Path(tempfile.mkdtemp(prefix="onething-browser-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def server(work):
    folder = work / "sqlite"
    folder.mkdir()
    running = Server(f"sqlite://{folder}/console.db", folder)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def hours_server(work):
    """A server of its own whose workflows are the shipped ones and the
    test-only `hours-check` bundle (tests/data/browser): a step limited in
    hours, so that a warning can be timed on any day."""
    workflows = work / "hours-workflows"
    shutil.copytree(ROOT / "workflows", workflows)
    shutil.copy(ROOT / "tests" / "data" / "browser" / "hours-check.toml", workflows)
    folder = work / "hours"
    folder.mkdir()
    running = Server(f"sqlite://{folder}/console.db", folder, workflows=workflows)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def postgres_server(work):
    url = os.environ.get("ONETHING_TEST_POSTGRES")
    if not url:
        pytest.fail("ONETHING_TEST_POSTGRES is not set: the PostgreSQL flow needs it (scripts/test sets it)")
    name = "onething_browser_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", url, "-qc", f"CREATE DATABASE {name}"], check=True)
    base = url.rsplit("/", 1)[0]
    folder = work / "postgres"
    folder.mkdir()
    running = Server(f"{base}/{name}", folder)
    yield running
    running.stop()
    subprocess.run(["psql", url, "-qc", f"DROP DATABASE {name} WITH (FORCE)"], check=False)


@pytest.fixture(scope="session")
def browser():
    # Playwright gives every launch a fresh, empty --user-data-dir of its
    # own (and refuses one passed in `args`); the other flags keep Chromium
    # from reaching the network by itself.
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield launched
        launched.close()


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(browser, server, login):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(server.url + "/login")
    page.fill("#login", login)
    page.fill("#password", password(login))
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page
