"""The ``arrears`` command: import with a report and exit codes, demo, users, stored reports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from service.cli import main


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> Path:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ARREARS_VAR_DIR", str(tmp_path / "var"))
    return tmp_path


def test_import_prints_the_report_and_exits_1_when_rows_were_rejected(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drop = env / "drop"
    drop.mkdir()
    (drop / "borrowers.csv").write_text(
        "borrower_ref,name,phone\nB1,张三,13800138000\nB2,李四,12\n"
    )

    assert main(["import", str(drop)]) == 1
    out = capsys.readouterr().out
    assert "borrowers.csv" in out
    assert "stored         1" in out
    assert "borrowers.csv:3 [phone] not a valid number for its country" in out

    (drop / "borrowers.csv").write_text("borrower_ref,name,phone\nB1,张三,13800138000\n")
    assert main(["import", str(drop)]) == 0
    assert main(["imports", "show", "1", "--errors", "5"]) == 0
    assert "borrowers.csv:3 [phone]" in capsys.readouterr().out


def test_import_of_a_missing_directory_fails_clearly(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(env / "nowhere")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_demo_imports_a_lender_and_prints_passwords_once(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--borrowers", "50", "--as-of", "2026-11-24"]) == 0
    out = capsys.readouterr().out
    assert "demo portfolio written" in out
    assert "supervisor" in out
    assert "collector1" in out
    assert main(["demo", "--borrowers", "50", "--as-of", "2026-11-24"]) == 0
    assert "Demo users" not in capsys.readouterr().out
    assert main(["users", "list"]) == 0
    assert "collector4" in capsys.readouterr().out


def test_cob_then_export_accounts_in_the_contract_columns(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import csv
    import io

    assert main(["demo", "--borrowers", "200", "--as-of", "2026-11-24"]) == 0
    assert main(["cob", "--from", "2026-11-25", "--to", "2026-11-26"]) == 0
    assert "COB 2026-11-26:" in capsys.readouterr().out

    assert main(["export", "accounts", "--as-of", "2026-11-26", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))

    assert list(rows[0]) == [
        "loan_ref", "dpd", "bucket", "amount_tier", "overdue_amount", "outstanding",
        "penalty_accrued", "classification", "queue", "collector", "status",
    ]  # fmt: skip
    assert {row["status"] for row in rows} <= {"open", "closed", "written_off"}
    assert any(row["status"] == "open" for row in rows)
    assert {row["bucket"] for row in rows} <= {"M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7+"}
    assert {row["classification"] for row in rows} <= {
        "normal", "special_mention", "substandard", "doubtful", "loss",
    }  # fmt: skip
    assert all(row["outstanding"].count(".") == 1 and len(row["outstanding"].split(".")[1]) == 2
               for row in rows)  # fmt: skip
    assert any(int(row["dpd"]) > 90 for row in rows)
    assert main(["export", "accounts", "--as-of", "2020-01-01"]) == 2
    assert "no close of business for 2020-01-01" in capsys.readouterr().err


def test_the_demo_floor_is_staffed_and_a_collector_hands_over_from_the_command_line(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--borrowers", "300", "--as-of", "2026-11-24"]) == 0
    capsys.readouterr()
    assert main(["queues", "list"]) == 0
    listing = capsys.readouterr().out
    assert "M1 early" in listing
    assert "Automated reminders" in listing
    assert (
        main(
            [
                "experiments",
                "start",
                "m1",
                "--segment",
                '{"buckets": ["M1"]}',
                "--challenger",
                "round_robin",
                "--share",
                "0.5",
            ]
        )
        == 0
    )
    assert main(["users", "set", "collector3", "--capacity", "5", "--team", "North"]) == 0
    assert main(["assign", "--all"]) == 0
    assert "m1:challenger" in capsys.readouterr().out
    assert main(["users", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert next(line for line in listed if line.startswith("collector3")).split()[4] == "5"
    assert main(["users", "set", "collector3", "--capacity", "-1"]) == 2
    assert "capacity must not be negative" in capsys.readouterr().err

    assert main(["handover", "--from", "collector1", "--to", "collector2"]) == 0
    out = capsys.readouterr().out
    assert "handed over from collector1 to collector2" in out
    assert "collector1 deactivated" in out
    assert main(["users", "list"]) == 0
    users = capsys.readouterr().out.splitlines()
    leaver = next(line for line in users if line.startswith("collector1"))
    assert leaver.split()[2] == "inactive"
    # Handing over from someone already gone is refused, with the reason.
    assert main(["handover", "--from", "collector1", "--to-queue", "M2-M3"]) == 2
    assert "already inactive" in capsys.readouterr().err


def test_a_bad_strategy_setting_stops_the_command_with_the_reason(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARREARS_ASSIGNMENT_STRATEGY", "no_such_strategy")
    assert main(["assign"]) == 2
    assert "no strategy named 'no_such_strategy'" in capsys.readouterr().err


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Settings pointing at a database that does not exist yet: a command that ran would
    create it (and the var directory)."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'never.db'}")
    monkeypatch.setenv("ARREARS_VAR_DIR", str(tmp_path / "var"))
    (tmp_path / "drop").mkdir()
    return tmp_path


def _refused(argv: list[str], reason: str, where: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command exits 2 with ``reason`` on stderr, and nothing was run."""
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert reason in err, err
    assert "Traceback" not in err
    assert out == ""
    assert not (where / "never.db").exists()
    assert not (where / "var").exists()


