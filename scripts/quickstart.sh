#!/usr/bin/env bash
# quickstart.sh — from a fresh checkout to dfit's answer: installs missing
# Debian packages (scripts/install-deps.sh), configures build/ (release) if
# needed, builds, then runs the main job: `dfit run scenarios/quickstart.ini`
# — a 15M-parameter synthetic llama (made on first use, cached under
# .cache/models/) and four compressed variants of it (F16, BF16, Q8_0,
# Q4_0), each measured on every target of the scenario under two workloads,
# with quality beside latency, memory and cost. It ends with the
# recommendation per target and the path of the report (results/).
# A second run reuses the built models and adds a run to the same database.
# Usage: bash scripts/quickstart.sh [extra dfit run flags, e.g. --label L]
# Exit status: dfit run's (0 every cell that ran is ok; 1 some cell failed,
# the report is still written; see docs/cli.md).
# Non-goals: the test suite (scripts/test.sh), other scenarios.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh

if [[ ! -f build/build.ninja ]]; then
    meson setup build --buildtype=release
fi
meson compile -C build

# The default model (scenarios/quickstart.ini's) and its eval data, checked
# against the hashes recorded when scripts/train-default.sh made them.
echo "==> checking scenarios/data against scenarios/data/SHA256SUMS"
if ! (cd scenarios/data && sha256sum --quiet --check SHA256SUMS); then
    echo "quickstart.sh: scenarios/data differs from SHA256SUMS (a partial checkout?" \
        "bash scripts/train-default.sh rebuilds it)" >&2
    exit 1
fi

echo "==> dfit run scenarios/quickstart.ini"
exec build/dfit run scenarios/quickstart.ini "$@"
