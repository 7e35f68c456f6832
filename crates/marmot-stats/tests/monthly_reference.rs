//! Reproduces every row of the R `surveillance` 1.20.3 reference outputs on
//! MONTHLY series (`freq = 12`) in `tests/fixtures/surveillance_monthly/` at
//! the workspace root (see the README.md and generate.R there): Farrington
//! flexible (Noufaily 2013 and Farrington 1996 settings), classic Farrington,
//! EARS C1-C3, CUSUM with the harmonic GLM reference and the Poisson GLR
//! chart.
//!
//! Tolerances are those of the weekly reference test (`tests/surveillance.rs`):
//! numbers 1e-6 relative (plus 1e-9 absolute), NA must be None, alarms equal
//! except at near ties `|y - U| <= 1e-6 U`.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test with a backtrace

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;

use marmot_stats::surveillance::*;

mod common;
use common::{Row, opt as num, paired};

const REL: f64 = 1e-6;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/surveillance_monthly")
        .join(name)
}

fn read_csv(name: &str) -> Vec<Row> {
    common::read_path(&fixture(name))
}

fn flag(row: &Row, col: &str) -> Option<bool> {
    num(row, col).map(|v| v != 0.0)
}

fn counts_of(id: &str) -> (Vec<f64>, Option<Vec<Date>>) {
    let rows = read_csv(&format!("series_{id}.csv"));
    let counts = rows.iter().map(|r| num(r, "count").unwrap()).collect();
    let dates = (rows[0]["date"] != "NA").then(|| {
        rows.iter()
            .map(|r| Date::parse_iso(&r["date"]).unwrap())
            .collect()
    });
    (counts, dates)
}

/// The series as R built it: 12 periods per year, dated where R's was.
fn load_series(id: &str) -> WeeklySeries {
    let (counts, dates) = counts_of(id);
    let s = WeeklySeries::monthly(counts).unwrap();
    assert_eq!(s.periods_per_year(), 12);
    match dates {
        Some(d) => s.dated(d).unwrap(),
        None => s,
    }
}

/// Groups rows by (series_id, key column) preserving order.
fn groups(rows: &[Row], key: &str) -> Vec<((String, String), Vec<Row>)> {
    let mut out: Vec<((String, String), Vec<Row>)> = Vec::new();
    for r in rows {
        let k = (r["series_id"].clone(), r[key].clone());
        match out.iter_mut().find(|(x, _)| *x == k) {
            Some((_, v)) => v.push(r.clone()),
            None => out.push((k, vec![r.clone()])),
        }
    }
    out
}

fn range_of(rows: &[Row]) -> Range<usize> {
    let first = num(&rows[0], "t").unwrap() as usize - 1;
    let last = num(&rows[rows.len() - 1], "t").unwrap() as usize;
    assert_eq!(last - first, rows.len(), "contiguous window");
    first..last
}

#[derive(Default)]
struct Check {
    values: usize,
    failures: Vec<String>,
    near_ties: Vec<String>,
    max_rel: HashMap<String, f64>,
}

impl Check {
    fn num(&mut self, ctx: &str, col: &str, expected: Option<f64>, got: Option<f64>, rel: f64) {
        self.values += 1;
        let ok = match (expected, got) {
            (None, None) => true,
            (Some(e), Some(g)) => {
                if e != 0.0 {
                    let m = self.max_rel.entry(col.to_string()).or_insert(0.0);
                    *m = m.max(((e - g) / e).abs());
                }
                (e - g).abs() <= rel * e.abs() + 1e-9
            }
            _ => false,
        };
        if !ok {
            self.failures
                .push(format!("{ctx} {col}: expected {expected:?}, got {got:?}"));
        }
    }

    fn flag(&mut self, ctx: &str, col: &str, expected: Option<bool>, got: bool) {
        self.values += 1;
        if expected.unwrap_or(false) != got {
            self.failures
                .push(format!("{ctx} {col}: expected {expected:?}, got {got}"));
        }
    }

    /// Alarm compared except where `|y - U| <= 1e-6 U` (README convention).
    fn alarm(
        &mut self,
        ctx: &str,
        col: &str,
        expected: Option<bool>,
        got: bool,
        y: f64,
        u: Option<f64>,
    ) {
        if expected.unwrap_or(false) != got
            && let Some(u) = u
            && (y - u).abs() <= 1e-6 * u.abs()
        {
            self.near_ties.push(format!("{ctx} {col}: y={y} U={u}"));
            self.values += 1;
            return;
        }
        self.flag(ctx, col, expected, got);
    }