DATED_VERBS = [
    ["cob", "--as-of", "{}"],
    ["cob", "--from", "{}", "--to", "2026-11-25"],
    ["cob", "--from", "2026-11-24", "--to", "{}"],
    ["export", "accounts", "--as-of", "{}"],
    ["experiments", "results", "m1", "--from", "{}", "--to", "2026-11-25"],
    ["experiments", "results", "m1", "--from", "2026-11-24", "--to", "{}"],
    ["demo", "--borrowers", "10", "--as-of", "{}"],
    ["import", "{drop}", "--as-of", "{}"],
    ["letter", "--loan", "L1", "--kind", "overdue_notice", "--as-of", "{}"],
    ["plan", "--dry-run", "--for", "{}"],
]
BAD_DATES = [
    ("2026-13-01", "'2026-13-01' is not a date: there is no month 13"),
    ("2024-02-30", "'2024-02-30' is not a date: 2024-02 has 29 days"),
    ("2026-04-31", "'2026-04-31' is not a date: 2026-04 has 30 days"),
    ("29/02/2024", "'29/02/2024' is not a date (YYYY-MM-DD)"),
    ("2026-W01-1", "'2026-W01-1' is not a date (YYYY-MM-DD)"),
    ("20260101", "'20260101' is not a date (YYYY-MM-DD)"),
    ("0001-01-01", "'0001-01-01' is out of range: years 1900 to 2999"),
    ("3000-01-01", "'3000-01-01' is out of range: years 1900 to 2999"),
]


@pytest.mark.parametrize("argv", DATED_VERBS, ids=lambda argv: " ".join(argv[:2]))
@pytest.mark.parametrize(("date", "reason"), BAD_DATES, ids=[d for d, _ in BAD_DATES])
def test_a_malformed_date_is_a_usage_error_with_the_reason(
    nowhere: Path, capsys: pytest.CaptureFixture[str], argv: list[str], date: str, reason: str
) -> None:
    args = [arg.format(date, drop=nowhere / "drop") for arg in argv]
    option = args[args.index(date) - 1]
    _refused(args, f"argument {option}: {reason}", nowhere, capsys)


@pytest.mark.parametrize(
    ("at", "reason"),
    [
        ("2026-11-24T10:00:00", "'2026-11-24T10:00:00' has no UTC offset"),
        ("2026-11-24", "'2026-11-24' has no UTC offset"),
        ("tomorrow", "'tomorrow' is not an ISO 8601 time"),
        ("2026-13-01T10:00:00+08:00", "'2026-13-01T10:00:00+08:00' is not an ISO 8601 time"),
        ("0001-01-01T10:00:00+00:00", "'0001-01-01T10:00:00+00:00' is out of range: years 1900"),
    ],
)
def test_check_contact_reads_its_time_with_an_offset_or_refuses_it(
    nowhere: Path, capsys: pytest.CaptureFixture[str], at: str, reason: str
) -> None:
    argv = ["check-contact", "--loan", "L1", "--channel", "sms", "--party", "debtor", "--at", at]
    _refused(argv, f"argument --at: {reason}", nowhere, capsys)


def test_cob_refuses_a_day_after_the_lender_today_and_mixed_date_options(
    nowhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.clock import lender_today
    from service.settings import Settings

    today = lender_today(Settings.from_env().lender_timezone)
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    ahead = f"is after the lender's today ({today.isoformat()}, Asia/Shanghai)"
    _refused(["cob", "--as-of", tomorrow], f"--as-of {tomorrow} {ahead}", nowhere, capsys)
    _refused(
        ["cob", "--from", today.isoformat(), "--to", tomorrow],
        f"--to {tomorrow} {ahead}",
        nowhere,
        capsys,
    )
    _refused(
        ["cob", "--as-of", "2199-01-01"], "arrears plan --dry-run --for 2199-01-01", nowhere, capsys
    )
    _refused(["cob", "--from", "2026-11-24"], "--from needs --to", nowhere, capsys)
    _refused(["cob", "--to", "2026-11-24"], "--to needs --from", nowhere, capsys)
    _refused(
        ["cob", "--as-of", "2026-11-24", "--from", "2026-11-20", "--to", "2026-11-24"],
        "--as-of or --from/--to, not both",
        nowhere,
        capsys,
    )
    _refused(
        ["cob", "--from", "2026-11-24", "--to", "2026-11-20"],
        "--to is before --from",
        nowhere,
        capsys,
    )
