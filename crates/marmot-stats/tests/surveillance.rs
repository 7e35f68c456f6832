//! Reproduces every row of the R `surveillance` 1.20.3 reference outputs in
//! `tests/reference/surveillance/` (see PROVENANCE.md there).

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test with a backtrace

use std::collections::HashMap;

use marmot_stats::surveillance::*;

mod common;
use common::{Row, opt as num, paired};

fn read_csv(name: &str) -> Vec<Row> {
    common::read_in("surveillance", name)
}

fn flag(row: &Row, col: &str) -> Option<bool> {
    num(row, col).map(|v| v != 0.0)
}

struct Ser {
    series: WeeklySeries,
    counts: Vec<f64>,
}

fn load_series(id: &str) -> Ser {
    let rows = read_csv(&format!("series_{id}.csv"));
    let counts: Vec<f64> = rows.iter().map(|r| num(r, "count").unwrap()).collect();
    let mut s = WeeklySeries::new(counts.clone()).unwrap();
    if rows[0]["date"] != "NA" {
        let d = rows
            .iter()
            .map(|r| Date::parse_iso(&r["date"]).unwrap())
            .collect();
        s = s.dated(d).unwrap();
    }
    if rows[0]["population"] != "NA" {
        s = s
            .with_population(rows.iter().map(|r| num(r, "population").unwrap()).collect())
            .unwrap();
    }
    Ser { series: s, counts }
}

/// Groups reference rows by (series, config) preserving order.
fn groups(rows: &[Row], cfg_col: &str) -> Vec<((String, String), Vec<Row>)> {
    let mut out: Vec<((String, String), Vec<Row>)> = Vec::new();
    for r in rows {
        let key = (r["series_id"].clone(), r[cfg_col].clone());
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(r.clone()),
            None => out.push((key, vec![r.clone()])),
        }
    }
    out
}

fn range_of(rows: &[Row]) -> std::ops::Range<usize> {
    let first = num(&rows[0], "t").unwrap() as usize - 1;
    let last = num(&rows[rows.len() - 1], "t").unwrap() as usize;
    first..last
}

#[derive(Default)]
struct Report {
    rows: usize,
    bad_rows: usize,
    failures: Vec<String>,
    near_ties: Vec<String>,
    cols: HashMap<String, (usize, usize)>,
    max_rel: HashMap<String, f64>,
}

impl Report {
    fn new() -> Self {
        Self::default()
    }
}

struct RowCheck<'a> {
    rep: &'a mut Report,
    ctx: String,
    ok: bool,
}

impl RowCheck<'_> {
    fn count(&mut self, col: &str, ok: bool, msg: String) {
        let e = self.rep.cols.entry(col.to_string()).or_insert((0, 0));
        e.1 += 1;
        if ok {
            e.0 += 1;
        } else {
            self.ok = false;
            self.rep.failures.push(format!("{} {col}: {msg}", self.ctx));
        }
    }
    /// numbers: relative tolerance `rel` (plus 1e-9 absolute); NA <-> None.
    fn num(&mut self, col: &str, expected: Option<f64>, got: Option<f64>, rel: f64) {
        let ok = match (expected, got) {
            (None, None) => true,
            (Some(e), Some(g)) => {
                if e != 0.0 {
                    let r = ((e - g) / e).abs();
                    let m = self.rep.max_rel.entry(col.to_string()).or_insert(0.0);
                    *m = m.max(r);
                }
                (e - g).abs() <= rel * e.abs() + 1e-9
            }
            _ => false,
        };
        self.count(col, ok, format!("expected {expected:?}, got {got:?}"));
    }
    fn flag(&mut self, col: &str, expected: Option<bool>, got: bool) {
        let ok = expected.unwrap_or(false) == got;
        self.count(col, ok, format!("expected {expected:?}, got {got}"));
    }
    /// alarm compared except where |y - U| <= 1e-6 U (README convention).
    fn alarm(&mut self, col: &str, expected: Option<bool>, got: bool, y: f64, u: Option<f64>) {
        if expected.unwrap_or(false) != got
            && let Some(u) = u
            && (y - u).abs() <= 1e-6 * u.abs()
        {
            self.rep
                .near_ties
                .push(format!("{} {col}: y={y} U={u}", self.ctx));
            self.count(col, true, String::new());
            return;
        }
        self.flag(col, expected, got);
    }
}

