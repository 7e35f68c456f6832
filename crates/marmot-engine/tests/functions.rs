//! The SQL statistical functions, checked through SQL against the PHEindicatormethods
//! reference outputs kept in `marmot-stats/tests/reference/phe-methods`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int32Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::execution::FunctionRegistry;
use datafusion::prelude::SessionContext;
use marmot_engine::functions::{FunctionKind, catalogue, register_all};
use marmot_stats::{ConfidenceLevel, crude_rate, wilson_interval};

/// Relative tolerance (absolute when the reference value is 0).
const TOL: f64 = 1e-9;

type Row = HashMap<String, String>;

fn read(file: &str) -> Vec<Row> {
    let path = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../marmot-stats/tests/reference/phe-methods")
    .join(file);
    let mut reader = csv::Reader::from_path(&path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let headers = reader.headers().expect("headers").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("record");
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn opt(row: &Row, col: &str) -> Option<f64> {
    let s = row.get(col).unwrap_or_else(|| panic!("no column {col}"));
    (s != "NA").then(|| {
        s.parse()
            .unwrap_or_else(|_| panic!("{col}: bad number {s}"))
    })
}

fn num(row: &Row, col: &str) -> f64 {
    opt(row, col).unwrap_or_else(|| panic!("{col} is NA"))
}

fn text<'a>(row: &'a Row, col: &str) -> &'a str {
    row.get(col).unwrap_or_else(|| panic!("no column {col}"))
}

fn close(actual: Option<f64>, expected: f64, ctx: &str) {
    let actual = actual.unwrap_or_else(|| panic!("{ctx}: got NULL, expected {expected}"));
    let diff = (actual - expected).abs();
    let rel = if expected == 0.0 {
        diff
    } else {
        diff / expected.abs()
    };
    assert!(
        rel <= TOL,
        "{ctx}: got {actual}, expected {expected} (rel {rel:e})"
    );
}

/// A column for a test table.
enum Col {
    Str(Vec<String>),
    I64(Vec<i64>),
    I32(Vec<i32>),
    F64(Vec<Option<f64>>),
}

/// A context with the functions and one in-memory table, its rows dealt round-robin over
/// `partitions` partitions (so that aggregates go through partial states and merges).
fn context_with(name: &str, columns: Vec<(&str, Col)>, partitions: usize) -> SessionContext {
    let ctx = SessionContext::new();
    register_all(&ctx);
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, c)| {
            let t = match c {
                Col::Str(_) => DataType::Utf8,
                Col::I64(_) => DataType::Int64,
                Col::I32(_) => DataType::Int32,
                Col::F64(_) => DataType::Float64,
            };
            Field::new(*n, t, true)
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let arrays: Vec<ArrayRef> = columns
        .into_iter()
        .map(|(_, c)| -> ArrayRef {
            match c {
                Col::Str(v) => Arc::new(StringArray::from(v)),
                Col::I64(v) => Arc::new(Int64Array::from(v)),
                Col::I32(v) => Arc::new(Int32Array::from(v)),
                Col::F64(v) => Arc::new(Float64Array::from(v)),
            }
        })
        .collect();
    let batch = RecordBatch::try_new(Arc::clone(&schema), arrays).expect("batch");
    let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(); partitions];
    for row in 0..batch.num_rows() {
        parts[row % partitions].push(batch.slice(row, 1));
    }
    let table = MemTable::try_new(schema, parts).expect("table");
    ctx.register_table(name, Arc::new(table)).expect("register");
    ctx
}

fn plain_context() -> SessionContext {
    let ctx = SessionContext::new();
    register_all(&ctx);
    ctx
}

/// Runs a query and returns its rows as scalars.
async fn rows(ctx: &SessionContext, sql: &str) -> Vec<Vec<ScalarValue>> {
    let batches = ctx
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = Vec::new();
    for b in &batches {
        for r in 0..b.num_rows() {
            out.push(
                b.columns()
                    .iter()
                    .map(|c| ScalarValue::try_from_array(c.as_ref(), r).expect("scalar"))
                    .collect(),
            );
        }
    }
    out
}

fn f64_of(v: &ScalarValue) -> Option<f64> {
    match v {
        ScalarValue::Float64(x) => *x,
        other => panic!("expected Float64, got {other:?} ({})", other.data_type()),
    }
}

