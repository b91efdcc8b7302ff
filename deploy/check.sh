#!/usr/bin/env bash
# `make deploy-check`: every offline check of deploy/. hadolint on the Dockerfile; the CDK app's
# assertion tests; `cdk synth` with cdk-nag's AWS Solutions rules (a finding not acknowledged
# with its reason fails it); cfn-lint and checkov on the synthesized template.
set -euo pipefail
cd "$(dirname "$0")"

# The Python checkers in a venv of their own (checkov pins much of what the tests' tools need).
venv="${SLUICE_DEPLOY_VENV:-/var/tmp/sluice-deploy-venv}"
[ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt

echo "== hadolint deploy/Dockerfile"
"$venv/bin/hadolint" Dockerfile

cd cdk
npm ci --no-audit --no-fund --loglevel=error
echo "== CDK assertion tests"
npm test --silent
echo "== cdk synth, with cdk-nag's AWS Solutions rules"
npx cdk synth --quiet
echo "== cfn-lint"
"$venv/bin/cfn-lint" --config-file ../.cfnlintrc cdk.out/Sluice.template.json
echo "== checkov"
"$venv/bin/checkov" -f cdk.out/Sluice.template.json --framework cloudformation \
    --skip-download --quiet --compact
echo "deploy/ checks passed"
