"""`fxlearn demo --quick` end to end on the virtual board: upload, on-device inference and
training, every step bit-exact with the host reference, the report written."""
from click.testing import CliRunner

from fxlearn.cli import main


def test_quick_demo_runs_bit_exact_and_writes_the_report(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--quick", "--out", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "board: native (virtual board)" in result.output
    assert "on-device accuracy after upload" in result.output and "all bit-exact" in result.output
    report = (tmp_path / "demo.md").read_text()
    assert "| inference bit-exact with the host reference | yes |" in report
    assert "| fine-tuning steps bit-exact | yes |" in report
    assert (tmp_path / "demo.png").stat().st_size > 1000
