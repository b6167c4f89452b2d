# Sourced by scripts/demo and scripts/test: pick the Python that evtop is installed into.
#
# An active virtual environment is used as it is. A python3 that its distribution marks as
# externally managed (PEP 668: Debian 12, Ubuntu 24.04) refuses `pip install` outside a
# virtual environment, so evtop gets its own in .venv at the top of the checkout (made once,
# reused after; Debian's python3-venv package is installed first when venv is missing).
# Any other python3 (pyenv, a container's, a CI image's) is used as it is.
# Sets EVTOP_PYTHON to the interpreter to use.

_evtop_sudo() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

evtop_python_env() {
    local base="${PYTHON:-python3}"
    if [ -n "${VIRTUAL_ENV:-}" ]; then
        EVTOP_PYTHON="$VIRTUAL_ENV/bin/python"
        return
    fi
    if ! "$base" - <<'PY'
import os, sys, sysconfig
sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 1)
PY
    then
        EVTOP_PYTHON="$base"
        return
    fi
    if [ ! -x .venv/bin/python ]; then
        if ! "$base" -c 'import ensurepip, venv' 2>/dev/null; then
            echo "scripts: installing python3-venv (this python3 refuses pip outside a virtual environment)" >&2
            _evtop_sudo apt-get update -qq
            DEBIAN_FRONTEND=noninteractive _evtop_sudo apt-get install -y -qq python3-venv >/dev/null
        fi
        echo "scripts: making a virtual environment in .venv for $("$base" --version)" >&2
        "$base" -m venv .venv
    fi
    EVTOP_PYTHON="$PWD/.venv/bin/python"
}
