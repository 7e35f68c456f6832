//! `marmot detect` engine (`surveillance::detect`): CSV text in, rows out.
//! Reproduces the R `surveillance` 1.20.3 reference outputs in
//! `tests/reference/surveillance/` from CSV text built from the reference
//! input series, with the tolerances of tests/surveillance.rs.
#![allow(clippy::unwrap_used)]

use marmot_stats::surveillance::detect::*;

mod common;
use common::{Row, opt as num, paired};

fn read_csv(name: &str) -> Vec<Row> {
    common::read_in("surveillance", name)
}

fn flag(row: &Row, col: &str) -> bool {
    num(row, col).is_some_and(|v| v != 0.0)
}

/// Builds the `marmot detect` input text for a reference series, with the
/// rows `ts` (1-based) marked in_window. Varies the header case, line ends,
/// BOM and column order by series to exercise the parser.
fn series_text(id: &str, ts: &[usize]) -> String {
    let rows = read_csv(&format!("series_{id}.csv"));
    let has_pop = rows[0]["population"] != "NA";
    let (nl, bom) = match id {
        "campy" => ("\r\n", "\u{feff}"),
        "momo75" => ("\r\n", ""),
        _ => ("\n", ""),
    };
    let mut s = String::from(bom);
    if id == "newport" {
        s.push_str("In_Window,Date,Count,extra");
    } else {
        s.push_str("date,COUNT,in_window");
    }
    if has_pop {
        s.push_str(",Population");
    }
    s.push_str(nl);
    for r in &rows {
        let t: usize = r["t"].parse().expect("t");
        let w = u8::from(ts.contains(&t));
        if id == "newport" {
            s.push_str(&format!("{w},{},{},x", r["date"], r["count"]));
        } else {
            s.push_str(&format!("{},{},{w}", r["date"], r["count"]));
        }
        if has_pop {
            s.push_str(&format!(",{}", r["population"]));
        }
        s.push_str(nl);
    }
    s
}

fn groups(rows: &[Row], cols: &[&str]) -> Vec<(Vec<String>, Vec<Row>)> {
    let mut out: Vec<(Vec<String>, Vec<Row>)> = Vec::new();
    for r in rows {
        let key: Vec<String> = cols.iter().map(|c| r[*c].clone()).collect();
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(r.clone()),
            None => out.push((key, vec![r.clone()])),
        }
    }
    out
}

fn extra(row: &DetectRow, name: &str) -> Option<f64> {
    row.extra
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no field {name}"))
        .1
}

fn run_text(id: &str, grp: &[Row], method: &str, params: &[(&str, &str)]) -> Vec<DetectRow> {
    let ts: Vec<usize> = grp.iter().map(|r| r["t"].parse().expect("t")).collect();
    let input = parse_series_csv(&series_text(id, &ts)).expect("parse series");
    let method = Method::parse(method).expect("method");
    let params = parse_params(method, params).expect("params");
    let out = run(&input, method, &params).expect("run");
    assert_eq!(out.len(), grp.len());
    out
}

#[derive(Default)]
struct Check {
    n: usize,
    failures: Vec<String>,
}

impl Check {
    fn num(&mut self, ctx: &str, col: &str, e: Option<f64>, g: Option<f64>, rel: f64) {
        self.n += 1;
        let ok = match (e, g) {
            (None, None) => true,
            (Some(e), Some(g)) => (e - g).abs() <= rel * e.abs() + 1e-9,
            _ => false,
        };
        if !ok {
            self.failures
                .push(format!("{ctx} {col}: expected {e:?}, got {g:?}"));
        }
    }
    /// identical alarms except at near ties |y - U| <= 1e-6 U (README).
    fn alarm(&mut self, ctx: &str, col: &str, e: bool, g: bool, y: f64, u: Option<f64>) {
        self.n += 1;
        if e != g && !u.is_some_and(|u| (y - u).abs() <= 1e-6 * u.abs()) {
            self.failures
                .push(format!("{ctx} {col}: expected {e}, got {g}"));
        }
    }
    fn done(self, name: &str) {
        for f in self.failures.iter().take(30) {
            println!("MISMATCH {f}");
        }
        println!("{name}: {} checks", self.n);
        assert!(
            self.failures.is_empty(),
            "{name}: {} mismatches",
            self.failures.len()
        );
    }
}

