"""``evtop --print-completion SHELL``: scripts generated from the parser, checked by the shells themselves."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.unit.cli.test_cli import run

SHELLS = ("bash", "zsh", "fish")


def script(shell: str) -> str:
    status, out, err = run("--print-completion", shell)
    assert (status, err) == (0, "")
    return out


def shell_or_skip(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed here (scripts/test installs it)")
    return path


@pytest.mark.parametrize("shell", SHELLS)
def test_each_script_is_valid_and_names_the_commands_and_options(shell, tmp_path):
    text = script(shell)
    for word in (
        "doctor",
        "queues",
        "control",
        "rate-limit",
        "--max-tasks",
        "--read-only",
        "--print-completion",
    ):
        assert word in text, word
    path = tmp_path / f"evtop.{shell}"
    path.write_text(text)
    checked = subprocess.run(
        [shell_or_skip(shell), "-n", str(path)], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stderr


BASH_CASES = [
    (["evtop", "--max-t"], ["--max-tasks"]),
    (["evtop", "--read"], ["--read-only", "--reader"]),
    (["evtop", "--reader", ""], ["auto", "process", "thread"]),
    (["evtop", "con"], ["control"]),
    (["evtop", "control", "rate"], ["rate-limit"]),
    (["evtop", "control", "ping", "--ti"], ["--timeout"]),
    (["evtop", "doctor", "--li"], ["--listen"]),
    (["evtop", "--print-completion", ""], ["bash", "zsh", "fish"]),
]


@pytest.mark.parametrize(("words", "expected"), BASH_CASES, ids=[" ".join(w) for w, _ in BASH_CASES])
def test_bash_completes_commands_options_and_choices(words, expected, tmp_path):
    path = tmp_path / "evtop.bash"
    path.write_text(script("bash"))
    line = " ".join(words)
    program = (
        f"source {path}\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
        f"COMP_LINE={line!r}; COMP_POINT={len(line)}; COMPREPLY=()\n"
        "_shtab_evtop evtop\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30)
    assert result.stdout.split() == expected, result.stderr


def test_fish_completes_options_and_commands(tmp_path):
    fish = shell_or_skip("fish")
    path = tmp_path / "evtop.fish"
    path.write_text(script("fish"))

    def complete(line: str) -> list[str]:
        result = subprocess.run(
            [fish, "--no-config", "-c", f"source {path}; complete -C '{line}'"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return [entry.split("\t")[0] for entry in result.stdout.splitlines()]

    assert "--max-tasks" in complete("evtop --max-t")
    assert "rate-limit" in complete("evtop control rate")


def test_without_shtab_the_error_says_what_to_install():
    code = (
        "import sys; sys.modules['shtab'] = None\n"
        "from evtop.cli import main\n"
        "sys.exit(main(['--print-completion', 'bash']))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("evtop: completion scripts are made with shtab, which is not installed")
    assert "pip install 'evtop[completion]'" in result.stderr and result.stderr.count("\n") == 1
