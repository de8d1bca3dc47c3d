# Recipes for the activity-leaderboard bot. Every recipe first makes sure .venv is installed.

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"
py := venv / "bin/python"

# List the recipes.
default:
    @just --list

# Create .venv and install the project with its dev tools (again only when pyproject.toml changes).
setup:
    #!/usr/bin/env bash
    set -euo pipefail
    [ -x {{py}} ] || python3 -m venv {{venv}}
    stamp={{venv}}/.installed
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        {{py}} -m pip install -q --disable-pip-version-check --upgrade pip
        {{py}} -m pip install -q --disable-pip-version-check -e '.[dev]'
        touch "$stamp"
    fi

# Run the bot: against Discord when DISCORD_TOKEN is set, else the local demo against the simulator.
run *args: setup
    #!/usr/bin/env bash
    set -uo pipefail
    {{py}} -m bot_entry has-token; configured=$?
    case $configured in
        0) exec {{py}} -m bot_entry run {{args}} ;;
        1) exec {{py}} -m demo {{args}} ;;
        *) exit $configured ;;  # a bad setting: has-token printed its one line
    esac

# Run the whole test suite, on every core (pytest-xdist: about 3.5 minutes on 2 cores, 6 in one).
test *args: setup
    {{py}} -m pytest -n auto {{args}}

# Lint: ruff check, format check, and the import layers (pyproject.toml's importlinter contracts).
lint: setup
    {{venv}}/bin/ruff check .
    {{venv}}/bin/ruff format --check .
    {{venv}}/bin/lint-imports

# Check config, database integrity and schema, disk space, backups and the token; prints a report.
doctor: setup
    {{py}} -m bot_entry doctor

# Benchmarks (ratios against baselines measured in the same run).
bench: setup
    {{py}} -m benchmarks

# The README's pictures (docs/*.png): boards, rank card and web page, in a real headless Chromium.
screenshots dir="docs": setup
    {{py}} -m tests.web.screenshots {{dir}}

# Replay the voice simulation for one seed (or several: just sim 1,2,3).
sim seed: setup
    VOICE_SIM_SEEDS={{seed}} {{py}} -m pytest -q tests/wiring/test_voice_simulation.py -k oracle

# Chaos: the real bot under seeded faults (SIGKILL, drops, re-IDENTIFY, 429/5xx/slow, 30046, a locked
# database), checked per user against the simulator's record; prints each seed, then a summary
# (also written to $TMPDIR/chaos-summary.json). One seed: python -m tests.faults.chaos SEED
chaos seeds="1000": setup
    {{py}} -m tests.faults.chaos 1 --seeds {{seeds}} --jobs 3 --summary "${TMPDIR:-/tmp}/chaos-summary.json"
