//! Every row of proportions.csv (PHEindicatormethods::phe_proportion).
mod common;
use common::*;
use marmot_stats::{ConfidenceLevel, proportion};

#[test]
fn proportions_match_reference() {
    let rows = read("proportions.csv");
    assert_eq!(rows.len(), 528);
    let c = Checker::default();
    for r in &rows {
        let ctx = format!(
            "case {} m={} c={}",
            text(r, "case_id"),
            text(r, "multiplier"),
            text(r, "confidence_level")
        );
        let p = proportion(num(r, "x"), num(r, "n"), num(r, "multiplier")).expect("valid");
        let level = ConfidenceLevel::new(num(r, "confidence_level")).expect("level");
        let ci = p.ci(level).expect("ci");
        c.close(p.value, num(r, "value"), &format!("{ctx} value"));
        c.close(ci.lower, num(r, "lowercl"), &format!("{ctx} lowercl"));
        c.close(ci.upper, num(r, "uppercl"), &format!("{ctx} uppercl"));
        assert_eq!(level.label(), text(r, "confidence"), "{ctx}");
        assert_eq!(p.statistic_label(), text(r, "statistic"), "{ctx}");
        assert_eq!(p.method_label(), text(r, "method"), "{ctx}");
    }
    c.report("proportions");
}
