//! The IMD 2025 Marmot embeds (from the humaniverse/IMD package's copy of File 7) against MHCLG's
//! File 7 as published, verbatim rows for four authorities (tests/reference/SOURCES.md): every
//! rank and decile of the index and its seven domains, and the lake's quintile rule.

use marmot_lake::reference::england::england;
use marmot_model::{DEPRIVATION_DOMAINS, Vintage, quintile_of_decile};

const FILE7: &str = include_str!("reference/iod2025_file7_lsoa21_4las.csv");

/// File 7's column prefixes for the IMD and the seven domains, in Marmot's domain order.
const PREFIXES: [&str; 8] = [
    "Index of Multiple Deprivation (IMD)",
    "Income",
    "Employment",
    "Education, Skills and Training",
    "Health Deprivation and Disability",
    "Crime",
    "Barriers to Housing and Services",
    "Living Environment",
];

#[test]
fn every_rank_and_decile_equals_the_published_file_7() {
    let mut rd = csv::Reader::from_reader(FILE7.as_bytes());
    let head: Vec<String> = rd
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    let col = |prefix: &str, what: &str| {
        head.iter()
            .position(|h| h.starts_with(&format!("{prefix} {what}")))
            .unwrap_or_else(|| panic!("no column {prefix} {what}"))
    };
    let e = england(Vintage::Lsoa2021).expect("embedded IMD 2025");
    let mut rows = 0;
    for rec in rd.records() {
        let rec = rec.expect("row");
        let code = &rec[0];
        let l = e.get(code).unwrap_or_else(|| panic!("{code} not embedded"));
        assert_eq!(l.name, &rec[1]);
        assert_eq!(l.lad_code, &rec[2]);
        for (k, prefix) in PREFIXES.iter().enumerate() {
            let rank: i32 = rec[col(prefix, "Rank")].parse().expect("rank");
            let decile: i32 = rec[col(prefix, "Decile")].parse().expect("decile");
            let d = DEPRIVATION_DOMAINS[k];
            assert_eq!(l.ranks[k], rank, "{code} {d} rank");
            assert_eq!(l.deciles[k], decile, "{code} {d} decile");
            assert!((1..=5).contains(&quintile_of_decile(i64::from(decile))));
        }
        rows += 1;
    }
    assert_eq!(rows, 333, "6 + 149 + 70 + 108 LSOAs");
}
