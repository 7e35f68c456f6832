#!/usr/bin/env python3
"""Independent reference outputs for `baseline_comparison` and `escalation_levels`.

This is a second implementation of the two rules, written from the *documentation* of
`crates/marmot-stats/src/surveillance/baseline.rs` and `escalation.rs` (module and
function doc comments), not from the Rust arithmetic.  It uses:

* `datetime.date.isocalendar()` / `date.fromisocalendar()` for ISO 8601 weeks,
* numpy for means and sample variances,
* `scipy.stats.nbinom.ppf` and `scipy.stats.t.ppf` for the quantiles.

No published package implements these two rules exactly (the "5-year average"
comparison with an NB plug-in interval and the OPEL-style persistence rule are
local conventions), so these files are an *independent implementation*, not published
outputs.  The inputs are the real weekly series in `../surveillance/series_*.csv`.

Outputs (next to this script): `baseline.csv`, `escalation.csv`.  With
`--ons-source PATH` it also (re)extracts `ons_weekly_deaths_ew.csv` from the
NHSRdatasets copy of the ONS weekly deaths spreadsheets (see PROVENANCE.md).

Regenerate:  python3 make_reference.py          (numpy, scipy, pandas needed)

Documentation ambiguities and how they are resolved here (see also PROVENANCE.md):

1. Quantile of a discrete distribution: the docs say "the (1-level)/2 and (1+level)/2
   quantiles of the negative binomial"; taken as the usual left-continuous inverse
   min{k : F(k) >= p} (R `qnbinom`, scipy `nbinom.ppf`).
2. `phi` when m == 0: phi = max(1, s^2/m) is undefined; the docs only say that the
   limits are 0 and 0.  Written as NA here.
3. `phi` for the Normal interval: the field doc says "(negative binomial interval
   only)", so NA.  `sd` is documented without restriction, so it is written for both.
4. `level` is documented for the function but the Normal formula in the enum doc says
   `t(n-1, 1-alpha/2)` with alpha = 1 - level; both read as t.ppf((1+level)/2, n-1).
5. "week 53 maps to week 52 in years without a week 53" applies to the centre week;
   the +-window offsets are then whole weeks (+-7 days) from that centre and may cross
   into a neighbouring ISO year (and into a week 53) naturally.
6. Escalation: "highest level whose threshold was met in each of the last K weeks" is
   implemented literally (search L from the top, test every week), not through the
   documented min-of-single-week-levels shortcut, so that the shortcut is checked too.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
import platform
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import scipy
from scipy import stats

HERE = Path(__file__).resolve().parent
SERIES_DIR = HERE.parent / "surveillance"

NA = "NA"


def fmt(x) -> str:
    """Numbers with 15 significant digits (as in ../surveillance), NA for None/NaN."""
    if x is None:
        return NA
    if isinstance(x, (bool, np.bool_)):
        return "1" if x else "0"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    x = float(x)
    if math.isnan(x):
        return NA
    return f"{x:.15g}"


# --------------------------------------------------------------------------- series


def load_series(sid: str) -> pd.DataFrame:
    df = pd.read_csv(SERIES_DIR / f"series_{sid}.csv", na_values=["NA"], keep_default_na=False)
    df["count"] = df["count"].astype(float)
    return df


def is_dated(df: pd.DataFrame) -> bool:
    return not df["date"].isna().any()


def has_population(df: pd.DataFrame) -> bool:
    return not df["population"].isna().any()


# ------------------------------------------------------------------------- baseline


def iso_weeks_in_year(y: int) -> int:
    # 28 December is always in the last ISO week of its ISO year
    return dt.date(y, 12, 28).isocalendar()[1]


def reference_positions_dated(dates: list[dt.date], t: int, years: int, window: int):
    """Positions (0-based, None = date not in series) of the reference weeks of week t.

    Module docs: the centre of year j is the date with the same ISO weekday in ISO week
    W of ISO year Y - j (week 53 -> 52 where year Y - j has no week 53); the reference
    weeks are that date +- 7, 14, ... days up to `window` weeks.  Raises if the oldest
    window starts before the series (the function's InsufficientHistory error).
    """
    index = {d: i for i, d in enumerate(dates)}
    iso_y, iso_w, iso_d = dates[t].isocalendar()
    out = []
    for j in range(1, years + 1):
        y0 = iso_y - j
        w0 = iso_w if iso_w <= iso_weeks_in_year(y0) else 52
        centre = dt.date.fromisocalendar(y0, w0, iso_d)
        if centre - dt.timedelta(weeks=window) < dates[0]:
            raise ValueError(f"insufficient history at t={t}")
        for o in range(-window, window + 1):
            out.append(index.get(centre + dt.timedelta(weeks=o)))
    return out


def reference_positions_undated(n_weeks: int, t: int, years: int, window: int):
    """Undated: the centre of year j is exactly 52*j weeks back."""
    if t < 52 * years + window:
        raise ValueError(f"insufficient history at t={t}")
    return [t - 52 * j + o for j in range(1, years + 1) for o in range(-window, window + 1)]


def nb_limits(m: float, var: float, n: int, level: float):
    """NB plug-in limits of the docs: mean m, variance V = phi*m*(1+1/n)."""
    phi = max(1.0, var / m)
    v = phi * m * (1.0 + 1.0 / n)
    # scipy nbinom(n=size, p=prob): mean size(1-p)/p, variance size(1-p)/p^2, the same
    # (size, prob) parameterisation as R.  Matching mean m and variance V gives
    # p = m/V and size = m^2/(V-m); check against the doc's closed forms.
    prob = m / v
    size = m * m / (v - m)
    c = phi * (1.0 + 1.0 / n)
    assert c > 1.0  # 1 + 1/n > 1 for finite n: the Poisson limit (c == 1) cannot occur
    assert math.isclose(size, m / (c - 1.0), rel_tol=1e-12)
    assert math.isclose(prob, 1.0 / c, rel_tol=1e-12)
    dist = stats.nbinom(size, prob)
    assert math.isclose(dist.mean(), m, rel_tol=1e-9)
    assert math.isclose(dist.var(), v, rel_tol=1e-9)
    lo_p, hi_p = (1.0 - level) / 2.0, (1.0 + level) / 2.0
    lower, upper = float(dist.ppf(lo_p)), float(dist.ppf(hi_p))
    # a quantile is fragile where F(k) is within rounding of p (either side); report it
    ties = []
    for k, p in ((lower, lo_p), (upper, hi_p)):
        for kk in (k - 1, k):
            if kk >= 0 and abs(dist.cdf(kk) - p) <= 1e-9:
                ties.append((kk, p))
    return phi, lower, upper, ties


def evaluate_week(observed, values, level, interval):
    n = len(values)
    row = dict(n_reference=n, expected=None, sd=None, phi=None, lower=None, upper=None,
               percent_difference=None, alarm_up=False, alarm_down=False)
    ties = []
    if n < 2:
        return row, ties
    arr = np.asarray(values, dtype=float)
    m = math.fsum(arr) / n
    var = float(np.var(arr, ddof=1))
    sd = math.sqrt(var)
    if interval == "nb":
        if m > 0:
            phi, lower, upper, ties = nb_limits(m, var, n, level)
        else:
            phi, lower, upper = None, 0.0, 0.0  # documented: m = 0 gives 0 and 0
    else:
        q = float(stats.t.ppf((1.0 + level) / 2.0, n - 1))
        half = q * sd * math.sqrt(1.0 + 1.0 / n)
        phi, lower, upper = None, max(0.0, m - half), m + half
    row.update(expected=m, sd=sd, phi=phi, lower=lower, upper=upper)
    if observed is not None and not math.isnan(observed):
        if m != 0:
            row["percent_difference"] = (observed - m) / m * 100.0
        row["alarm_up"] = observed > upper
        row["alarm_down"] = observed < lower
    return row, ties


# Configurations: (years, window, level) x interval, for dated and undated use of each
# series, plus a population-offset subset where the series has a population.
YWL = [(5, 2, 0.95), (5, 0, 0.95), (3, 2, 0.95), (3, 0, 0.9), (5, 2, 0.9)]
YWL_POP = [(5, 2, 0.95), (3, 0, 0.9), (5, 2, 0.9)]
INTERVALS = ["nb", "normal"]

# Evaluation windows: 104 weeks that contain an ISO week 53 (dated series), so that the
# 53 -> 52 rule is exercised; the undated series uses its last 104 weeks (or fewer
# where the config cannot go back that far).
RANGES = {
    "newport": ("2009-01-05", 104),
    "campy": ("2009-06-01", 104),
    "momo75": ("2004-01-05", 104),
    "meningo": (None, 104),
}


def baseline_configs(df):
    cfgs = []
    for dated in ([True, False] if is_dated(df) else [False]):
        for pop in ([False, True] if has_population(df) else [False]):
            ywl = YWL_POP if pop else YWL
            if pop and not dated:
                ywl = ywl[:1]
            for years, window, level in ywl:
                for interval in INTERVALS:
                    cid = (f"y{years}_w{window}_l{round(level * 100)}_{interval}"
                           f"_{'dated' if dated else 'undated'}{'_pop' if pop else ''}")
                    cfgs.append(dict(config_id=cid, years=years, window=window, level=level,
                                     interval=interval, dated=dated, population_offset=pop))
    return cfgs


def baseline_rows(sid, df):
    rows, all_ties = [], []
    counts = df["count"].to_list()
    dates = [dt.date.fromisoformat(s) for s in df["date"]] if is_dated(df) else None
    pop = df["population"].to_list() if has_population(df) else None
    start, length = RANGES[sid]
    for cfg in baseline_configs(df):
        years, window, level = cfg["years"], cfg["window"], cfg["level"]
        if start is not None:
            t0 = dates.index(dt.date.fromisoformat(start))
        else:
            t0 = max(len(counts) - length, 52 * years + window)
        t_range = range(t0, min(t0 + length, len(counts)))
        for t in t_range:
            if cfg["dated"]:
                pos = reference_positions_dated(dates, t, years, window)
            else:
                pos = reference_positions_undated(len(counts), t, years, window)
            values = []
            for i in pos:
                if i is None or counts[i] is None or math.isnan(counts[i]):
                    continue  # dates not in the series and missing counts are dropped
                y = counts[i]
                values.append(y * pop[t] / pop[i] if cfg["population_offset"] else y)
            res, ties = evaluate_week(counts[t], values, level, cfg["interval"])
            all_ties += [(sid, cfg["config_id"], t + 1, k, p) for k, p in ties]
            rows.append(dict(
                series_id=sid, config_id=cfg["config_id"], years=years, window=window,
                level=level, interval=cfg["interval"], dated=int(cfg["dated"]),
                population_offset=int(cfg["population_offset"]), t=t + 1,
                date=df["date"].iloc[t] if is_dated(df) else NA,
                observed=counts[t], **res))
    return rows, all_ties


BASELINE_COLS = ["series_id", "config_id", "years", "window", "level", "interval", "dated",
                 "population_offset", "t", "date", "observed", "n_reference", "expected",
                 "sd", "phi", "lower", "upper", "percent_difference", "alarm_up",
                 "alarm_down"]


# ----------------------------------------------------------------------- escalation

ESC_WEEKS = 156  # first three years of each series


def escalation_inputs():
    """(series_id, values) for the escalation check: counts, plus a rate series."""
    out = []
    for sid in ["newport", "campy", "meningo", "momo75"]:
        df = load_series(sid)
        out.append((sid, df["count"].to_numpy()[:ESC_WEEKS]))
        if sid == "momo75":
            # a real-valued series: deaths per 100,000 (count / population * 100000)
            rate = (df["count"] / df["population"] * 100000.0).to_numpy()
            out.append(("momo75_rate", rate[:ESC_WEEKS]))
    return out


def strictly_ordered(values, decreasing):
    out = []
    for v in values:
        if not out or (v < out[-1] if decreasing else v > out[-1]):
            out.append(float(v))
    return out


def thresholds_for(values, direction):
    # thresholds are values that occur in the series (method="lower"), so that the
    # "at or beyond" equality case is exercised
    if direction == "rising":
        q = np.quantile(values, [0.5, 0.75, 0.9, 0.97], method="lower")
        return strictly_ordered(q, decreasing=False)
    q = np.quantile(values, [0.5, 0.25, 0.1, 0.03], method="lower")
    return strictly_ordered(q, decreasing=True)


def meets(v, th, direction):
    if v is None or math.isnan(v):
        return False  # a missing value meets no threshold
    return v >= th if direction == "rising" else v <= th


def escalation(values, thresholds, k, direction):
    n_levels = len(thresholds)
    out = []
    for i, v in enumerate(values):
        week_level = max([lv for lv in range(1, n_levels + 1)
                          if meets(v, thresholds[lv - 1], direction)], default=0)
        level = 0
        if i + 1 >= k:  # the first K - 1 weeks have level 0
            for lv in range(n_levels, 0, -1):
                if all(meets(values[j], thresholds[lv - 1], direction)
                       for j in range(i - k + 1, i + 1)):
                    level = lv
                    break
        out.append((week_level, level))
    return out


def escalation_rows():
    rows = []
    for sid, values in escalation_inputs():
        for direction in ["rising", "falling"]:
            th = thresholds_for(values, direction)
            for k in (1, 2, 3):
                res = escalation(values, th, k, direction)
                for i, (wl, lv) in enumerate(res):
                    rows.append(dict(series_id=sid, config_id=f"{direction}_k{k}",
                                     direction=direction, consecutive=k,
                                     thresholds=";".join(repr(x) for x in th), t=i + 1,
                                     value=float(values[i]), week_level=wl, level=lv))
    return rows


ESC_COLS = ["series_id", "config_id", "direction", "consecutive", "thresholds", "t", "value",
            "week_level", "level"]


# ------------------------------------------------------------------------------ ONS


def extract_ons(source: Path, dest: Path):
    """Minimal ONS extract from NHSRdatasets' `Working files/ONSMortality.csv`.

    Rows "Total deaths, all ages" (deaths registered in the week, as published in that
    year's weekly dataset) and the published five-year average ("Total deaths: average
    of corresponding week over the previous 5 years", labelled "week over the previous
    5 years 1" for 2020 in that file).  Weeks end on Fridays; the ONS week number equals
    the ISO week of the Friday (checked below).
    """
    deaths, avg = {}, {}
    with open(source, newline="", encoding="utf-8") as f:
        for r in csv.reader(f):
            if len(r) != 4 or r[1] == "NA":
                continue
            if r[0] == "Total deaths, all ages":
                deaths[r[2]] = (r[1], int(r[3]))
            elif r[0] in ("Total deaths: average of corresponding",
                          "week over the previous 5 years 1"):
                avg[r[2]] = r[1]
    with open(dest, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["week_ending", "iso_year", "ons_week", "deaths", "published_5y_average"])
        for d in sorted(deaths):
            day = dt.date.fromisoformat(d)
            iy, iw, wd = day.isocalendar()
            count, ons_week = deaths[d]
            assert wd == 5 and iw == ons_week, d
            a = avg.get(d)
            w.writerow([d, iy, ons_week, count, NA if a is None else repr(float(a))])


def ons_summary(path: Path):
    """Independent 5-year average (window 0, dated by the week-ending Friday) vs ONS."""
    df = pd.read_csv(path, na_values=["NA"], keep_default_na=False)
    dates = [dt.date.fromisoformat(s) for s in df["week_ending"]]
    counts = df["deaths"].astype(float).to_list()
    diffs = []
    for t in range(len(dates)):
        if math.isnan(df["published_5y_average"].iloc[t]):
            continue
        try:
            pos = reference_positions_dated(dates, t, 5, 0)
        except ValueError:
            continue
        m = math.fsum(counts[i] for i in pos) / len(pos)
        pub = df["published_5y_average"].iloc[t]
        diffs.append((dates[t], m, pub, (m - pub) / pub))
    rel = np.array([abs(d[3]) for d in diffs])
    return len(diffs), float(rel.max()), float(np.median(rel)), diffs


# ----------------------------------------------------------------------------- main


def write_csv(path, cols, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow([r[c] if isinstance(r[c], str) else fmt(r[c]) for c in cols])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ons-source", type=Path,
                    help="NHSRdatasets 'Working files/ONSMortality.csv' to re-extract "
                         "ons_weekly_deaths_ew.csv from")
    args = ap.parse_args()

    rows, ties = [], []
    for sid in ["newport", "campy", "momo75", "meningo"]:
        r, t = baseline_rows(sid, load_series(sid))
        rows += r
        ties += t
    write_csv(HERE / "baseline.csv", BASELINE_COLS, rows)
    esc = escalation_rows()
    write_csv(HERE / "escalation.csv", ESC_COLS, esc)

    print(f"Python {platform.python_version()}, numpy {np.__version__}, "
          f"scipy {scipy.__version__}, pandas {pd.__version__}")
    print(f"baseline.csv: {len(rows)} rows; escalation.csv: {len(esc)} rows")
    print(f"NB quantile near-ties (|F(k) - p| <= 1e-9): {len(ties)}")
    for tie in ties:
        print("  ", tie)

    ons = HERE / "ons_weekly_deaths_ew.csv"
    if args.ons_source:
        extract_ons(args.ons_source, ons)
    if ons.exists():
        n, worst, median, diffs = ons_summary(ons)
        print(f"ONS 5-year average: {n} weeks, |rel diff| max {worst:.2e}, median {median:.2e}")
        for d in diffs:
            if abs(d[3]) > 1e-3:
                print(f"   {d[0]} independent {d[1]} published {d[2]} rel {d[3]:+.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