fn i64_of(v: &ScalarValue) -> i64 {
    match v {
        ScalarValue::Int64(Some(x)) => *x,
        other => panic!("expected Int64, got {other:?}"),
    }
}

fn str_of(v: &ScalarValue) -> String {
    match v {
        ScalarValue::Utf8(Some(s)) => s.clone(),
        other => panic!("expected Utf8, got {other:?}"),
    }
}

/// One value of a single-row, single-column query.
async fn one(ctx: &SessionContext, sql: &str) -> Option<f64> {
    let r = rows(ctx, sql).await;
    assert_eq!(r.len(), 1, "{sql}");
    f64_of(&r[0][0])
}

#[tokio::test]
async fn wilson_matches_phe_proportion() {
    let reference = read("proportions.csv");
    assert_eq!(reference.len(), 528);
    let ctx = context_with(
        "p",
        vec![
            ("row", Col::I64((0..reference.len() as i64).collect())),
            // x and n as integer columns: coerced to Float64 by the signature.
            (
                "x",
                Col::I64(reference.iter().map(|r| num(r, "x") as i64).collect()),
            ),
            (
                "n",
                Col::I64(reference.iter().map(|r| num(r, "n") as i64).collect()),
            ),
            (
                "multiplier",
                Col::F64(reference.iter().map(|r| opt(r, "multiplier")).collect()),
            ),
            (
                "confidence_level",
                Col::F64(
                    reference
                        .iter()
                        .map(|r| opt(r, "confidence_level"))
                        .collect(),
                ),
            ),
        ],
        2,
    );
    // case_id repeats across multipliers and levels: rows are identified by position.
    let by_case: BTreeMap<i64, &Row> = (0..).zip(&reference).collect();
    let result = rows(
        &ctx,
        "SELECT row,
                wilson_lower(x, n, confidence_level) * multiplier,
                wilson_upper(x, n, confidence_level) * multiplier,
                wilson_lower(x, n, confidence_level * 100) * multiplier,
                wilson_upper(x, n, confidence_level * 100) * multiplier
         FROM p ORDER BY row",
    )
    .await;
    assert_eq!(result.len(), reference.len());
    let mut levels = BTreeMap::new();
    for row in &result {
        let r = by_case[&i64_of(&row[0])];
        let ctx = format!(
            "case {} x={} n={} m={} c={}",
            text(r, "case_id"),
            text(r, "x"),
            text(r, "n"),
            text(r, "multiplier"),
            text(r, "confidence_level")
        );
        *levels
            .entry(text(r, "confidence_level").to_string())
            .or_insert(0) += 1;
        close(f64_of(&row[1]), num(r, "lowercl"), &format!("{ctx} lower"));
        close(f64_of(&row[2]), num(r, "uppercl"), &format!("{ctx} upper"));
        close(
            f64_of(&row[3]),
            num(r, "lowercl"),
            &format!("{ctx} lower %"),
        );
        close(
            f64_of(&row[4]),
            num(r, "uppercl"),
            &format!("{ctx} upper %"),
        );
    }
    assert!(levels.get("0.95").copied().unwrap_or(0) > 0);
    assert!(levels.get("0.998").copied().unwrap_or(0) > 0);
}

#[tokio::test]
async fn rates_match_phe_rate() {
    let reference = read("rates.csv");
    assert_eq!(reference.len(), 324);
    let col = |name: &str| Col::F64(reference.iter().map(|r| opt(r, name)).collect());
    let ctx = context_with(
        "r",
        vec![
            ("row", Col::I64((0..reference.len() as i64).collect())),
            ("x", col("x")),
            ("n", col("n")),
            ("multiplier", col("multiplier")),
            ("confidence_level", col("confidence_level")),
        ],
        3,
    );
    // case_id repeats across multipliers and levels: rows are identified by position.
    let by_case: BTreeMap<i64, &Row> = (0..).zip(&reference).collect();
    let result = rows(
        &ctx,
        "SELECT row,
                rate_lower(x, n, confidence_level, multiplier),
                rate_upper(x, n, confidence_level, multiplier),
                rate_lower(x, n, confidence_level * 100, multiplier),
                rate_upper(x, n, confidence_level * 100, multiplier)
         FROM r ORDER BY row",
    )
    .await;
    assert_eq!(result.len(), reference.len());
    for row in &result {
        let r = by_case[&i64_of(&row[0])];
        let ctx = format!(
            "case {} x={} n={} m={} c={} {}",
            text(r, "case_id"),
            text(r, "x"),
            text(r, "n"),
            text(r, "multiplier"),
            text(r, "confidence_level"),
            text(r, "method")
        );
        close(f64_of(&row[1]), num(r, "lowercl"), &format!("{ctx} lower"));
        close(f64_of(&row[2]), num(r, "uppercl"), &format!("{ctx} upper"));
        close(
            f64_of(&row[3]),
            num(r, "lowercl"),
            &format!("{ctx} lower %"),
        );
        close(
            f64_of(&row[4]),
            num(r, "uppercl"),
            &format!("{ctx} upper %"),
        );
    }
}