    fn finish(&self, name: &str, rows: usize, compared: usize) {
        let mut cols: Vec<_> = self.max_rel.iter().collect();
        cols.sort_by(|a, b| a.0.cmp(b.0));
        println!(
            "== {name}: {rows} rows, {} values, {} mismatches",
            self.values,
            self.failures.len()
        );
        for (c, m) in cols {
            println!("   {c}: max rel. diff {m:.1e}");
        }
        for t in &self.near_ties {
            println!("   near tie (alarm not compared): {t}");
        }
        for f in self.failures.iter().take(40) {
            println!("   MISMATCH {f}");
        }
        assert_eq!(compared, rows, "{name}: every reference row compared");
        assert!(
            self.failures.is_empty(),
            "{name}: {} mismatches, first: {}",
            self.failures.len(),
            self.failures[0]
        );
    }
}

/// The configurations of generate.R, every parameter explicit.
fn flex_params(cfg: &str) -> FarringtonFlexibleParams {
    match cfg {
        "noufaily_monthly" => FarringtonFlexibleParams {
            b: 5,
            w: 2,
            reweight: true,
            weights_threshold: 2.58,
            trend: true,
            p_threshold_trend: 0.05,
            no_periods: 4,
            past_weeks_not_included: 6,
            threshold_method: ThresholdMethod::NbPlugin,
            alpha: 0.05,
            limit54: Limit54 {
                cases: 5.0,
                period: 4,
            },
            powertrans: PowerTransform::TwoThirds,
            population_offset: false,
            inference_dispersion: InferenceDispersion::RCompatible,
        },
        "farrington_flex_monthly" => FarringtonFlexibleParams {
            b: 5,
            w: 2,
            reweight: true,
            weights_threshold: 1.0,
            trend: true,
            p_threshold_trend: 0.05,
            no_periods: 1,
            past_weeks_not_included: 2,
            threshold_method: ThresholdMethod::Delta,
            alpha: 0.05,
            limit54: Limit54 {
                cases: 5.0,
                period: 4,
            },
            powertrans: PowerTransform::TwoThirds,
            population_offset: false,
            inference_dispersion: InferenceDispersion::RCompatible,
        },
        other => panic!("unknown config {other}"),
    }
}

#[test]
fn farrington_flexible_monthly_reference() {
    let rows = read_csv("farrington_flexible.csv");
    let mut compared = 0usize;
    let mut ck = Check::default();
    for ((sid, cfg), grp) in groups(&rows, "config_id") {
        let s = load_series(&sid);
        let params = flex_params(&cfg);
        let nb = params.threshold_method != ThresholdMethod::Delta;
        let range = range_of(&grp);
        let res = farrington_flexible(&s, range.clone(), &params).unwrap();
        let nolimit = FarringtonFlexibleParams {
            limit54: Limit54 {
                cases: 0.0,
                period: 4,
            },
            ..params.clone()
        };
        let res0 = farrington_flexible(&s, range, &nolimit).unwrap();
        assert_eq!(res0.len(), res.len());
        for ((r, w), w0) in paired(&grp, &res, &mut compared).zip(&res0) {
            let ctx = format!("{sid}/{cfg} t={}", r["t"]);
            let ctx = ctx.as_str();
            let y = w.observed.unwrap();
            ck.num(ctx, "observed", num(r, "observed"), w.observed, 0.0);
            let masked = if w.limit54_suppressed {
                None
            } else {
                w.expected
            };
            ck.num(ctx, "expected", num(r, "expected"), masked, REL);
            ck.num(ctx, "upperbound", num(r, "upperbound"), w.upper, REL);
            ck.alarm(
                ctx,
                "alarm",
                flag(r, "alarm"),
                w.alarm,
                y,
                num(r, "upperbound"),
            );
            ck.num(ctx, "phi", num(r, "phi"), w.phi, REL);
            ck.flag(
                ctx,
                "trend_included",
                flag(r, "trend_included"),
                w.trend_included,
            );
            ck.num(ctx, "trend_coef", num(r, "trend_coef"), w.trend_coef, REL);
            if nb {
                ck.num(ctx, "mu0", num(r, "mu0"), w.mu0, REL);
            }
            ck.num(ctx, "pvalue", num(r, "pvalue"), w.p_value, REL);
            ck.num(ctx, "score", num(r, "score"), w.score, REL);
            let (e0, u0) = (num(r, "expected_nolimit54"), num(r, "upperbound_nolimit54"));
            ck.num(ctx, "expected_nolimit54", e0, w0.expected, REL);
            ck.num(ctx, "upperbound_nolimit54", u0, w0.upper, REL);
            ck.num(ctx, "upper_unsuppressed", u0, w.upper_unsuppressed, REL);
            ck.alarm(
                ctx,
                "alarm_nolimit54",
                flag(r, "alarm_nolimit54"),
                w0.alarm,
                y,
                u0,
            );
            let lo = num(r, "lowerbound_derived");
            ck.num(ctx, "lowerbound_derived", lo, w.lower, REL);
            ck.alarm(
                ctx,
                "lower_alarm_derived",
                flag(r, "lower_alarm_derived"),
                w.lower_alarm,
                y,
                lo,
            );
        }
    }
    ck.finish("farrington_flexible.csv (monthly)", rows.len(), compared);
}

