//! Every row of dsr.csv and dsr_nonindependent.csv (PHEindicatormethods::calculate_dsr).
mod common;
use common::*;
use marmot_stats::{
    ConfidenceLevel, DsrBand, DsrMethod, DsrResult, NonIndependentBand, dsr, dsr_non_independent,
};
use std::collections::BTreeMap;

#[test]
fn dsr_matches_reference() {
    let mut areas: BTreeMap<String, Vec<(usize, DsrBand)>> = BTreeMap::new();
    for r in read("dsr_inputs.csv") {
        areas
            .entry(text(&r, "area").to_string())
            .or_default()
            .push((
                num(&r, "ageband_index") as usize,
                DsrBand {
                    count: opt(&r, "x"),
                    population: num(&r, "n"),
                    standard_population: num(&r, "stdpop"),
                },
            ));
    }
    let rows = read("dsr.csv");
    assert_eq!(rows.len(), 36);
    let c = Checker::default();
    for r in &rows {
        let area = text(r, "area");
        let ctx = format!(
            "{area} m={} c={}",
            text(r, "multiplier"),
            text(r, "confidence_level")
        );
        let mut bands = areas[area].clone();
        bands.sort_by_key(|(i, _)| *i);
        let bands: Vec<DsrBand> = bands.into_iter().map(|(_, b)| b).collect();
        let result = dsr(&bands, num(r, "multiplier")).expect("valid");
        c.close(
            result.total_count(),
            num(r, "total_count"),
            &format!("{ctx} total_count"),
        );
        c.close(
            result.total_population(),
            num(r, "total_pop"),
            &format!("{ctx} total_pop"),
        );
        assert_eq!(result.statistic_label(), text(r, "statistic"), "{ctx}");
        assert_eq!(DsrMethod::Dobson.label(), text(r, "method"));
        let levels: Vec<ConfidenceLevel> = text(r, "confidence_level")
            .split(',')
            .map(|s| ConfidenceLevel::new(s.trim().parse().expect("level")).expect("level"))
            .collect();
        let label = levels
            .iter()
            .map(|l| l.label())
            .collect::<Vec<_>>()
            .join(", ");
        assert_eq!(label, text(r, "confidence"), "{ctx}");
        match result {
            DsrResult::Suppressed { .. } => {
                for col in ["value", "lowercl", "uppercl", "lower99_8cl", "upper99_8cl"] {
                    assert_eq!(opt(r, col), None, "{ctx} {col} should be NA");
                }
                assert!(num(r, "total_count") < 10.0);
            }
            DsrResult::Published(e) => {
                c.close(e.value, num(r, "value"), &format!("{ctx} value"));
                let ci = e.ci(levels[0]).expect("ci");
                c.close(ci.lower, num(r, "lowercl"), &format!("{ctx} lowercl"));
                c.close(ci.upper, num(r, "uppercl"), &format!("{ctx} uppercl"));
                if levels.len() == 2 {
                    let ci = e.ci(levels[1]).expect("ci");
                    c.close(
                        ci.lower,
                        num(r, "lower99_8cl"),
                        &format!("{ctx} lower99_8cl"),
                    );
                    c.close(
                        ci.upper,
                        num(r, "upper99_8cl"),
                        &format!("{ctx} upper99_8cl"),
                    );
                    let dual = e.dual_ci().expect("dual");
                    assert_eq!(dual.ci99_8, ci);
                } else {
                    assert_eq!(opt(r, "lower99_8cl"), None);
                    assert_eq!(opt(r, "upper99_8cl"), None);
                }
            }
        }
    }
    c.report("dsr");
}

#[test]
fn dsr_non_independent_matches_reference() {
    // area -> ageband_index -> band
    let mut areas: BTreeMap<String, BTreeMap<usize, NonIndependentBand>> = BTreeMap::new();
    for r in read("dsr_nonindependent_inputs.csv") {
        let band = areas
            .entry(text(&r, "area").to_string())
            .or_default()
            .entry(num(&r, "ageband_index") as usize)
            .or_insert_with(|| NonIndependentBand {
                population: num(&r, "n"),
                standard_population: num(&r, "stdpop"),
                individuals_by_frequency: vec![],
            });
        assert_eq!(band.population, num(&r, "n"));
        band.individuals_by_frequency
            .push((num(&r, "eventfreq"), opt(&r, "x")));
    }
    let rows = read("dsr_nonindependent.csv");
    assert_eq!(rows.len(), 3);
    let c = Checker::default();
    for r in &rows {
        let area = text(r, "area");
        let bands: Vec<NonIndependentBand> = areas[area].values().cloned().collect();
        let result = dsr_non_independent(&bands, 100000.0).expect("valid");
        let e = result.estimate().expect("published");
        c.close(
            e.total_count,
            num(r, "total_count"),
            &format!("{area} total_count"),
        );
        c.close(
            e.total_population,
            num(r, "total_pop"),
            &format!("{area} total_pop"),
        );
        c.close(e.value, num(r, "value"), &format!("{area} value"));
        let dual = e.dual_ci().expect("ci");
        c.close(
            dual.ci95.lower,
            num(r, "lowercl"),
            &format!("{area} lowercl"),
        );
        c.close(
            dual.ci95.upper,
            num(r, "uppercl"),
            &format!("{area} uppercl"),
        );
        c.close(
            dual.ci99_8.lower,
            num(r, "lower99_8cl"),
            &format!("{area} lower99_8cl"),
        );
        c.close(
            dual.ci99_8.upper,
            num(r, "upper99_8cl"),
            &format!("{area} upper99_8cl"),
        );
        assert_eq!(result.statistic_label(), text(r, "statistic"));
        assert_eq!(e.method.label(), text(r, "method"));
    }
    c.report("dsr non-independent");
}
