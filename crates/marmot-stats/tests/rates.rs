//! Every row of rates.csv (PHEindicatormethods::phe_rate).
mod common;
use common::*;
use marmot_stats::{ConfidenceLevel, crude_rate};

#[test]
fn rates_match_reference() {
    let rows = read("rates.csv");
    assert_eq!(rows.len(), 324);
    let c = Checker::default();
    for r in &rows {
        let ctx = format!(
            "case {} m={} c={}",
            text(r, "case_id"),
            text(r, "multiplier"),
            text(r, "confidence_level")
        );
        let rate = crude_rate(num(r, "x"), num(r, "n"), num(r, "multiplier")).expect("valid");
        let level = ConfidenceLevel::new(num(r, "confidence_level")).expect("level");
        let ci = rate.ci(level).expect("ci");
        c.close(rate.value, num(r, "value"), &format!("{ctx} value"));
        c.close(ci.lower, num(r, "lowercl"), &format!("{ctx} lowercl"));
        c.close(ci.upper, num(r, "uppercl"), &format!("{ctx} uppercl"));
        assert_eq!(level.label(), text(r, "confidence"), "{ctx}");
        assert_eq!(rate.statistic_label(), text(r, "statistic"), "{ctx}");
        assert_eq!(rate.method.label(), text(r, "method"), "{ctx}");
    }
    c.report("rates");
}
