//! Every row of funnel_limits.csv, funnel_significance.csv and funnel_points.csv
//! (PHEindicatormethods::calculate_funnel_limits, assign_funnel_significance,
//! calculate_funnel_points).
mod common;
use common::*;
use marmot_stats::funnel::{
    FunnelLimit, RateFunnelRow, RateType, RatioType, proportion_funnel_limits,
    proportion_funnel_significance, rate_funnel_limits, rate_funnel_points,
    rate_funnel_significance, ratio_funnel_limits, ratio_funnel_significance,
};

struct Inputs {
    areas: Vec<String>,
    denominator: Vec<f64>,
    numerator: Vec<f64>,
    expected: Vec<f64>,
    observed: Vec<f64>,
    crude: Vec<RateFunnelRow>,
    dsr: Vec<RateFunnelRow>,
}

fn inputs() -> Inputs {
    let rows = read("funnel_inputs.csv");
    assert_eq!(rows.len(), 30);
    Inputs {
        areas: rows.iter().map(|r| text(r, "area").to_string()).collect(),
        denominator: rows.iter().map(|r| num(r, "denominator")).collect(),
        numerator: rows.iter().map(|r| num(r, "numerator")).collect(),
        expected: rows.iter().map(|r| num(r, "expected")).collect(),
        observed: rows.iter().map(|r| num(r, "observed")).collect(),
        crude: rows
            .iter()
            .map(|r| RateFunnelRow {
                events: num(r, "crude_events"),
                rate: opt(r, "crude_rate"),
                denominator: opt(r, "crude_pop"),
            })
            .collect(),
        dsr: rows
            .iter()
            .map(|r| RateFunnelRow {
                events: num(r, "dsr_events"),
                rate: opt(r, "dsr_rate"),
                denominator: opt(r, "crude_pop"),
            })
            .collect(),
    }
}

#[test]
fn funnel_limits_match_reference() {
    let d = inputs();
    let configs: Vec<(&str, Vec<FunnelLimit>, &str, &str)> = vec![
        (
            "proportion_x100",
            proportion_funnel_limits(&d.numerator, &d.denominator, 100.0).expect("valid"),
            "proportion",
            "Wilson",
        ),
        (
            "ratio_count",
            ratio_funnel_limits(&d.observed, &d.expected, RatioType::Count).expect("valid"),
            "ratio (count)",
            "Poisson",
        ),
        (
            "ratio_isr",
            ratio_funnel_limits(&d.observed, &d.expected, RatioType::Isr).expect("valid"),
            "ratio (isr)",
            "Poisson",
        ),
        (
            "rate_crude_x1e5_3yr",
            rate_funnel_limits(&d.crude, RateType::Crude, 100000.0, 3.0).expect("valid"),
            "rate (crude per 100,000)",
            "Poisson",
        ),
        (
            "rate_dsr_x1e5_3yr",
            rate_funnel_limits(&d.dsr, RateType::Dsr, 100000.0, 3.0).expect("valid"),
            "rate (dsr per 100,000)",
            "Poisson",
        ),
    ];
    let rows = read("funnel_limits.csv");
    assert_eq!(rows.len(), 500);
    let c = Checker::default();
    for (name, limits, statistic, method) in &configs {
        let expected: Vec<&Row> = rows.iter().filter(|r| text(r, "config") == *name).collect();
        assert_eq!(expected.len(), 100, "{name}");
        assert_eq!(limits.len(), 100, "{name}");
        for (got, r) in limits.iter().zip(&expected) {
            let ctx = format!("{name} x={}", text(r, "axis_value"));
            assert_eq!(got.axis_value, num(r, "axis_value"), "{ctx}");
            c.close(
                got.lower_2s,
                num(r, "lower_2s_limit"),
                &format!("{ctx} lower_2s"),
            );
            c.close(
                got.upper_2s,
                num(r, "upper_2s_limit"),
                &format!("{ctx} upper_2s"),
            );
            c.close(
                got.lower_3s,
                num(r, "lower_3s_limit"),
                &format!("{ctx} lower_3s"),
            );
            c.close(
                got.upper_3s,
                num(r, "upper_3s_limit"),
                &format!("{ctx} upper_3s"),
            );
            c.close_opt(got.baseline, opt(r, "baseline"), &format!("{ctx} baseline"));
            c.close_opt(
                got.aux.map(|a| a.lower_2s),
                opt(r, "lower_2s_aux"),
                &format!("{ctx} lower_2s_aux"),
            );
            c.close_opt(
                got.aux.map(|a| a.upper_2s),
                opt(r, "upper_2s_aux"),
                &format!("{ctx} upper_2s_aux"),
            );
            c.close_opt(
                got.aux.map(|a| a.lower_3s),
                opt(r, "lower_3s_aux"),
                &format!("{ctx} lower_3s_aux"),
            );
            c.close_opt(
                got.aux.map(|a| a.upper_3s),
                opt(r, "upper_3s_aux"),
                &format!("{ctx} upper_3s_aux"),
            );
            assert_eq!(text(r, "statistic"), *statistic);
            assert_eq!(text(r, "method"), *method);
        }
    }
    c.report("funnel limits");
}

#[test]
fn funnel_significance_matches_reference() {
    let d = inputs();
    let computed = [
        (
            "proportion",
            proportion_funnel_significance(&d.numerator, &d.denominator).expect("valid"),
        ),
        (
            "ratio",
            ratio_funnel_significance(&d.observed, &d.expected).expect("valid"),
        ),
        (
            "rate_crude",
            rate_funnel_significance(&d.crude, RateType::Crude, 100000.0).expect("valid"),
        ),
        (
            "rate_dsr",
            rate_funnel_significance(&d.dsr, RateType::Dsr, 100000.0).expect("valid"),
        ),
    ];
    let rows = read("funnel_significance.csv");
    assert_eq!(rows.len(), 120);
    let mut checked = 0;
    for r in &rows {
        let config = text(r, "config");
        let (_, sig) = computed.iter().find(|(n, _)| *n == config).expect("config");
        let i = d
            .areas
            .iter()
            .position(|a| a == text(r, "area"))
            .expect("area");
        assert_eq!(
            sig[i].label(),
            text(r, "significance"),
            "{config} {}",
            text(r, "area")
        );
        checked += 1;
    }
    assert_eq!(checked, 120);
}

#[test]
fn funnel_points_match_reference() {
    let d = inputs();
    let crude = rate_funnel_points(&d.crude, RateType::Crude, 100000.0, 3.0).expect("valid");
    let dsr = rate_funnel_points(&d.dsr, RateType::Dsr, 100000.0, 3.0).expect("valid");
    let rows = read("funnel_points.csv");
    assert_eq!(rows.len(), 60);
    let c = Checker::default();
    for r in &rows {
        let config = text(r, "config");
        let (points, input) = match config {
            "rate_crude" => (&crude, &d.crude),
            "rate_dsr" => (&dsr, &d.dsr),
            other => panic!("unknown config {other}"),
        };
        let i = d
            .areas
            .iter()
            .position(|a| a == text(r, "area"))
            .expect("area");
        let ctx = format!("{config} {}", text(r, "area"));
        assert_eq!(input[i].events, num(r, "events"), "{ctx}");
        c.close_opt(input[i].rate, opt(r, "rate"), &format!("{ctx} rate"));
        c.close_opt(
            points[i].rate_chart,
            opt(r, "rate_chart"),
            &format!("{ctx} rate_chart"),
        );
        c.close_opt(
            points[i].denominator_derived,
            opt(r, "denominator_derived"),
            &format!("{ctx} denominator_derived"),
        );
    }
    c.report("funnel points");
}