fn check_row<'a>(rep: &'a mut Report, ctx: String) -> RowCheck<'a> {
    RowCheck { rep, ctx, ok: true }
}

fn finish(rc: RowCheck<'_>) {
    rc.rep.rows += 1;
    if !rc.ok {
        rc.rep.bad_rows += 1;
    }
}

fn summarize(name: &str, rep: &Report) {
    println!(
        "== {name}: {} / {} rows fully matched",
        rep.rows - rep.bad_rows,
        rep.rows
    );
    let mut cols: Vec<_> = rep.cols.iter().collect();
    cols.sort();
    for (c, (ok, n)) in cols {
        let mr = rep
            .max_rel
            .get(c)
            .map_or(String::new(), |m| format!(" (max rel. diff {m:.1e})"));
        println!("   {c}: {ok}/{n}{mr}");
    }
    for t in &rep.near_ties {
        println!("   near tie (alarm not compared): {t}");
    }
    for f in rep.failures.iter().take(40) {
        println!("   MISMATCH {f}");
    }
    assert_eq!(rep.bad_rows, 0, "{name}: {} rows mismatched", rep.bad_rows);
}

#[test]
fn ears_reference() {
    let rows = read_csv("ears.csv");
    let mut compared = 0usize;
    let mut series: HashMap<String, Ser> = HashMap::new();
    let mut rep = Report::new();
    let mut grouped: Vec<((String, String, String), Vec<Row>)> = Vec::new();
    for r in &rows {
        let key = (
            r["series_id"].clone(),
            r["method"].clone(),
            r["alpha"].clone(),
        );
        match grouped.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(r.clone()),
            None => grouped.push((key, vec![r.clone()])),
        }
    }
    for ((sid, method, alpha), grp) in grouped {
        let s = series
            .entry(sid.clone())
            .or_insert_with(|| load_series(&sid));
        let params = EarsParams {
            method: match method.as_str() {
                "C1" => EarsMethod::C1,
                "C2" => EarsMethod::C2,
                _ => EarsMethod::C3,
            },
            baseline: num(&grp[0], "baseline").unwrap() as usize,
            alpha: Some(alpha.parse().unwrap()),
            min_sigma: num(&grp[0], "minSigma").unwrap(),
        };
        let res = ears_c(&s.series, range_of(&grp), &params).unwrap();
        assert_eq!(res.len(), grp.len());
        for (r, w) in paired(&grp, &res, &mut compared) {
            let mut c = check_row(&mut rep, format!("{sid}/{method}/{alpha} t={}", r["t"]));
            c.num("observed", num(r, "observed"), w.observed, 0.0);
            c.num("upperbound", num(r, "upperbound"), w.upper, 1e-6);
            c.alarm(
                "alarm",
                flag(r, "alarm"),
                w.alarm,
                w.observed.unwrap(),
                num(r, "upperbound"),
            );
            finish(c);
        }
    }
    summarize("ears.csv", &rep);
    assert_eq!(compared, rows.len(), "every reference row compared");
}