#[test]
fn farrington_classic_monthly_reference() {
    let rows = read_csv("farrington_classic.csv");
    let mut compared = 0usize;
    let mut ck = Check::default();
    let params = FarringtonClassicParams {
        b: 5,
        w: 2,
        reweight: true,
        alpha: 0.05,
        trend: true,
        limit54: Limit54 {
            cases: 5.0,
            period: 4,
        },
        powertrans: PowerTransform::TwoThirds,
    };
    for ((sid, cfg), grp) in groups(&rows, "config_id") {
        let s = load_series(&sid);
        let res = farrington_classic(&s, range_of(&grp), &params).unwrap();
        for (r, w) in paired(&grp, &res, &mut compared) {
            let ctx = format!("{sid}/{cfg} t={}", r["t"]);
            let ctx = ctx.as_str();
            let y = w.observed.unwrap();
            ck.num(ctx, "observed", num(r, "observed"), w.observed, 0.0);
            ck.num(ctx, "expected", num(r, "expected"), w.expected, REL);
            // R writes 0 when limit54 suppresses the month
            let u = Some(w.upper.unwrap_or(0.0));
            ck.num(ctx, "upperbound", num(r, "upperbound"), u, REL);
            ck.alarm(ctx, "alarm", flag(r, "alarm"), w.alarm, y, w.upper);
            ck.flag(
                ctx,
                "trend_included",
                flag(r, "trend_included"),
                w.trend_included,
            );
            let cdf = num(r, "normal_cdf_transformed");
            ck.num(ctx, "normal_cdf_transformed", cdf, w.transformed_cdf, REL);
        }
    }
    ck.finish("farrington_classic.csv (monthly)", rows.len(), compared);
}

#[test]
fn ears_monthly_reference() {
    let rows = read_csv("ears.csv");
    let mut compared = 0usize;
    let mut ck = Check::default();
    for ((sid, method), grp) in groups(&rows, "method") {
        let s = load_series(&sid);
        let params = EarsParams {
            method: match method.as_str() {
                "C1" => EarsMethod::C1,
                "C2" => EarsMethod::C2,
                "C3" => EarsMethod::C3,
                other => panic!("unknown method {other}"),
            },
            baseline: num(&grp[0], "baseline").unwrap() as usize,
            alpha: Some(num(&grp[0], "alpha").unwrap()),
            min_sigma: num(&grp[0], "minSigma").unwrap(),
        };
        let res = ears_c(&s, range_of(&grp), &params).unwrap();
        for (r, w) in paired(&grp, &res, &mut compared) {
            let ctx = format!("{sid}/{method} t={}", r["t"]);
            let ctx = ctx.as_str();
            let y = w.observed.unwrap();
            ck.num(ctx, "observed", num(r, "observed"), w.observed, 0.0);
            ck.num(ctx, "upperbound", num(r, "upperbound"), w.upper, REL);
            ck.alarm(
                ctx,
                "alarm",
                flag(r, "alarm"),
                w.alarm,
                y,
                num(r, "upperbound"),
            );
        }
    }
    ck.finish("ears.csv (monthly)", rows.len(), compared);
}