#[test]
fn farrington_flexible_via_detect() {
    let rows = read_csv("farrington_flexible.csv");
    let mut compared = 0usize;
    let mut c = Check::default();
    let mut configs = 0;
    for (key, grp) in groups(&rows, &["series_id", "config_id"]) {
        let (sid, cfg) = (&key[0], key[1].as_str());
        let flex96: &[(&str, &str)] = &[
            ("weights_threshold", "1"),
            ("no_periods", "1"),
            ("past_weeks_not_included", "3"),
            ("threshold_method", "delta"),
        ];
        let params: Vec<(&str, &str)> = match cfg {
            "noufaily" => vec![],
            "noufaily_trend1" => vec![("p_threshold_trend", "1")],
            "farrington_flex" => flex96.to_vec(),
            "noufaily_pop" => vec![("population_offset", "true")],
            "farrington_flex_pop" => {
                let mut v = flex96.to_vec();
                v.push(("populationOffset", "TRUE"));
                v
            }
            other => panic!("unknown config {other}"),
        };
        configs += 1;
        let out = run_text(sid, &grp, "farrington-flexible", &params);
        for (r, w) in paired(&grp, &out, &mut compared) {
            let ctx = format!("{sid}/{cfg} t={}", r["t"]);
            assert_eq!(w.t.to_string(), r["t"]);
            let y = num(r, "observed").expect("observed");
            c.num(&ctx, "observed", Some(y), w.observed, 0.0);
            // R writes NA for the expected value of limit54-suppressed weeks
            let masked = if extra(w, "limit54_suppressed") == Some(1.0) {
                None
            } else {
                w.expected
            };
            c.num(&ctx, "expected", num(r, "expected"), masked, 1e-6);
            c.num(&ctx, "upperbound", num(r, "upperbound"), w.upper, 1e-6);
            c.alarm(
                &ctx,
                "alarm",
                flag(r, "alarm"),
                w.alarm,
                y,
                num(r, "upperbound"),
            );
            c.num(&ctx, "phi", num(r, "phi"), extra(w, "phi"), 1e-6);
            c.num(&ctx, "pvalue", num(r, "pvalue"), extra(w, "p_value"), 1e-6);
            c.num(
                &ctx,
                "trend_included",
                num(r, "trend_included"),
                extra(w, "trend_included"),
                0.0,
            );
            c.num(
                &ctx,
                "upperbound_nolimit54",
                num(r, "upperbound_nolimit54"),
                extra(w, "upper_unsuppressed"),
                1e-6,
            );
            c.num(
                &ctx,
                "lowerbound",
                num(r, "lowerbound_derived"),
                w.lower,
                1e-6,
            );
            c.alarm(
                &ctx,
                "lower_alarm",
                flag(r, "lower_alarm_derived"),
                extra(w, "lower_alarm") == Some(1.0),
                y,
                num(r, "lowerbound_derived"),
            );
        }
    }
    assert_eq!(configs, 14);
    c.done("farrington_flexible via detect");
    assert_eq!(compared, rows.len(), "every reference row compared");
}

#[test]
fn farrington_classic_via_detect() {
    let rows = read_csv("farrington_classic.csv");
    let mut compared = 0usize;
    let mut c = Check::default();
    for (key, grp) in groups(&rows, &["series_id", "config_id"]) {
        let sid = &key[0];
        let out = run_text(sid, &grp, "farrington", &[]);
        for (r, w) in paired(&grp, &out, &mut compared) {
            let ctx = format!("{sid} t={}", r["t"]);
            let y = num(r, "observed").expect("observed");
            c.num(&ctx, "expected", num(r, "expected"), w.expected, 1e-6);
            c.num(
                &ctx,
                "upperbound",
                num(r, "upperbound"),
                Some(w.upper.unwrap_or(0.0)),
                1e-6,
            );
            c.alarm(&ctx, "alarm", flag(r, "alarm"), w.alarm, y, w.upper);
            c.num(
                &ctx,
                "normal_cdf_transformed",
                num(r, "normal_cdf_transformed"),
                extra(w, "normal_cdf_transformed"),
                1e-6,
            );
        }
    }
    c.done("farrington_classic via detect");
    assert_eq!(compared, rows.len(), "every reference row compared");
}