#[test]
fn cusum_reference() {
    let rows = read_csv("cusum.csv");
    let mut compared = 0usize;
    let mut rep = Report::new();
    for ((sid, cfg), grp) in groups(&rows, "config_id") {
        let s = load_series(&sid);
        let params = match cfg.as_str() {
            "cusum_standard_mean" => CusumParams::default(),
            "cusum_standard_glm" => CusumParams {
                m: CusumReference::Glm,
                ..Default::default()
            },
            "cusum_anscombe_mean" => CusumParams {
                trans: CusumTransform::Anscombe,
                ..Default::default()
            },
            other => panic!("unknown config {other}"),
        };
        let res = cusum(&s.series, range_of(&grp), &params).unwrap();
        for (r, w) in paired(&grp, &res, &mut compared) {
            let mut c = check_row(&mut rep, format!("{sid}/{cfg} t={}", r["t"]));
            c.num("observed", num(r, "observed"), Some(w.observed), 0.0);
            c.num(
                "reference_mean",
                num(r, "reference_mean"),
                Some(w.expected),
                1e-6,
            );
            c.num("cusum", num(r, "cusum"), Some(w.cusum), 1e-6);
            c.num("upperbound", num(r, "upperbound"), Some(w.upper), 1e-6);
            // alarm is S_t >= h: compare except at near ties of S_t and h
            let exp = flag(r, "alarm");
            if exp.unwrap_or(false) != w.alarm && (w.cusum - params.h).abs() <= 1e-6 * params.h {
                c.rep
                    .near_ties
                    .push(format!("{sid}/{cfg} t={} S={}", r["t"], w.cusum));
            } else {
                c.flag("alarm", exp, w.alarm);
            }
            finish(c);
        }
    }
    summarize("cusum.csv", &rep);
    assert_eq!(compared, rows.len(), "every reference row compared");
}

#[test]
fn glrpois_reference() {
    let rows = read_csv("glrpois.csv");
    let mut compared = 0usize;
    let mut rep = Report::new();
    for ((sid, cfg), grp) in groups(&rows, "config_id") {
        let s = load_series(&sid);
        let params = GlrPoisParams {
            direction: if cfg.ends_with("dec") {
                Direction::Decrease
            } else {
                Direction::Increase
            },
            ..Default::default()
        };
        let res = glr_pois(&s.series, range_of(&grp), &params).unwrap();
        for (r, w) in paired(&grp, &res, &mut compared) {
            let mut c = check_row(&mut rep, format!("{sid}/{cfg} t={}", r["t"]));
            c.num("observed", num(r, "observed"), Some(w.observed), 0.0);
            c.num("mu0", num(r, "mu0"), Some(w.expected), 1e-6);
            c.num(
                "glr_statistic",
                num(r, "glr_statistic"),
                Some(w.glr_statistic),
                1e-6,
            );
            c.flag("alarm", flag(r, "alarm"), w.alarm);
            finish(c);
        }
    }
    summarize("glrpois.csv", &rep);
    assert_eq!(compared, rows.len(), "every reference row compared");
}

fn flex_params(cfg: &str) -> FarringtonFlexibleParams {
    match cfg {
        "noufaily" => FarringtonFlexibleParams::default(),
        "noufaily_trend1" => FarringtonFlexibleParams {
            p_threshold_trend: 1.0,
            ..Default::default()
        },
        "farrington_flex" => FarringtonFlexibleParams::farrington_1996(),
        "noufaily_pop" => FarringtonFlexibleParams {
            population_offset: true,
            ..Default::default()
        },
        "farrington_flex_pop" => FarringtonFlexibleParams {
            population_offset: true,
            ..FarringtonFlexibleParams::farrington_1996()
        },
        other => panic!("unknown config {other}"),
    }
}