fn dsr_context() -> SessionContext {
    let inputs = read("dsr_inputs.csv");
    context_with(
        "dsr_inputs",
        vec![
            (
                "area",
                Col::Str(inputs.iter().map(|r| text(r, "area").to_string()).collect()),
            ),
            // One NA count (D08, band 3): NULL, counted as 0 like calculate_dsr.
            ("x", Col::F64(inputs.iter().map(|r| opt(r, "x")).collect())),
            (
                "n",
                Col::I64(inputs.iter().map(|r| num(r, "n") as i64).collect()),
            ),
            (
                "stdpop",
                Col::I64(inputs.iter().map(|r| num(r, "stdpop") as i64).collect()),
            ),
        ],
        4,
    )
}

#[tokio::test]
async fn dsr_matches_calculate_dsr() {
    let ctx = dsr_context();
    let reference = read("dsr.csv");
    assert_eq!(reference.len(), 36);
    // One query per (multiplier, confidence levels) combination of the reference.
    let mut combos: BTreeMap<(String, String), Vec<&Row>> = BTreeMap::new();
    for r in &reference {
        combos
            .entry((
                text(r, "multiplier").to_string(),
                text(r, "confidence_level").to_string(),
            ))
            .or_default()
            .push(r);
    }
    let (mut published, mut suppressed) = (0, 0);
    for ((m, levels), expected_rows) in &combos {
        let levels: Vec<&str> = levels.split(',').map(str::trim).collect();
        let mut select = format!("SELECT area, dsr_value(x, n, stdpop, {m})");
        for c in &levels {
            select.push_str(&format!(
                ", dsr_lower(x, n, stdpop, {c}, {m}), dsr_upper(x, n, stdpop, {c}, {m})"
            ));
        }
        select.push_str(" FROM dsr_inputs GROUP BY area ORDER BY area");
        let result = rows(&ctx, &select).await;
        assert_eq!(result.len(), expected_rows.len(), "{select}");
        if published + suppressed == 0 {
            // The table's 4 partitions make the groups go through partial states and merges.
            let plan = rows(&ctx, &format!("EXPLAIN {select}")).await;
            let plan: String = plan.iter().map(|r| format!("{:?}\n", r[1])).collect();
            assert!(plan.contains("mode=Partial"), "{plan}");
        }
        let expected: BTreeMap<&str, &&Row> =
            expected_rows.iter().map(|r| (text(r, "area"), r)).collect();
        let limit_cols: &[&str] = if levels.len() == 2 {
            &["lowercl", "uppercl", "lower99_8cl", "upper99_8cl"]
        } else {
            &["lowercl", "uppercl"]
        };
        for row in &result {
            let area = str_of(&row[0]);
            let r = expected[area.as_str()];
            let ctx = format!("{area} m={m} c={levels:?}");
            if opt(r, "value").is_none() {
                assert!(num(r, "total_count") < 10.0, "{ctx}");
                for (i, v) in row[1..].iter().enumerate() {
                    assert_eq!(f64_of(v), None, "{ctx} column {i} should be NULL");
                }
                suppressed += 1;
            } else {
                close(f64_of(&row[1]), num(r, "value"), &format!("{ctx} value"));
                for (i, col) in limit_cols.iter().enumerate() {
                    close(f64_of(&row[2 + i]), num(r, col), &format!("{ctx} {col}"));
                }
                published += 1;
            }
        }
    }
    assert_eq!(published + suppressed, 36);
    assert_eq!(suppressed, 12, "4 suppressed areas x 3 combinations");
}