#[test]
fn ears_via_detect() {
    let rows = read_csv("ears.csv");
    let mut compared = 0usize;
    let mut c = Check::default();
    let mut seen_c1 = false;
    for (key, grp) in groups(&rows, &["series_id", "method", "alpha"]) {
        let (sid, m, alpha) = (&key[0], key[1].as_str(), key[2].as_str());
        let method = format!("ears-{}", m.to_ascii_lowercase());
        // C1 with alpha = 0.001 is the package default: no parameters
        let params: Vec<(&str, &str)> = if m == "C1" {
            seen_c1 = true;
            assert_eq!(alpha, "0.001");
            vec![]
        } else {
            vec![
                ("alpha", alpha),
                ("baseline", grp[0]["baseline"].as_str()),
                ("minSigma", grp[0]["minSigma"].as_str()),
            ]
        };
        let out = run_text(sid, &grp, &method, &params);
        for (r, w) in paired(&grp, &out, &mut compared) {
            let ctx = format!("{sid}/{m}/{alpha} t={}", r["t"]);
            let y = num(r, "observed").expect("observed");
            c.num(&ctx, "observed", Some(y), w.observed, 0.0);
            c.num(&ctx, "upperbound", num(r, "upperbound"), w.upper, 1e-6);
            c.alarm(
                &ctx,
                "alarm",
                flag(r, "alarm"),
                w.alarm,
                y,
                num(r, "upperbound"),
            );
        }
    }
    assert!(seen_c1);
    c.done("ears via detect");
    assert_eq!(compared, rows.len(), "every reference row compared");
}

#[test]
fn cusum_via_detect() {
    let rows = read_csv("cusum.csv");
    let mut compared = 0usize;
    let mut c = Check::default();
    for (key, grp) in groups(&rows, &["series_id", "config_id"]) {
        let (sid, cfg) = (&key[0], key[1].as_str());
        let params: Vec<(&str, &str)> = match cfg {
            "cusum_standard_mean" => vec![],
            "cusum_standard_glm" => vec![("m", "glm"), ("k", "1.04"), ("h", "2.26")],
            "cusum_anscombe_mean" => vec![("trans", "anscombe")],
            other => panic!("unknown config {other}"),
        };
        let out = run_text(sid, &grp, "cusum", &params);
        for (r, w) in paired(&grp, &out, &mut compared) {
            let ctx = format!("{sid}/{cfg} t={}", r["t"]);
            c.num(
                &ctx,
                "reference_mean",
                num(r, "reference_mean"),
                w.expected,
                1e-6,
            );
            c.num(&ctx, "cusum", num(r, "cusum"), extra(w, "cusum"), 1e-6);
            c.num(&ctx, "upperbound", num(r, "upperbound"), w.upper, 1e-6);
            let s = extra(w, "cusum").unwrap_or(f64::NAN);
            if flag(r, "alarm") != w.alarm && (s - 2.26).abs() > 1e-6 * 2.26 {
                c.failures.push(format!("{ctx} alarm"));
            }
        }
    }
    c.done("cusum via detect");
    assert_eq!(compared, rows.len(), "every reference row compared");
}

