//! Every row of isratio.csv and israte.csv (calculate_ISRatio / calculate_ISRate).
mod common;
use common::*;
use marmot_stats::{IsrBand, indirectly_standardised_rate, indirectly_standardised_ratio};
use std::collections::BTreeMap;

fn areas() -> BTreeMap<String, Vec<IsrBand>> {
    let mut areas: BTreeMap<String, Vec<(usize, IsrBand)>> = BTreeMap::new();
    for r in read("isr_inputs.csv") {
        areas
            .entry(text(&r, "area").to_string())
            .or_default()
            .push((
                num(&r, "ageband_index") as usize,
                IsrBand {
                    count: num(&r, "x"),
                    population: num(&r, "n"),
                    reference_count: opt(&r, "x_ref"),
                    reference_population: num(&r, "n_ref"),
                },
            ));
    }
    areas
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by_key(|(i, _)| *i);
            (k, v.into_iter().map(|(_, b)| b).collect())
        })
        .collect()
}

fn check_common(c: &Checker, r: &Row, e: &marmot_stats::IndirectlyStandardised, ctx: &str) {
    c.close(e.observed, num(r, "observed"), &format!("{ctx} observed"));
    c.close(e.expected, num(r, "expected"), &format!("{ctx} expected"));
    c.close(e.value, num(r, "value"), &format!("{ctx} value"));
    let dual = e.dual_ci().expect("ci");
    c.close(
        dual.ci95.lower,
        num(r, "lowercl"),
        &format!("{ctx} lowercl"),
    );
    c.close(
        dual.ci95.upper,
        num(r, "uppercl"),
        &format!("{ctx} uppercl"),
    );
    c.close(
        dual.ci99_8.lower,
        num(r, "lower99_8cl"),
        &format!("{ctx} lower99_8cl"),
    );
    c.close(
        dual.ci99_8.upper,
        num(r, "upper99_8cl"),
        &format!("{ctx} upper99_8cl"),
    );
    assert_eq!(e.method.label(), text(r, "method"), "{ctx}");
    assert_eq!(text(r, "confidence"), "95%, 99.8%");
}

#[test]
fn isratio_matches_reference() {
    let areas = areas();
    let rows = read("isratio.csv");
    assert_eq!(rows.len(), 20);
    let c = Checker::default();
    for r in &rows {
        let ctx = format!("{} refvalue={}", text(r, "area"), text(r, "refvalue"));
        let res = indirectly_standardised_ratio(&areas[text(r, "area")], num(r, "refvalue"))
            .expect("valid");
        check_common(&c, r, &res.estimate, &ctx);
        assert_eq!(res.statistic_label(), text(r, "statistic"));
    }
    c.report("isratio");
}

#[test]
fn israte_matches_reference() {
    let areas = areas();
    let rows = read("israte.csv");
    assert_eq!(rows.len(), 20);
    let c = Checker::default();
    for r in &rows {
        let ctx = format!("{} m={}", text(r, "area"), text(r, "multiplier"));
        let res = indirectly_standardised_rate(&areas[text(r, "area")], num(r, "multiplier"))
            .expect("valid");
        c.close(
            res.reference_rate,
            num(r, "ref_rate"),
            &format!("{ctx} ref_rate"),
        );
        check_common(&c, r, &res.estimate, &ctx);
        assert_eq!(res.statistic_label(), text(r, "statistic"));
    }
    c.report("israte");
}
