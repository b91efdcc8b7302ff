#!/usr/bin/env bash
# `make deploy-check`: every offline check of deploy/. hadolint on the Dockerfile; README.md's
# `npm ci` and `npx cdk synth`, with cdk-nag's AWS Solutions rules (a finding not acknowledged
# with its reason fails it); the CDK app's assertion tests; cfn-lint and checkov on the
# synthesized template.
set -euo pipefail
cd "$(dirname "$0")"

# The Python checkers in a venv of their own (checkov pins much of what the tests' tools need).
venv="${SLUICE_DEPLOY_VENV:-/var/tmp/sluice-deploy-venv}"
[ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt

echo "== hadolint deploy/Dockerfile"
"$venv/bin/hadolint" Dockerfile

# The commands README.md gives (step 2 of Deploying), read from it and run as written, from the
# repository root, on a tree where nothing was built: the documented deploy and this check
# cannot drift apart. The synth applies cdk-nag's AWS Solutions rules.
rm -rf cdk/dist cdk/cdk.out
mapfile -t documented < <(sed -n 's/^ *\(cd deploy\/cdk && npm ci\|npx cdk synth\)$/\1/p' README.md)
if [ "${#documented[@]}" -ne 2 ]; then
    echo "deploy/README.md no longer gives 'cd deploy/cdk && npm ci' then 'npx cdk synth'" >&2
    exit 1
fi
(
    cd ..
    for command in "${documented[@]}"; do
        echo "== $command"
        eval "$command" >/dev/null
    done
)

cd cdk
echo "== CDK assertion tests"
npm test --silent
echo "== cfn-lint"
"$venv/bin/cfn-lint" --config-file ../.cfnlintrc cdk.out/Sluice.template.json
echo "== checkov"
"$venv/bin/checkov" -f cdk.out/Sluice.template.json --framework cloudformation \
    --skip-download --quiet --compact
echo "deploy/ checks passed"
