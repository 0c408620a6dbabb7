#!/usr/bin/env bash
# The whole test suite, as the README and CI run it: installs the real peers (Postfix, Sendmail,
# miltertest) when missing, compiles, and runs unit, integration and end-to-end tests, then the soak.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
npm run --silent build
# Types, and the layer order and import cycles (.dependency-cruiser.js).
npm run --silent lint
# The Debian package, built before jest so that its npm install and tsc do not compete with
# timing-sensitive tests; test/e2e/debian-package.test.ts installs, runs and purges it.
FLOODGATE_DEB=$(bash packaging/build-deb.sh)
export FLOODGATE_DEB
# Two workers: each end-to-end file runs its own private MTA instances on ports it picks.
npx jest --maxWorkers=2 --selectProjects unit integration e2e "$@"
# Minutes of load on the built service, with the machine to itself (its figures are rates and memory).
npx jest --selectProjects soak --runInBand
# The wire fuzzer: 100,000 mutated conversations at full CPU, alone so that it starves no other test.
npx jest --selectProjects fuzz --runInBand
# The built service and the integration tests under Debian 12's own Node.js 18.
bash scripts/test-node18.sh