#[test]
fn glr_via_detect() {
    let rows = read_csv("glrpois.csv");
    let mut compared = 0usize;
    let mut c = Check::default();
    for (key, grp) in groups(&rows, &["series_id", "config_id"]) {
        let (sid, cfg) = (&key[0], key[1].as_str());
        let dir = if cfg.ends_with("dec") { "dec" } else { "inc" };
        let out = run_text(sid, &grp, "glr-poisson", &[("direction", dir)]);
        for (r, w) in paired(&grp, &out, &mut compared) {
            let ctx = format!("{sid}/{cfg} t={}", r["t"]);
            c.num(&ctx, "mu0", num(r, "mu0"), w.expected, 1e-6);
            c.num(
                &ctx,
                "glr_statistic",
                num(r, "glr_statistic"),
                extra(w, "glr_statistic"),
                1e-6,
            );
            if flag(r, "alarm") != w.alarm {
                c.failures.push(format!("{ctx} alarm"));
            }
        }
    }
    c.done("glrpois via detect");
    assert_eq!(compared, rows.len(), "every reference row compared");
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

fn csv_error(text: &str) -> (Option<usize>, Option<String>, String) {
    match parse_series_csv(text) {
        Err(DetectError::Csv {
            row,
            column,
            message,
        }) => (row, column, message),
        other => panic!("expected a CSV error, got {other:?}"),
    }
}

#[test]
fn series_csv_basics() {
    let text = "\u{feff}Count,DATE\r\n1,2020-01-06\r\n2,2020-01-13\r\nNA,2020-01-20\r\n";
    let input = parse_series_csv(text).unwrap();
    assert_eq!(input.series().len(), 3);
    assert_eq!(input.series().counts()[2], None);
    assert!(input.series().dates().is_some());
    assert_eq!(input.evaluated(), &[0, 1, 2]);
    // default window: the last 52 rows
    let long: String = std::iter::once("count\n".to_string())
        .chain((0..60).map(|i| format!("{i}\n")))
        .collect();
    let input = parse_series_csv(&long).unwrap();
    assert_eq!(input.evaluated(), (8..60).collect::<Vec<_>>().as_slice());
    assert!(input.series().dates().is_none());
    // a NA date makes the series undated (52 weeks per year) but the row keeps its date
    let input = parse_series_csv("count,date\n1,2020-01-06\n2,NA\n").unwrap();
    assert!(input.series().dates().is_none());
    assert_eq!(input.dates()[0].unwrap().to_string(), "2020-01-06");
    assert_eq!(input.dates()[1], None);
    // all-NA population = no population
    let input = parse_series_csv("count,population\n1,NA\n2,\n").unwrap();
    assert!(input.series().population().is_none());
}

#[test]
fn series_csv_errors_name_row_and_column() {
    let (row, col, msg) = csv_error("date,n\n2020-01-06,1\n");
    assert_eq!((row, col.as_deref()), (None, Some("count")));
    assert!(msg.contains("date, n"), "{msg}");

    let (row, col, _) = csv_error("count\n1\n2\nabc\n");
    assert_eq!((row, col.as_deref()), (Some(3), Some("count")));
    let (row, col, _) = csv_error("count\n1\n-2\n");
    assert_eq!((row, col.as_deref()), (Some(2), Some("count")));
    let (row, col, _) = csv_error("count,date\n1,2020-01-06\n2,2020-02-30\n");
    assert_eq!((row, col.as_deref()), (Some(2), Some("date")));
    let (row, col, _) = csv_error("count,date\n1,2020-01-06\n2,2020-01-06\n");
    assert_eq!((row, col.as_deref()), (Some(2), Some("date")));
    let (row, col, _) = csv_error("count,population\n1,100\n2,NA\n");
    assert_eq!((row, col.as_deref()), (Some(2), Some("population")));
    let (row, col, _) = csv_error("count,population\n1,0\n");
    assert_eq!((row, col.as_deref()), (Some(1), Some("population")));
    let (row, col, _) = csv_error("count,in_window\n1,0\n2,2\n");
    assert_eq!((row, col.as_deref()), (Some(2), Some("in_window")));
    let (_, col, _) = csv_error("count,in_window\n1,0\n2,0\n");
    assert_eq!(col.as_deref(), Some("in_window"));
    let (row, _, _) = csv_error("count,date\n1,2020-01-06\n2\n");
    assert_eq!(row, Some(2));
    let (_, col, _) = csv_error("count,Count\n1,1\n");
    assert_eq!(col.as_deref(), Some("count"));
    let (_, _, msg) = csv_error("count\n");
    assert!(msg.contains("no data rows"));
    let e = parse_series_csv("count\n1\nx\n").unwrap_err();
    assert_eq!(e.to_string(), "row 2, column `count`: `x` is not a number");
}

// ---------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------

#[test]
fn default_params_are_the_existing_defaults() {
    use marmot_stats::surveillance::*;
    let none: &[(&str, &str)] = &[];
    assert_eq!(
        parse_params(Method::FarringtonFlexible, none).unwrap(),
        MethodParams::FarringtonFlexible(FarringtonFlexibleParams::noufaily_2013())
    );
    assert_eq!(
        parse_params(Method::Farrington, none).unwrap(),
        MethodParams::Farrington(FarringtonClassicParams::default())
    );
    assert_eq!(
        parse_params(Method::Cusum, none).unwrap(),
        MethodParams::Cusum(CusumParams::default())
    );
    assert_eq!(
        parse_params(Method::GlrPoisson, none).unwrap(),
        MethodParams::GlrPoisson(GlrPoisParams::default())
    );
    assert_eq!(
        parse_params(Method::EarsC3, none).unwrap(),
        MethodParams::Ears(EarsParams {
            method: EarsMethod::C3,
            ..Default::default()
        })
    );
}

#[test]
fn params_round_trip() {
    let sets: Vec<(Method, Vec<(&str, &str)>)> = vec![
        (Method::FarringtonFlexible, vec![]),
        (
            Method::FarringtonFlexible,
            vec![
                ("b", "3"),
                ("w", "2"),
                ("reweight", "false"),
                ("weights_threshold", "1.5"),
                ("trend", "F"),
                ("p_threshold_trend", "0.1"),
                ("no_periods", "1"),
                ("past_weeks_not_included", "3"),
                ("threshold_method", "muan"),
                ("alpha", "0.01"),
                ("limit54", "c(0, 4)"),
                ("powertrans", "1/2"),
                ("population_offset", "true"),
                ("inference_dispersion", "pearson"),
            ],
        ),
        (
            Method::Farrington,
            vec![("b", "4"), ("powertrans", "none"), ("limit54", "3,2")],
        ),
        (
            Method::EarsC2,
            vec![("baseline", "5"), ("min_sigma", "0.5")],
        ),
        (Method::EarsC1, vec![("alpha", "0.025")]),
        (
            Method::Cusum,
            vec![("m", "3.5"), ("trans", "rossi"), ("start_week", "40")],
        ),
        (
            Method::Cusum,
            vec![("trans", "pearsonNegBin"), ("alpha", "0.2"), ("m", "glm")],
        ),
        (
            Method::GlrPoisson,
            vec![
                ("c.ARL", "4.5"),
                ("dir", "dec"),
                ("Mtilde", "2"),
                ("M", "10"),
                ("harmonics", "2"),
                ("trend", "true"),
            ],
        ),
    ];
    for (m, pairs) in sets {
        let p = parse_params(m, &pairs).unwrap();
        if !pairs.is_empty() {
            assert_ne!(p, m.default_params(), "{m} {pairs:?}");
        }
        let written = p.to_pairs();
        let again = parse_params(m, &written).unwrap();
        assert_eq!(again, p, "{m}: {written:?}");
        // and through the command-line syntax
        let args: Vec<(String, String)> = written
            .iter()
            .map(|(n, v)| parse_param_arg(&format!("{n}={v}")).unwrap())
            .collect();
        assert_eq!(parse_params(m, &args).unwrap(), p);
        assert!(m.param_names().len() >= written.len());
    }
}

#[test]
fn param_errors_name_parameter_and_allowed_values() {
    let e = parse_params(Method::Cusum, &[("kk", "1")]).unwrap_err();
    assert!(matches!(e, DetectError::UnknownParameter { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("`kk`") && msg.contains("k, h, m, trans"),
        "{msg}"
    );

    let e = parse_params(
        Method::FarringtonFlexible,
        &[("threshold_method", "Noufaily")],
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("threshold_method") && msg.contains("delta, nbPlugin, muan"),
        "{msg}"
    );
    for (m, n, v) in [
        (Method::FarringtonFlexible, "alpha", "1.5"),
        (Method::FarringtonFlexible, "b", "0"),
        (Method::FarringtonFlexible, "b", "two"),
        (Method::FarringtonFlexible, "b", "18446744073709551615"),
        (Method::FarringtonFlexible, "w", "27"),
        (Method::EarsC1, "baseline", "100000000000"),
        (Method::FarringtonFlexible, "limit54", "5"),
        (Method::FarringtonFlexible, "powertrans", "3/4"),
        (Method::FarringtonFlexible, "reweight", "maybe"),
        (Method::FarringtonFlexible, "inference_dispersion", "x"),
        (Method::EarsC1, "baseline", "2"),
        (Method::EarsC1, "min_sigma", "-1"),
        (Method::Cusum, "trans", "log"),
        (Method::Cusum, "m", "-3"),
        (Method::GlrPoisson, "direction", "up"),
        (Method::GlrPoisson, "c_arl", "NaN"),
    ] {
        match parse_params(m, &[(n, v)]) {
            Err(DetectError::InvalidParameter { name, value, .. }) => {
                assert_eq!((name.as_str(), value.as_str()), (n, v));
            }
            other => panic!("{m} {n}={v}: {other:?}"),
        }
    }
    // alpha of CUSUM only with pearsonNegBin; no duplicates
    assert!(parse_params(Method::Cusum, &[("alpha", "0.2")]).is_err());
    assert!(parse_params(Method::EarsC1, &[("alpha", "0.1"), ("alpha", "0.2")]).is_err());
    // EARS has no `b`
    assert!(matches!(
        parse_params(Method::EarsC1, &[("b", "5")]),
        Err(DetectError::UnknownParameter { .. })
    ));
    assert!(parse_param_arg("novalue").is_err());
    assert_eq!(
        parse_param_arg(" b = 5 ").unwrap(),
        ("b".to_string(), "5".to_string())
    );
}

// ---------------------------------------------------------------------------
// Running and output
// ---------------------------------------------------------------------------

fn small_series(n: usize, window: &[usize]) -> SeriesInput {
    let mut s = String::from("count,in_window\n");
    for i in 1..=n {
        let w = u8::from(window.contains(&i));
        s.push_str(&format!("{},{w}\n", 3 + (i * 7) % 5));
    }
    parse_series_csv(&s).unwrap()
}

#[test]
fn run_errors() {
    // CUSUM/GLR need one consecutive block
    let input = small_series(30, &[20, 21, 25]);
    let p = parse_params(Method::Cusum, &[] as &[(&str, &str)]).unwrap();
    let e = run(&input, Method::Cusum, &p).unwrap_err();
    assert!(e.to_string().contains("consecutive"), "{e}");
    // EARS evaluates any set of rows
    let p = Method::EarsC1.default_params();
    let out = run(&input, Method::EarsC1, &p).unwrap();
    assert_eq!(
        out.iter().map(|r| r.t).collect::<Vec<_>>(),
        vec![20, 21, 25]
    );
    // mismatched parameters
    assert!(matches!(
        run(&input, Method::Cusum, &p),
        Err(DetectError::ParamsMismatch { .. })
    ));
    // not enough history: 1-based rows in the message
    let input = small_series(30, &[5, 6]);
    let e = run(&input, Method::EarsC1, &p).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ears-c1: not enough history to evaluate row t=5: the first row that can be \
         evaluated is t=8 (set in_window to 0 for earlier rows)"
    );
    let e = run(
        &input,
        Method::FarringtonFlexible,
        &Method::FarringtonFlexible.default_params(),
    )
    .unwrap_err();
    assert!(matches!(e, DetectError::Method { .. }), "{e}");
    // population offset without population
    let input = small_series(400, &[400]);
    let p = parse_params(Method::FarringtonFlexible, &[("population_offset", "true")]).unwrap();
    let e = run(&input, Method::FarringtonFlexible, &p).unwrap_err();
    assert!(e.to_string().contains("population"), "{e}");
}

#[test]
fn csv_and_json_output() {
    let text = "date,count\n2020-01-06,3\n2020-01-13,4\n2020-01-20,2\n2020-01-27,5\n\
                2020-02-03,3\n2020-02-10,4\n2020-02-17,6\n2020-02-24,20\n";
    let input = parse_series_csv(text).unwrap();
    let p = Method::EarsC1.default_params();
    // only the last row is evaluable (baseline 7)
    let sub = SeriesInput::new(input.series().clone(), vec![7]).unwrap();
    let rows = run(&sub, Method::EarsC1, &p).unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].alarm);
    assert_eq!(rows[0].expected, Some(27.0 / 7.0));
    let csv = to_csv(&rows);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "t,date,observed,expected,lower,upper,alarm,sigma,score"
    );
    let fields: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&fields[..3], &["8", "2020-02-24", "20"]);
    assert_eq!(fields[4], "");
    assert_eq!(fields[6], "1");
    assert_eq!(fields[3].parse::<f64>().unwrap(), 27.0 / 7.0);
    assert!(lines.next().is_none());

    let json = to_json(&rows);
    assert!(json.starts_with("[\n  {\"t\": 8, \"date\": \"2020-02-24\", \"observed\": 20, "));
    assert!(json.contains("\"lower\": null"));
    assert!(json.contains("\"alarm\": 1, \"sigma\": "));
    assert!(json.trim_end().ends_with("}\n]"));
    assert_eq!(to_json(&[]), "[]\n");
    assert_eq!(to_csv(&[]), "t,date,observed,expected,lower,upper,alarm\n");

    // round trip of the CSV output through the csv crate
    let mut rdr = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(rdr.records().count(), 1);
}