#[tokio::test]
async fn dsr_invalid_groups_are_null() {
    let ctx = dsr_context();
    // Percentages are accepted for the confidence.
    let frac = one(
        &ctx,
        "SELECT dsr_lower(x, n, stdpop, 0.95, 100000) FROM dsr_inputs WHERE area = 'D06_total11'",
    )
    .await;
    let pct = one(
        &ctx,
        "SELECT dsr_lower(x, n, stdpop, 95, 100000) FROM dsr_inputs WHERE area = 'D06_total11'",
    )
    .await;
    assert!(frac.is_some());
    assert_eq!(frac, pct);
    for sql in [
        // No rows.
        "SELECT dsr_value(x, n, stdpop, 100000) FROM dsr_inputs WHERE area = 'nowhere'",
        // A NULL population or standard population.
        "SELECT dsr_value(x, CASE WHEN stdpop = 5000 THEN NULL ELSE n END, stdpop, 100000)
         FROM dsr_inputs WHERE area = 'D06_total11'",
        "SELECT dsr_upper(x, n, CASE WHEN stdpop = 5000 THEN NULL ELSE stdpop END, 0.95, 100000)
         FROM dsr_inputs WHERE area = 'D06_total11'",
        // A zero population.
        "SELECT dsr_value(x, n * 0, stdpop, 100000) FROM dsr_inputs WHERE area = 'D06_total11'",
        // A negative count.
        "SELECT dsr_value(-x, n, stdpop, 100000) FROM dsr_inputs WHERE area = 'D06_total11'",
        // NULL, invalid or varying parameters.
        "SELECT dsr_value(x, n, stdpop, NULL) FROM dsr_inputs WHERE area = 'D06_total11'",
        "SELECT dsr_value(x, n, stdpop, 0) FROM dsr_inputs WHERE area = 'D06_total11'",
        "SELECT dsr_lower(x, n, stdpop, NULL, 100000) FROM dsr_inputs WHERE area = 'D06_total11'",
        "SELECT dsr_lower(x, n, stdpop, 1, 100000) FROM dsr_inputs WHERE area = 'D06_total11'",
        "SELECT dsr_lower(x, n, stdpop, CASE WHEN stdpop = 5000 THEN 0.998 ELSE 0.95 END, 100000)
         FROM dsr_inputs WHERE area = 'D06_total11'",
        "SELECT dsr_value(x, n, stdpop, CASE WHEN stdpop = 5000 THEN NULL ELSE 100000 END)
         FROM dsr_inputs WHERE area = 'D06_total11'",
    ] {
        assert_eq!(one(&ctx, sql).await, None, "{sql}");
    }
}

fn sii_context() -> SessionContext {
    let inputs = read("sii_inputs.csv");
    let col = |name: &str| Col::F64(inputs.iter().map(|r| opt(r, name)).collect());
    context_with(
        "sii_inputs",
        vec![
            (
                "quantile_set",
                Col::Str(
                    inputs
                        .iter()
                        .map(|r| text(r, "quantile_set").to_string())
                        .collect(),
                ),
            ),
            (
                "area",
                Col::Str(inputs.iter().map(|r| text(r, "area").to_string()).collect()),
            ),
            (
                "quantile",
                Col::I32(inputs.iter().map(|r| num(r, "quantile") as i32).collect()),
            ),
            (
                "population",
                Col::I64(inputs.iter().map(|r| num(r, "population") as i64).collect()),
            ),
            ("score", col("score")),
            ("rate", col("rate")),
            ("x_prop", col("x_prop")),
        ],
        3,
    )
}

