# The two commands a newcomer needs: `make run` and `make test`.
.PHONY: run test bench build lint openapi deploy-check

# Builds and serves on the embedded default (SQLite + ./data) at http://127.0.0.1:8080.
run:
	cargo run -p sluice-server --bin sluice

# The Python tools the tests run beside Sluice, in a virtual environment of their own, made (and
# brought up to date) from tests/requirements.txt. SLUICE_TEST_VENV puts it elsewhere.
VENV ?= $(or $(SLUICE_TEST_VENV),.venv)

$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

# Every test: unit, store contract (SQLite and PostgreSQL), handler and end-to-end.
# PostgreSQL must answer on 127.0.0.1:5432 and MariaDB or MySQL on 127.0.0.1:3306
# (SLUICE_TEST_POSTGRES_URL and SLUICE_TEST_MYSQL_URL point elsewhere; deploy/compose.yaml starts
# both); tests/preflight.sh says in one line what is missing.
test: $(VENV)/.installed
	PATH="$(abspath $(VENV))/bin:$$PATH" bash tests/preflight.sh
	PATH="$(abspath $(VENV))/bin:$$PATH" cargo test --workspace --no-fail-fast

# Sluice against DuckDB on the same work; prints both times and their ratio.
bench:
	bash bench/run.sh

# Writes each version's OpenAPI document, as the binary serves it, to docs/openapi/.
openapi:
	SLUICE_WRITE_OPENAPI=1 cargo test -p sluice-api --test handlers -- each_version_serves_the_committed_document

build:
	cargo build --release -p sluice-server --bins

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

# The image and the infrastructure, checked offline: hadolint, the CDK app's tests, cdk synth with
# cdk-nag, cfn-lint and checkov (deploy/README.md).
deploy-check:
	bash deploy/check.sh