#[test]
fn farrington_flexible_reference() {
    let rows = read_csv("farrington_flexible.csv");
    let mut compared = 0usize;
    let mut rep = Report::new();
    for ((sid, cfg), grp) in groups(&rows, "config_id") {
        let s = load_series(&sid);
        let params = flex_params(&cfg);
        let nb = params.threshold_method != ThresholdMethod::Delta;
        let range = range_of(&grp);
        let res = farrington_flexible(&s.series, range.clone(), &params).unwrap();
        let nolimit = FarringtonFlexibleParams {
            limit54: Limit54 {
                cases: 0.0,
                period: 4,
            },
            ..params.clone()
        };
        let res0 = farrington_flexible(&s.series, range, &nolimit).unwrap();
        assert_eq!(res0.len(), res.len());
        for ((r, w), w0) in paired(&grp, &res, &mut compared).zip(&res0) {
            let y = s.counts[w.index];
            let mut c = check_row(&mut rep, format!("{sid}/{cfg} t={}", r["t"]));
            c.num("observed", num(r, "observed"), w.observed, 0.0);
            let masked = if w.limit54_suppressed {
                None
            } else {
                w.expected
            };
            c.num("expected", num(r, "expected"), masked, 1e-6);
            c.num("upperbound", num(r, "upperbound"), w.upper, 1e-6);
            c.alarm("alarm", flag(r, "alarm"), w.alarm, y, num(r, "upperbound"));
            c.num("phi", num(r, "phi"), w.phi, 1e-6);
            c.flag(
                "trend_included",
                flag(r, "trend_included"),
                w.trend_included,
            );
            c.num("trend_coef", num(r, "trend_coef"), w.trend_coef, 1e-6);
            c.num("population", num(r, "population"), w.population, 0.0);
            if nb {
                c.num("mu0", num(r, "mu0"), w.mu0, 1e-6);
            }
            // pvalue / score (README: "compare loosely"; they match to 1e-6 here)
            c.num("pvalue", num(r, "pvalue"), w.p_value, 1e-6);
            c.num("score", num(r, "score"), w.score, 1e-6);
            c.num(
                "expected_nolimit54",
                num(r, "expected_nolimit54"),
                w0.expected,
                1e-6,
            );
            c.num(
                "upperbound_nolimit54",
                num(r, "upperbound_nolimit54"),
                w0.upper,
                1e-6,
            );
            c.num(
                "upper_unsuppressed==nolimit54",
                num(r, "upperbound_nolimit54"),
                w.upper_unsuppressed,
                1e-6,
            );
            c.alarm(
                "alarm_nolimit54",
                flag(r, "alarm_nolimit54"),
                w0.alarm,
                y,
                num(r, "upperbound_nolimit54"),
            );
            c.num(
                "lowerbound_derived",
                num(r, "lowerbound_derived"),
                w.lower,
                1e-6,
            );
            c.alarm(
                "lower_alarm_derived",
                flag(r, "lower_alarm_derived"),
                w.lower_alarm,
                y,
                num(r, "lowerbound_derived"),
            );
            finish(c);
        }
    }
    summarize("farrington_flexible.csv", &rep);
    assert_eq!(compared, rows.len(), "every reference row compared");
}

#[test]
fn farrington_classic_reference() {
    let rows = read_csv("farrington_classic.csv");
    let mut compared = 0usize;
    let mut rep = Report::new();
    for ((sid, cfg), grp) in groups(&rows, "config_id") {
        let s = load_series(&sid);
        let res = farrington_classic(
            &s.series,
            range_of(&grp),
            &FarringtonClassicParams::default(),
        )
        .unwrap();
        for (r, w) in paired(&grp, &res, &mut compared) {
            let y = s.counts[w.index];
            let mut c = check_row(&mut rep, format!("{sid}/{cfg} t={}", r["t"]));
            c.num("observed", num(r, "observed"), w.observed, 0.0);
            c.num("expected", num(r, "expected"), w.expected, 1e-6);
            // R writes 0 when limit54 suppresses the week
            c.num(
                "upperbound",
                num(r, "upperbound"),
                Some(w.upper.unwrap_or(0.0)),
                1e-6,
            );
            c.alarm("alarm", flag(r, "alarm"), w.alarm, y, w.upper);
            c.flag(
                "trend_included",
                flag(r, "trend_included"),
                w.trend_included,
            );
            c.num(
                "normal_cdf_transformed",
                num(r, "normal_cdf_transformed"),
                w.transformed_cdf,
                1e-6,
            );
            finish(c);
        }
    }
    summarize("farrington_classic.csv", &rep);
    assert_eq!(compared, rows.len(), "every reference row compared");
}