#[tokio::test]
async fn sii_and_rii_match_phe_sii_point_estimates() {
    let ctx = sii_context();
    let reference = read("sii.csv");
    assert_eq!(reference.len(), 42);
    // Configurations without transform: the point estimate is the WLS fit of the value
    // itself (A, F: scores; B, G: rates; D: proportions x/population, multiplier 100).
    // F has multiplier -1: SII negated, RII inverted.
    let configs: [(&str, &str, &str); 5] = [
        (
            "A_score_se",
            "sii(quantile, population, score)",
            "rii(quantile, population, score)",
        ),
        (
            "B_rate_cl",
            "sii(quantile, population, rate)",
            "rii(quantile, population, rate)",
        ),
        (
            "D_prop_x_cl",
            "sii(quantile, population, x_prop / population) * 100",
            "rii(quantile, population, x_prop / population)",
        ),
        (
            "F_score_se_neg",
            "-sii(quantile, population, score)",
            "1 / rii(quantile, population, score)",
        ),
        (
            "G_rate_cl_quintile",
            "sii(quantile, population, rate)",
            "rii(quantile, population, rate)",
        ),
    ];
    let mut checked = 0;
    for (config, sii_expr, rii_expr) in configs {
        let expected: Vec<&Row> = reference
            .iter()
            .filter(|r| text(r, "config") == config)
            .collect();
        assert_eq!(expected.len(), 6, "{config}: 3 areas x 2 seeds");
        let set = text(expected[0], "quantile_set");
        let sql = format!(
            "SELECT area, {sii_expr}, {rii_expr} FROM sii_inputs
             WHERE quantile_set = '{set}' GROUP BY area ORDER BY area"
        );
        let result = rows(&ctx, &sql).await;
        assert_eq!(result.len(), 3, "{sql}");
        for row in &result {
            let area = str_of(&row[0]);
            for r in expected.iter().filter(|r| text(r, "area") == area) {
                let ctx = format!("{config} {area} seed {}", text(r, "seed"));
                close(f64_of(&row[1]), num(r, "sii"), &format!("{ctx} sii"));
                close(f64_of(&row[2]), num(r, "rii"), &format!("{ctx} rii"));
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 30);
}

#[tokio::test]
async fn sii_invalid_groups_are_null() {
    let ctx = sii_context();
    let base = "FROM sii_inputs WHERE quantile_set = 'quintiles' AND area = 'S1'";
    assert!(
        one(
            &ctx,
            &format!("SELECT sii(quantile, population, score) {base}")
        )
        .await
        .is_some()
    );
    for expr in [
        // Fewer than 5 quantiles.
        "sii(quantile, population, score) FILTER (WHERE quantile < 5)",
        "rii(quantile, population, score) FILTER (WHERE quantile < 5)",
        // A NULL quantile, population or value.
        "sii(CASE WHEN quantile = 3 THEN NULL ELSE quantile END, population, score)",
        "sii(quantile, CASE WHEN quantile = 3 THEN NULL ELSE population END, score)",
        "rii(quantile, population, CASE WHEN quantile = 3 THEN NULL ELSE score END)",
        // A repeated, fractional or negative quantile.
        "sii(CASE WHEN quantile = 3 THEN 2 ELSE quantile END, population, score)",
        "sii(quantile + 0.5, population, score)",
        "sii(quantile - 2, population, score)",
        // A zero population.
        "sii(quantile, population * 0, score)",
        // RII with a zero intercept is infinite: NULL.
        "rii(quantile, population, 0.0 * score)",
    ] {
        let sql = format!("SELECT {expr} {base}");
        assert_eq!(one(&ctx, &sql).await, None, "{sql}");
    }
}

#[tokio::test]
async fn integer_literals_and_nulls() {
    let ctx = plain_context();
    let w95 = wilson_interval(3.0, 10.0, ConfidenceLevel::P95).expect("wilson");
    for sql in [
        "SELECT wilson_lower(3, 10, 0.95)",
        "SELECT wilson_lower(3, 10, 95)",
        "SELECT wilson_lower(CAST(3 AS INT), CAST(10 AS SMALLINT), 95)",
        "SELECT wilson_lower(3.0, 10.0, 95.0)",
    ] {
        close(one(&ctx, sql).await, w95.lower, sql);
    }
    close(
        one(&ctx, "SELECT wilson_upper(3, 10, 95)").await,
        w95.upper,
        "upper",
    );
    // rate_*: 3 events in 10 person-years per 1000, exact Poisson limits.
    let exact_lower = one(&ctx, "SELECT rate_lower(3, 10, 95, 1000)").await;
    let exact_upper = one(&ctx, "SELECT rate_upper(3, 10, 0.95, 1000)").await;
    let rate95 = crude_rate(3.0, 10.0, 1000.0)
        .and_then(|r| r.ci(ConfidenceLevel::P95))
        .expect("rate");
    close(exact_lower, rate95.lower, "rate_lower literal");
    close(exact_upper, rate95.upper, "rate_upper literal");
    // rate_*_exact: Fingertips' rule, checked on a published row (indicator 93356, Hull
    // E06000010, 2015, 233 campylobacter reports in 258,995 people; see
    // marmot-stats/tests/reference/fingertips), which Byar's (rate_lower) misses.
    for (sql, published) in [
        (
            "SELECT rate_lower_exact(233, 258995, 95, 100000)",
            78.7816614769692,
        ),
        (
            "SELECT rate_upper_exact(233, 258995, 0.95, 100000)",
            102.286653354283,
        ),
    ] {
        let got = one(&ctx, sql).await.expect("a value");
        assert!(((got - published) / published).abs() < 1e-6, "{sql}: {got}");
        let byars = one(&ctx, &sql.replace("_exact", ""))
            .await
            .expect("a value");
        assert!(
            ((byars - published) / published).abs() > 1e-6,
            "{sql}: {byars}"
        );
    }

    for sql in [
        "SELECT wilson_lower(NULL, 10, 0.95)",
        "SELECT wilson_lower(3, NULL, 0.95)",
        "SELECT wilson_upper(3, 10, NULL)",
        "SELECT wilson_lower(11, 10, 0.95)",
        "SELECT wilson_lower(-1, 10, 0.95)",
        "SELECT wilson_lower(0, 0, 0.95)",
        "SELECT wilson_upper(3, 10, 1)",
        "SELECT wilson_upper(3, 10, 100)",
        "SELECT wilson_upper(3, 10, 0)",
        "SELECT wilson_upper(3, 10, -0.95)",
        "SELECT wilson_upper(3, 10, 'NaN'::double)",
        "SELECT rate_lower(NULL, 10, 0.95, 1000)",
        "SELECT rate_lower(3, NULL, 0.95, 1000)",
        "SELECT rate_lower(3, 10, NULL, 1000)",
        "SELECT rate_upper(3, 10, 0.95, NULL)",
        "SELECT rate_upper(3, 0, 0.95, 1000)",
        "SELECT rate_upper(-3, 10, 0.95, 1000)",
        "SELECT rate_upper(3, 10, 0.95, 0)",
        "SELECT rate_upper(3, 10, 100.5, 1000)",
    ] {
        assert_eq!(one(&ctx, sql).await, None, "{sql}");
    }

    // Integer columns, and NULLs / invalid values row by row inside an array.
    let ctx = context_with(
        "t",
        vec![
            ("id", Col::I64(vec![1, 2, 3, 4, 5])),
            ("x", Col::I32(vec![3, 3, 12, 0, 5])),
            ("n", Col::I64(vec![10, 10, 10, 10, 0])),
            (
                "c",
                Col::F64(vec![Some(0.95), None, Some(0.95), Some(99.8), Some(0.95)]),
            ),
        ],
        1,
    );
    let result = rows(
        &ctx,
        "SELECT id, wilson_lower(x, n, c), wilson_upper(x, n, c), rate_lower(x, n, c, 100),
                wilson_lower(x, n, 95), rate_upper(x, 10, c, 1)
         FROM t ORDER BY id",
    )
    .await;
    let values: Vec<Vec<Option<f64>>> = result
        .iter()
        .map(|r| r[1..].iter().map(f64_of).collect())
        .collect();
    close(values[0][0], w95.lower, "row 1 lower");
    close(values[0][1], w95.upper, "row 1 upper");
    close(values[0][2], rate95.lower / 10.0, "row 1 rate");
    assert_eq!(values[1][..3], [None, None, None], "NULL confidence");
    close(values[1][3], w95.lower, "row 2 literal confidence");
    assert_eq!(values[1][4], None, "NULL confidence");
    assert_eq!(values[2][..2], [None, None], "x > n");
    assert!(values[2][2].is_some(), "a rate may exceed 1");
    assert_eq!(values[3][0], Some(0.0), "x = 0 gives lower 0");
    assert!(values[3][1].is_some_and(|u| u > 0.0 && u < 1.0));
    assert_eq!(values[4][..4], [None, None, None, None], "n = 0");
    assert!(values[4][4].is_some());
}

#[tokio::test]
async fn catalogue_lists_every_registered_function() {
    let ctx = plain_context();
    let docs = catalogue();
    let names: Vec<&str> = docs.iter().map(|d| d.name).collect();
    assert_eq!(
        names,
        [
            "wilson_lower",
            "wilson_upper",
            "rate_lower",
            "rate_upper",
            "rate_lower_exact",
            "rate_upper_exact",
            "dsr_value",
            "dsr_lower",
            "dsr_upper",
            "sii",
            "rii",
            "nhs_ethnic_group"
        ]
    );
    for d in &docs {
        assert!(d.signature.starts_with(&format!("{}(", d.name)), "{d:?}");
        // Each names its source: the R package a statistic is checked against, or the NHS
        // Data Dictionary for a recoding.
        let text = d.signature.ends_with("-> VARCHAR");
        let source = if text {
            "NHS Data Dictionary"
        } else {
            "PHEindicatormethods::"
        };
        assert!(d.description.contains(source), "{d:?}");
        match d.kind {
            FunctionKind::Scalar => {
                let udf = ctx.udf(d.name).expect("registered scalar");
                assert_eq!(udf.name(), d.name);
            }
            FunctionKind::Aggregate => {
                let udaf = ctx.udaf(d.name).expect("registered aggregate");
                assert_eq!(udaf.name(), d.name);
            }
        }
        // The documented arity is the registered one.
        let arity = d
            .signature
            .split_once('(')
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(args, _)| args.split(',').count())
            .expect("arguments");
        let arg = if text { "'A'" } else { "1" };
        let sql = format!("SELECT {}({})", d.name, vec![arg; arity].join(", "));
        assert!(ctx.sql(&sql).await.is_ok(), "{sql}");
        let too_many = format!("SELECT {}({})", d.name, vec![arg; arity + 1].join(", "));
        assert!(ctx.sql(&too_many).await.is_err(), "{too_many}");
    }
}

/// `nhs_ethnic_group` over every NHS Data Dictionary ETHNIC CATEGORY code, the codes for "not
/// stated" and "not known", a blank, an unknown code and NULL; as a column of each string type
/// Parquet may hand it (Utf8, Utf8View, LargeUtf8) and as a literal.
#[tokio::test]
async fn nhs_ethnic_group_recodes_every_nhs_ethnic_category() {
    // The NHS Data Dictionary's ETHNIC CATEGORY (2001 Census) codes, grouped as Census 2021's
    // high-level groups; Chinese (R) is in the Asian group since 2011.
    let expected = [
        ("A", "White"),
        ("B", "White"),
        ("C", "White"),
        ("D", "Mixed"),
        ("E", "Mixed"),
        ("F", "Mixed"),
        ("G", "Mixed"),
        ("H", "Asian"),
        ("J", "Asian"),
        ("K", "Asian"),
        ("L", "Asian"),
        ("M", "Black"),
        ("N", "Black"),
        ("P", "Black"),
        ("R", "Asian"),
        ("S", "Other"),
        ("Z", "Not stated"),
        ("99", "Not stated"),
        ("", "Not stated"),
        ("a", "Not stated"),
    ];
    let ctx = context_with(
        "t",
        vec![(
            "code",
            Col::Str(expected.iter().map(|(c, _)| c.to_string()).collect()),
        )],
        3,
    );
    for cast in [
        "code",
        "arrow_cast(code, 'Utf8View')",
        "arrow_cast(code, 'LargeUtf8')",
    ] {
        let got = rows(
            &ctx,
            &format!("SELECT code, nhs_ethnic_group({cast}) FROM t ORDER BY code"),
        )
        .await;
        assert_eq!(got.len(), expected.len(), "{cast}");
        for r in got {
            let code = r[0].to_string();
            let want = expected
                .iter()
                .find(|(c, _)| *c == code)
                .map(|(_, g)| *g)
                .expect("a code of the table");
            assert_eq!(r[1], ScalarValue::Utf8(Some(want.into())), "{cast} {code}");
        }
    }
    let lit = rows(
        &ctx,
        "SELECT nhs_ethnic_group('R') AS r, nhs_ethnic_group(NULL) AS n, \
         nhs_ethnic_group(CAST(NULL AS VARCHAR)) AS v",
    )
    .await;
    assert_eq!(
        lit[0],
        [
            ScalarValue::Utf8(Some("Asian".into())),
            ScalarValue::Utf8(Some("Not stated".into())),
            ScalarValue::Utf8(Some("Not stated".into())),
        ]
    );
}
