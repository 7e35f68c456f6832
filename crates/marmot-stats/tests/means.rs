//! Every row of means.csv (PHEindicatormethods::phe_mean).
mod common;
use common::*;
use marmot_stats::mean;
use std::collections::BTreeMap;

#[test]
fn means_match_reference() {
    let mut groups: BTreeMap<String, Vec<(usize, f64)>> = BTreeMap::new();
    for r in read("means_inputs.csv") {
        groups
            .entry(text(&r, "group").to_string())
            .or_default()
            .push((num(&r, "obs_index") as usize, num(&r, "value")));
    }
    let rows = read("means.csv");
    assert_eq!(rows.len(), 7);
    let c = Checker::default();
    for r in &rows {
        let g = text(r, "group");
        let mut v = groups[g].clone();
        v.sort_by_key(|(i, _)| *i);
        let values: Vec<f64> = v.into_iter().map(|(_, x)| x).collect();
        let m = mean(&values).expect("valid");
        c.close(m.sum, num(r, "value_sum"), &format!("{g} value_sum"));
        assert_eq!(m.count as f64, num(r, "value_count"));
        c.close(m.std_dev, num(r, "stdev"), &format!("{g} stdev"));
        c.close(m.value, num(r, "value"), &format!("{g} value"));
        let dual = m.dual_ci().expect("ci");
        c.close(dual.ci95.lower, num(r, "lowercl"), &format!("{g} lowercl"));
        c.close(dual.ci95.upper, num(r, "uppercl"), &format!("{g} uppercl"));
        c.close(
            dual.ci99_8.lower,
            num(r, "lower99_8cl"),
            &format!("{g} lower99_8cl"),
        );
        c.close(
            dual.ci99_8.upper,
            num(r, "upper99_8cl"),
            &format!("{g} upper99_8cl"),
        );
        assert_eq!(m.statistic_label(), text(r, "statistic"));
        assert_eq!(m.method_label(), text(r, "method"));
        assert_eq!(text(r, "confidence"), "95%, 99.8%");
    }
    c.report("means");
}
