//! Every row of quantiles.csv (PHEindicatormethods::phe_quantile).
mod common;
use common::*;
use marmot_stats::quantiles;
use std::collections::BTreeMap;

#[test]
fn quantiles_match_reference() {
    let mut groups: BTreeMap<String, Vec<(String, Option<f64>)>> = BTreeMap::new();
    for r in read("quantiles_inputs.csv") {
        groups
            .entry(text(&r, "group").to_string())
            .or_default()
            .push((text(&r, "area_id").to_string(), opt(&r, "value")));
    }
    // (group, nq, invert) -> area -> quantile
    let mut computed: BTreeMap<(String, u32, bool), BTreeMap<String, Option<u32>>> =
        BTreeMap::new();
    let rows = read("quantiles.csv");
    assert_eq!(rows.len(), 1074);
    let mut checked = 0;
    for r in &rows {
        let g = text(r, "group").to_string();
        let nq = num(r, "nquantiles") as u32;
        let invert = text(r, "invert") == "TRUE";
        let map = computed.entry((g.clone(), nq, invert)).or_insert_with(|| {
            let vals: Vec<Option<f64>> = groups[&g].iter().map(|(_, v)| *v).collect();
            let q = quantiles(&vals, nq, invert).expect("valid");
            groups[&g]
                .iter()
                .enumerate()
                .map(|(i, (area, _))| (area.clone(), q.as_ref().and_then(|q| q[i])))
                .collect()
        });
        let area = text(r, "area_id");
        let expected = opt(r, "quantile").map(|q| q as u32);
        assert_eq!(map[area], expected, "{g} {area} nq={nq} invert={invert}");
        let label = if invert {
            "lowest quantile represents highest values"
        } else {
            "lowest quantile represents lowest values"
        };
        assert_eq!(text(r, "qinverted"), label);
        checked += 1;
    }
    assert_eq!(checked, 1074);
}