#[test]
fn cusum_glm_monthly_reference() {
    let rows = read_csv("cusum.csv");
    let mut compared = 0usize;
    let mut ck = Check::default();
    for ((sid, cfg), grp) in groups(&rows, "config_id") {
        assert_eq!(cfg, "cusum_standard_glm");
        let s = load_series(&sid);
        // every series starts in month 1 (R: start = c(year, 1))
        let params = CusumParams {
            m: CusumReference::Glm,
            start_week: 1,
            ..Default::default()
        };
        let res = cusum(&s, range_of(&grp), &params).unwrap();
        for (r, w) in paired(&grp, &res, &mut compared) {
            let ctx = format!("{sid}/{cfg} t={}", r["t"]);
            let ctx = ctx.as_str();
            ck.num(ctx, "observed", num(r, "observed"), Some(w.observed), 0.0);
            ck.num(
                ctx,
                "reference_mean",
                num(r, "reference_mean"),
                Some(w.expected),
                REL,
            );
            ck.num(ctx, "cusum", num(r, "cusum"), Some(w.cusum), REL);
            ck.num(ctx, "upperbound", num(r, "upperbound"), Some(w.upper), REL);
            // alarm is S_t >= h: compared except at near ties of S_t and h
            let exp = flag(r, "alarm");
            if exp.unwrap_or(false) != w.alarm && (w.cusum - params.h).abs() <= 1e-6 * params.h {
                ck.near_ties.push(format!("{ctx} S={}", w.cusum));
            } else {
                ck.flag(ctx, "alarm", exp, w.alarm);
            }
        }
    }
    ck.finish("cusum.csv (monthly)", rows.len(), compared);
}

#[test]
fn glrpois_monthly_reference() {
    let rows = read_csv("glrpois.csv");
    let mut compared = 0usize;
    let mut ck = Check::default();
    for ((sid, cfg), grp) in groups(&rows, "config_id") {
        let s = load_series(&sid);
        let params = GlrPoisParams {
            direction: match cfg.as_str() {
                "glrpois_inc" => Direction::Increase,
                "glrpois_dec" => Direction::Decrease,
                other => panic!("unknown config {other}"),
            },
            ..Default::default()
        };
        let res = glr_pois(&s, range_of(&grp), &params).unwrap();
        for (r, w) in paired(&grp, &res, &mut compared) {
            let ctx = format!("{sid}/{cfg} t={}", r["t"]);
            let ctx = ctx.as_str();
            ck.num(ctx, "observed", num(r, "observed"), Some(w.observed), 0.0);
            ck.num(ctx, "mu0", num(r, "mu0"), Some(w.expected), REL);
            let g = num(r, "glr_statistic");
            ck.num(ctx, "glr_statistic", g, Some(w.glr_statistic), REL);
            ck.flag(ctx, "alarm", flag(r, "alarm"), w.alarm);
        }
    }
    ck.finish("glrpois.csv (monthly)", rows.len(), compared);
}

/// Negative control: the same counts treated as weekly (52 periods per year,
/// the default) cannot reproduce the monthly references, so the tests above
/// really depend on the frequency.
#[test]
fn weekly_frequency_does_not_reproduce_monthly_reference() {
    let rows = read_csv("farrington_flexible.csv");
    for ((sid, cfg), grp) in groups(&rows, "config_id") {
        let (counts, dates) = counts_of(&sid);
        let mut s = WeeklySeries::new(counts).unwrap();
        assert_eq!(s.periods_per_year(), 52);
        if let Some(d) = dates {
            s = s.dated(d).unwrap();
        }
        let res = farrington_flexible(&s, range_of(&grp), &flex_params(&cfg));
        let same = res.is_ok_and(|res| {
            grp.iter().zip(&res).all(|(r, w)| {
                num(r, "upperbound")
                    .zip(w.upper)
                    .is_none_or(|(e, g)| (e - g).abs() <= REL * e.abs() + 1e-9)
            })
        });
        assert!(
            !same,
            "{sid}/{cfg}: weekly frequency matched the monthly reference"
        );
    }
}
