"""Impossible and future-dated rows in USER files fail loudly, naming the file and the row."""

import pandas as pd
import pytest

from feeds import load_daily, load_panel
from feeds.checks import ROW_TOLERANCE
from feeds.errors import DataError

HEAD = "Date,Open,High,Low,Close,Volume\n"
GOOD = "2024-01-02,10,11,9,10.5,100\n"
TODAY = pd.Timestamp("2024-06-28")


def _load(tmp_path, body, today=TODAY, layout="yahoo"):
    if layout == "yahoo":
        (tmp_path / "BAD.csv").write_text(HEAD + body)
        path = tmp_path
    else:   # the same rows in the long layout
        rows = "".join(f"{r.split(',', 1)[0]},BAD,{r.split(',', 1)[1]}\n"
                       for r in body.splitlines())
        path = tmp_path / "long.csv"
        path.write_text("date,ticker,open,high,low,close,volume\n" + rows)
    return load_daily(["BAD"], source="files", path=path, today=today)["BAD"]


@pytest.mark.parametrize("layout", ["yahoo", "long"])
@pytest.mark.parametrize("row,what", [
    ("2031-01-02,10,11,9,10.5,100", "after today (2024-06-28)"),
    ("2024-01-03,10,9,11,10,100", "high 9 is below low 11"),
    ("2024-01-03,10,11,9,12,100", "close 12 is outside low..high 9..11"),
    ("2024-01-03,10,11,9,8,100", "close 8 is outside"),
    ("2024-01-03,10,11,9,10,-5", "volume -5 is negative"),
    ("2024-01-03,10,11,9,ten,100", "'close' holds 'ten', which is not a number"),
    ("2024-01-03,10,11,9,10,1e5x", "'volume' holds '1e5x'"),
    (",10,11,9,10,100", "line 3 has no date"),
])
def test_bad_row_names_file_line_and_fix(tmp_path, row, what, layout):
    with pytest.raises(DataError) as ei:
        _load(tmp_path, GOOD + row + "\n", layout=layout)
    msg = str(ei.value)
    assert "\n" not in msg and what in msg
    assert ("BAD.csv" if layout == "yahoo" else "long.csv") in msg and "BAD" in msg
    assert "line 3" in msg                               # header is line 1, GOOD is line 2
    assert "fix" in msg or "delete" in msg or "fill in" in msg


def test_today_is_injectable_and_inclusive(tmp_path):
    body = GOOD + "2024-06-28,10,11,9,10,100\n"
    assert len(_load(tmp_path, body, today="2024-06-28")) == 2
    with pytest.raises(DataError, match="after today"):
        _load(tmp_path, body, today="2024-06-27")
    # default: the real today, so this year-2099 row fails without injecting anything
    with pytest.raises(DataError, match="2099-01-02"):
        _load(tmp_path, GOOD + "2099-01-02,10,11,9,10,100\n", today=None)


def test_within_tolerance_is_accepted(tmp_path):
    c = 11 * (1 + ROW_TOLERANCE / 2)
    d = _load(tmp_path, GOOD + f"2024-01-03,10,11,9,{c},100\n")
    assert len(d) == 2


def test_zero_and_negative_prices_still_dropped_not_errors(tmp_path):
    # rule 3 of the cleaning: a non-positive price row is dropped (logged); e.g. O/H/L = 0
    d = _load(tmp_path, GOOD + "2024-01-03,0,0,0,10,100\n2024-01-04,10,11,9,-1,0\n")
    assert list(d.index.strftime("%Y-%m-%d")) == ["2024-01-02"]


def test_wide_garbage_and_future_rows(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("date,AAA,BBB\n2024-01-02,1,2\n2024-01-03,1.1,n/a?\n")
    assert len(load_daily(["AAA"], source="files", path=p, today=TODAY)["AAA"]) == 2
    with pytest.raises(DataError, match=r"line 3 .*'BBB' holds 'n/a\?'"):
        load_daily(["BBB"], source="files", path=p, today=TODAY)
    p.write_text("date,AAA\n2024-01-02,1\n2031-01-01,1\n")
    with pytest.raises(DataError, match="w.csv: AAA: line 3 .*after today"):
        load_daily(["AAA"], source="files", path=p, today=TODAY)


def test_future_row_cannot_make_a_giant_week(tmp_path):
    # before: a typo year made the calendar jump from 2024 to 2031 in one "week"
    (tmp_path / "AAA.csv").write_text(HEAD + GOOD + "2031-01-03,10,11,9,10.5,100\n")
    with pytest.raises(DataError, match="after today"):
        load_panel(["AAA"], source="files", path=tmp_path, end="2031-12-31", today=TODAY)


def test_packaged_rules_unchanged():
    # packaged data are not checked row by row (their cleaning is unchanged)
    d = load_daily(["BMRI.JK"], start="2023-03-27", end="2023-04-05")["BMRI.JK"]
    assert pd.Timestamp("2023-03-30") not in d.index
