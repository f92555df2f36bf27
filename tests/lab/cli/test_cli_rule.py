"""``twinlab train --rule``: the power rule reaches the emulated board, and a bench whose
board implements another rule is refused before anything is applied."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.cli import main
from lab.runs import RunReader

ROOT = Path(__file__).resolve().parents[3]


def test_train_rule_power_builds_the_emulator_with_it(tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    argv = ["train", "--quiet", "--task", "chain3", "--rule", "power", "--steps", "20"]
    assert main([*argv, "--out", str(out)]) == 0
    with RunReader(out) as run:
        assert run.settings["rule"] == "power"
        assert run.info["bench_json"]["emulator"]["rule"] == "power"
    assert main(["train", "--quiet", "--task", "chain3", "--steps", "20", "--out",
                 str(tmp_path / "v.h5")]) == 0  # fmt: skip
    with RunReader(tmp_path / "v.h5") as run:
        assert run.settings["rule"] == "voltage"


def _power_bench(tmp_path: Path) -> Path:
    bench = tmp_path / "power.toml"
    chain = ROOT / "data" / "networks" / "chain3.toml"
    bench.write_text(f'kind = "emulator"\n[emulator]\nnetwork = "{chain}"\nrule = "power"\n')
    return bench


def test_train_takes_the_bench_files_rule(tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    bench = _power_bench(tmp_path)
    argv = ["train", "--quiet", "--task", "chain3", "--steps", "5", "--bench", str(bench)]
    assert main([*argv, "--out", str(out)]) == 0
    with RunReader(out) as run:
        assert run.settings["rule"] == "power"


def test_train_refuses_a_rule_the_bench_does_not_implement(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run.h5"
    bench = _power_bench(tmp_path)
    argv = ["train", "--quiet", "--task", "chain3", "--bench", str(bench), "--rule", "voltage"]
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("twinlab: error: settings field 'rule'") and "\n" not in err
    assert "'power'" in err
    assert not out.exists()


def test_train_rule_outside_the_choices_is_bad_input(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "--rule", "current"])
    assert exc.value.code == 2
    assert "'voltage', 'power'" in capsys.readouterr().err
