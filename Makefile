# The two commands a newcomer needs: `make run` and `make test`.
.PHONY: run test bench build lint openapi client client-check deploy-check

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

# The OpenAPI tools (Redocly's linter, openapi-typescript) and the /v2 client generated with them,
# installed from clients/typescript's lock file.
CLIENT = clients/typescript

$(CLIENT)/node_modules/.installed: $(CLIENT)/package-lock.json
	@command -v npm >/dev/null || { echo "make: Node.js 20 or later, with npm, is missing (the /v2 client and the OpenAPI linter run on it)" >&2; exit 1; }
	cd $(CLIENT) && npm ci --no-audit --no-fund --silent
	touch $@

# The generated client, checked against the committed document (a stale one fails), type-checked
# and compiled: the end-to-end tests run its walkthrough against the binary.
client-check: $(CLIENT)/node_modules/.installed
	@cd $(CLIENT) && npx --no-install openapi-typescript ../../docs/openapi/v2.json --default-non-nullable=false --output src/v2.d.ts --check >/dev/null 2>&1 \
		|| { echo "clients/typescript/src/v2.d.ts is older than docs/openapi/v2.json: run make client" >&2; exit 1; }
	cd $(CLIENT) && npx --no-install tsc

# Every test: unit, the port contracts (the fakes, SQLite, PostgreSQL, the metadata adapters),
# handler and end-to-end.
# PostgreSQL must answer on 127.0.0.1:5432 and MariaDB or MySQL on 127.0.0.1:3306
# (SLUICE_TEST_POSTGRES_URL and SLUICE_TEST_MYSQL_URL point elsewhere; deploy/compose.yaml starts
# both); tests/preflight.sh says in one line what is missing.
test: $(VENV)/.installed client-check
	PATH="$(abspath $(VENV))/bin:$$PATH" bash tests/preflight.sh
	PATH="$(abspath $(VENV))/bin:$$PATH" cargo test --workspace --no-fail-fast

# Sluice against DuckDB on the same work; prints both times and their ratio.
bench:
	bash bench/run.sh

# Writes each version's OpenAPI document, as the binary serves it, to docs/openapi/, and the /v2
# client generated from it.
openapi:
	SLUICE_WRITE_OPENAPI=1 cargo test -p sluice-api --test handlers -- each_version_serves_the_committed_document
	$(MAKE) client

# Regenerates the /v2 client (clients/typescript/src/v2.d.ts) from the committed document.
client: $(CLIENT)/node_modules/.installed
	cd $(CLIENT) && npx --no-install openapi-typescript ../../docs/openapi/v2.json --default-non-nullable=false --output src/v2.d.ts

build:
	cargo build --release -p sluice-server --bins

# Formatting, clippy, and both OpenAPI documents through a 3.1 validator and Redocly's linter
# (clients/typescript/redocly.yaml says why each rule switched off is).
lint: $(VENV)/.installed $(CLIENT)/node_modules/.installed
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(VENV)/bin/openapi-spec-validator docs/openapi/v1.json docs/openapi/v2.json
	cd $(CLIENT) && npx --no-install redocly lint --config redocly.yaml ../../docs/openapi/v1.json ../../docs/openapi/v2.json

# The image and the infrastructure, checked offline: hadolint, the CDK app's tests, cdk synth with
# cdk-nag, cfn-lint and checkov (deploy/README.md).
deploy-check:
	bash deploy/check.sh
