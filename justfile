# onething — common tasks. `just --list` shows them.

# Build and run onething with the shipped workflows on the embedded SQLite default.
run:
    scripts/run

# The whole test suite, on SQLite and PostgreSQL (starts PostgreSQL if needed).
test *ARGS:
    scripts/test {{ARGS}}

# Everything that must hold before a change lands.
verify:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    scripts/test

# Rewrite the expected-output files of data-driven tests after a deliberate change; review the diff.
update-expected:
    UPDATE_EXPECT=1 scripts/test
