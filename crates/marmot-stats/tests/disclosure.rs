//! Small-number suppression (`marmot_stats::disclosure`): unit cases, then property tests that
//! attack the output the way a reader of the published tables could: by differencing single
//! constraints, by exact linear algebra, and by linear programming over every hidden cell with
//! non-negativity (minilp).
#![allow(clippy::unwrap_used)] // a panic is a failed test

use std::collections::BTreeSet;
use std::time::Instant;

use marmot_stats::disclosure::{
    AreaSpec, Constraint, DEFAULT_THRESHOLD, Family, Suppression, determined, is_disclosive,
    protect,
};
use minilp::{ComparisonOp, OptimizationDirection, Problem};
use proptest::prelude::*;

const T: u64 = DEFAULT_THRESHOLD;

fn hidden_mask(s: &[Suppression]) -> Vec<bool> {
    s.iter().map(|x| x.is_hidden()).collect()
}

/// An r × c table with row totals, column totals and a grand total. Cell layout: interior
/// `i * c + j`, row totals `r * c + i`, column totals `r * c + r + j`, grand total last.
fn table(interior: &[Vec<f64>]) -> (Vec<f64>, Vec<Constraint>) {
    let r = interior.len();
    let c = interior[0].len();
    let mut counts: Vec<f64> = interior.iter().flatten().copied().collect();
    let rows: Vec<f64> = interior.iter().map(|row| row.iter().sum()).collect();
    let cols: Vec<f64> = (0..c)
        .map(|j| interior.iter().map(|row| row[j]).sum())
        .collect();
    let grand: f64 = rows.iter().sum();
    counts.extend(&rows);
    counts.extend(&cols);
    counts.push(grand);
    let g = r * c + r + c;
    let mut constraints = Vec::new();
    for i in 0..r {
        constraints.push(Constraint::new(
            r * c + i,
            (0..c).map(|j| i * c + j).collect(),
        ));
    }
    for j in 0..c {
        constraints.push(Constraint::new(
            r * c + r + j,
            (0..r).map(|i| i * c + j).collect(),
        ));
    }
    constraints.push(Constraint::new(g, (0..r).map(|i| r * c + i).collect()));
    constraints.push(Constraint::new(g, (0..c).map(|j| r * c + r + j).collect()));
    (counts, constraints)
}

/// Distinct hidden members of each constraint: never exactly one (differencing one line).
fn assert_no_single_hidden(constraints: &[Constraint], hidden: &[bool]) {
    for k in constraints {
        let members: BTreeSet<usize> = k.members().collect();
        let n = members.iter().filter(|&&c| hidden[c]).count();
        assert_ne!(n, 1, "constraint {k:?} has exactly one hidden member");
    }
}

/// Primary exactly on the disclosive counts; every disclosive count hidden.
fn assert_primary_rule(counts: &[f64], out: &[Suppression]) {
    for (i, (&c, &s)) in counts.iter().zip(out).enumerate() {
        let disclosive = is_disclosive(c, T);
        assert_eq!(
            s == Suppression::Primary,
            disclosive,
            "cell {i} count {c}: {s:?}"
        );
        if disclosive {
            assert!(s.is_hidden());
        }
    }
}

#[test]
fn disclosive_boundaries() {
    assert!(!is_disclosive(0.0, T));
    assert!(!is_disclosive(0.4, T));
    assert!(is_disclosive(0.6, T));
    assert!(is_disclosive(1.0, T));
    assert!(is_disclosive(7.0, T));
    assert!(is_disclosive(7.4, T));
    assert!(!is_disclosive(7.6, T));
    assert!(!is_disclosive(8.0, T));
    assert!(!is_disclosive(1.0, 1));
    assert!(!is_disclosive(1.0, 0));
    assert!(is_disclosive(9.0, 10));
}

#[test]
fn two_by_two_with_one_small_cell() {
    let (counts, constraints) = table(&[vec![3.0, 20.0], vec![15.0, 30.0]]);
    let out = protect(&counts, &constraints, T);
    assert_eq!(out[0], Suppression::Primary);
    let hidden = hidden_mask(&out);
    assert!(hidden.iter().filter(|&&h| h).count() >= 4, "{out:?}");
    assert!(
        out.iter().filter(|s| **s == Suppression::Secondary).count() >= 3,
        "{out:?}"
    );
    assert_no_single_hidden(&constraints, &hidden);
    assert!(determined(&counts, &constraints, &hidden).is_empty());
    // The smallest positive complements: 15 (column 0) and 20 (row 0), then 30 (the cycle).
    assert_eq!(
        (0..4).filter(|&i| hidden[i]).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert!(!hidden[4..].iter().any(|&h| h), "margins stay published");
}

#[test]
fn the_audit_closes_a_bridge_the_line_rule_misses() {
    // Two 2x2 suppression cycles (rows 0-1 x columns 0-1, rows 2-3 x columns 2-3) joined by
    // one small cell (row 1, column 2). Every row and column has 0 or at least 2 small cells,
    // so the line rule has nothing to do; but the joining cell is in no cycle, so it is the
    // row 1 total minus the published cells minus the cycle's row-1 cells, and the cycle's
    // cells cancel out over the cycle: it is determined.
    let big = 50.0;
    let interior = vec![
        vec![2.0, 3.0, big, big],
        vec![4.0, 5.0, 6.0, big],
        vec![big, big, 2.0, 3.0],
        vec![big, big, 4.0, 5.0],
    ];
    let (counts, constraints) = table(&interior);
    let primary: Vec<bool> = counts.iter().map(|&c| is_disclosive(c, T)).collect();
    assert_eq!(primary.iter().filter(|&&p| p).count(), 9);
    assert_no_single_hidden(&constraints, &primary);
    let bridge = 4 + 2;
    assert_eq!(determined(&counts, &constraints, &primary), vec![bridge]);

    let out = protect(&counts, &constraints, T);
    assert_primary_rule(&counts, &out);
    let hidden = hidden_mask(&out);
    assert!(out.contains(&Suppression::Secondary), "{out:?}");
    assert_no_single_hidden(&constraints, &hidden);
    assert!(determined(&counts, &constraints, &hidden).is_empty());
    assert_lp_safe(&counts, &constraints, &hidden, true);
}

#[test]
fn zero_and_large_counts_are_never_primary() {
    let (counts, constraints) = table(&[
        vec![0.0, 0.0, 12.0],
        vec![8.0, 0.0, 40.0],
        vec![3.0, 9.0, 0.0],
    ]);
    let out = protect(&counts, &constraints, T);
    for (i, &c) in counts.iter().enumerate() {
        if c == 0.0 || c >= T as f64 {
            assert_ne!(out[i], Suppression::Primary, "cell {i} ({c})");
        }
    }
    assert_eq!(out[6], Suppression::Primary);
    // Zeros alone are publishable: nothing to protect.
    let (zeros, zc) = table(&[vec![0.0, 0.0], vec![0.0, 10.0]]);
    assert!(
        protect(&zeros, &zc, T)
            .iter()
            .all(|s| *s == Suppression::None)
    );
}

#[test]
fn invalid_input_fails_closed() {
    let (mut counts, constraints) = table(&[vec![3.0, 20.0], vec![15.0, 30.0]]);
    let mut bad = constraints.clone();
    bad.push(Constraint::new(0, vec![99]));
    assert!(protect(&counts, &bad, T).iter().all(|s| s.is_hidden()));
    counts[3] = f64::NAN;
    let out = protect(&counts, &constraints, T);
    assert!(out.iter().all(|s| s.is_hidden()));
    assert_eq!(out[3], Suppression::Primary);
}

#[test]
fn deterministic() {
    let spec = FamilySpec {
        wards: vec![vec![2, 1, 3], vec![1, 2], vec![3, 1, 1, 2]],
        ncat: 4,
        counts: (0..(2 + 1 + 3 + 1 + 2 + 3 + 1 + 1 + 2) * 4)
            .map(|i| [0, 3, 1, 12, 0, 5, 30, 2, 7][i % 9])
            .collect(),
        neighbourhoods: Some((0..16).map(|i| (i * 7) % 4).collect()),
    };
    let (family, counts) = spec.build();
    let a = protect(&counts, family.constraints(), T);
    let b = protect(&counts, family.constraints(), T);
    assert_eq!(a, b);
    assert_eq!(family.protect(&counts, T).unwrap(), a);
    assert!(family.protect(&counts[1..], T).is_err());
}

// ---------------------------------------------------------------------------------------------
// Random families: place ⊃ localities ⊃ wards ⊃ LSOAs, a breakdown, optional neighbourhoods.

#[derive(Debug, Clone)]
struct FamilySpec {
    /// Per locality, per ward: number of LSOAs.
    wards: Vec<Vec<usize>>,
    ncat: usize,
    /// Per LSOA × category (LSOA-major).
    counts: Vec<u32>,
    /// Per LSOA: its neighbourhood (a grouping that ignores ward boundaries).
    neighbourhoods: Option<Vec<usize>>,
}

impl FamilySpec {
    fn nlsoa(&self) -> usize {
        self.wards.iter().flatten().sum()
    }

    fn build(&self) -> (Family, Vec<f64>) {
        let lsoa = |i: usize| format!("E0100{i:04}");
        let nl = self.nlsoa();
        let mut areas = vec![AreaSpec {
            key: "place".into(),
            level_rank: 3,
            lsoas: (0..nl).map(lsoa).collect(),
        }];
        let mut next = 0;
        let mut ward_areas = Vec::new();
        for (li, wards) in self.wards.iter().enumerate() {
            let mut loc = Vec::new();
            for (wi, &k) in wards.iter().enumerate() {
                let ls: Vec<String> = (next..next + k).map(lsoa).collect();
                next += k;
                loc.extend(ls.clone());
                ward_areas.push(AreaSpec {
                    key: format!("ward-{li}-{wi}"),
                    level_rank: 0,
                    lsoas: ls,
                });
            }
            areas.push(AreaSpec {
                key: format!("locality-{li}"),
                level_rank: 2,
                lsoas: loc,
            });
        }
        if let Some(nb) = &self.neighbourhoods {
            let mut groups: std::collections::BTreeMap<usize, Vec<String>> = Default::default();
            for (l, &g) in nb.iter().enumerate().take(nl) {
                groups.entry(g).or_default().push(lsoa(l));
            }
            for (g, ls) in groups {
                areas.push(AreaSpec {
                    key: format!("neighbourhood-{g}"),
                    level_rank: 1,
                    lsoas: ls,
                });
            }
        }
        areas.extend(ward_areas);
        let categories: Vec<String> = (1..=self.ncat).map(|q| format!("q{q}")).collect();
        let family = Family::new(areas, categories, true).unwrap();
        let ncat = self.ncat;
        let counts = family.counts_from_lsoas(|l, cat| {
            let i: usize = l[4..].parse().unwrap();
            match cat {
                None => (0..ncat).map(|j| self.counts[i * ncat + j] as f64).sum(),
                Some(q) => {
                    let j: usize = q[1..].parse::<usize>().unwrap() - 1;
                    self.counts[i * ncat + j] as f64
                }
            }
        });
        (family, counts)
    }
}

fn small_count() -> impl Strategy<Value = u32> {
    prop_oneof![3 => Just(0u32), 4 => 1u32..8, 3 => 0u32..=30]
}

fn family_spec(neighbourhoods: bool) -> impl Strategy<Value = FamilySpec> {
    (
        prop::collection::vec(prop::collection::vec(1usize..=3, 2..=6), 2..=3),
        2usize..=5,
    )
        .prop_flat_map(move |(wards, ncat)| {
            let nl: usize = wards.iter().flatten().sum();
            let nb = if neighbourhoods {
                prop::collection::vec(0usize..4, nl).prop_map(Some).boxed()
            } else {
                Just(None).boxed()
            };
            (
                Just(wards),
                Just(ncat),
                prop::collection::vec(small_count(), nl * ncat),
                nb,
            )
        })
        .prop_map(|(wards, ncat, counts, neighbourhoods)| FamilySpec {
            wards,
            ncat,
            counts,
            neighbourhoods,
        })
}

/// Connected components of hidden cells (sharing a constraint), as (cells, constraints).
fn hidden_components(
    n: usize,
    constraints: &[Constraint],
    hidden: &[bool],
) -> Vec<(Vec<usize>, Vec<usize>)> {
    let mut comp = vec![usize::MAX; n];
    let mut out = Vec::new();
    let mut by_cell: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (k, con) in constraints.iter().enumerate() {
        for c in con.members() {
            by_cell[c].push(k);
        }
    }
    for start in 0..n {
        if !hidden[start] || comp[start] != usize::MAX {
            continue;
        }
        let id = out.len();
        let mut cells = vec![start];
        let mut ks = BTreeSet::new();
        comp[start] = id;
        let mut i = 0;
        while i < cells.len() {
            for &k in &by_cell[cells[i]] {
                ks.insert(k);
                for c in constraints[k].members() {
                    if hidden[c] && comp[c] == usize::MAX {
                        comp[c] = id;
                        cells.push(c);
                    }
                }
            }
            i += 1;
        }
        out.push((cells, ks.into_iter().collect()));
    }
    out
}

/// The LP attack: for every hidden cell, min and max of its value subject to every constraint
/// (published cells moved to the right-hand side) and non-negativity of the hidden cells.
/// Asserts the true value lies in [min, max] and max − min > 0.5 (not pinned); with `integer`,
/// also that at least two integers are feasible (an attacker who knows counts are integers).
fn assert_lp_safe(counts: &[f64], constraints: &[Constraint], hidden: &[bool], integer: bool) {
    for (cells, ks) in hidden_components(counts.len(), constraints, hidden) {
        for &target in &cells {
            let mut ends = [0.0f64; 2];
            for (e, dir) in [
                OptimizationDirection::Minimize,
                OptimizationDirection::Maximize,
            ]
            .into_iter()
            .enumerate()
            {
                let mut lp = Problem::new(dir);
                let vars: Vec<_> = cells
                    .iter()
                    .map(|&c| lp.add_var(if c == target { 1.0 } else { 0.0 }, (0.0, f64::INFINITY)))
                    .collect();
                for &k in &ks {
                    let con = &constraints[k];
                    let mut rhs = 0.0;
                    let mut expr: Vec<(minilp::Variable, f64)> = Vec::new();
                    let terms = std::iter::once((con.total, 1.0))
                        .chain(con.parts.iter().map(|&p| (p, -1.0)));
                    for (c, coef) in terms {
                        if hidden[c] {
                            let v = cells.iter().position(|&x| x == c).unwrap();
                            expr.push((vars[v], coef));
                        } else {
                            rhs -= coef * counts[c];
                        }
                    }
                    lp.add_constraint(expr.as_slice(), ComparisonOp::Eq, rhs);
                }
                ends[e] = match lp.solve() {
                    Ok(sol) => sol.objective(),
                    Err(minilp::Error::Unbounded) => f64::INFINITY,
                    Err(e) => panic!("LP for cell {target}: {e}"),
                };
            }
            let [min, max] = ends;
            let truth = counts[target];
            assert!(
                min - 1e-6 <= truth && truth <= max + 1e-6,
                "cell {target}: true {truth} outside [{min}, {max}]"
            );
            assert!(
                max - min > 0.5,
                "cell {target} (true {truth}) pinned to [{min}, {max}]"
            );
            if integer {
                let lo = (min - 1e-6).ceil();
                let hi = (max + 1e-6).floor();
                assert!(
                    hi - lo >= 1.0,
                    "cell {target}: only {lo} is an integer in [{min}, {max}]"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Differencing: no constraint is left with a single hidden member, every disclosive count
    /// is hidden (and only those are primary), and nothing is determined by linear algebra.
    #[test]
    fn no_differencing(spec in family_spec(false)) {
        let (family, counts) = spec.build();
        let out = protect(&counts, family.constraints(), T);
        assert_primary_rule(&counts, &out);
        let hidden = hidden_mask(&out);
        assert_no_single_hidden(family.constraints(), &hidden);
        prop_assert!(determined(&counts, family.constraints(), &hidden).is_empty());
    }

    /// The same with non-nested neighbourhoods in the family.
    #[test]
    fn no_differencing_with_neighbourhoods(spec in family_spec(true)) {
        let (family, counts) = spec.build();
        let out = protect(&counts, family.constraints(), T);
        assert_primary_rule(&counts, &out);
        let hidden = hidden_mask(&out);
        assert_no_single_hidden(family.constraints(), &hidden);
        prop_assert!(determined(&counts, family.constraints(), &hidden).is_empty());
    }

    /// The LP attacker: no hidden cell is pinned (max − min > 0.5), the truth is feasible,
    /// and (nested hierarchy × breakdown) at least two integers remain feasible.
    #[test]
    fn lp_attacker_pins_nothing(spec in family_spec(false)) {
        let (family, counts) = spec.build();
        let out = protect(&counts, family.constraints(), T);
        assert_lp_safe(&counts, family.constraints(), &hidden_mask(&out), true);
    }

    /// The LP attacker on families with non-nested neighbourhoods.
    #[test]
    fn lp_attacker_pins_nothing_with_neighbourhoods(spec in family_spec(true)) {
        let (family, counts) = spec.build();
        let out = protect(&counts, family.constraints(), T);
        assert_lp_safe(&counts, family.constraints(), &hidden_mask(&out), false);
    }

    /// The attack works when the defence is off: with one small cell in a table of large
    /// ones and published margins, primary-only suppression is undone by `determined` (and by
    /// the LP); `protect` leaves nothing determined.
    #[test]
    fn primary_only_is_attackable(
        r in 2usize..=5,
        c in 2usize..=5,
        seed in prop::collection::vec(8u32..=60, 25),
        small in 1u32..8,
        at in 0usize..25,
    ) {
        let at = at % (r * c);
        let interior: Vec<Vec<f64>> = (0..r)
            .map(|i| (0..c).map(|j| {
                if i * c + j == at { small as f64 } else { seed[i * c + j] as f64 }
            }).collect())
            .collect();
        let (counts, constraints) = table(&interior);
        let naive: Vec<bool> = counts.iter().map(|&x| is_disclosive(x, T)).collect();
        prop_assert_eq!(determined(&counts, &constraints, &naive), vec![at]);
        let out = protect(&counts, &constraints, T);
        let hidden = hidden_mask(&out);
        prop_assert!(determined(&counts, &constraints, &hidden).is_empty());
        assert_lp_safe(&counts, &constraints, &hidden, true);
    }
}

#[test]
fn family_with_a_non_nested_neighbourhood() {
    // Wards W1 = {a, b}, W2 = {c, d}; neighbourhoods N1 = {b, c} (straddles both wards),
    // N2 = {a}, N3 = {d}; place P = {a, b, c, d}.
    let area = |key: &str, rank: u8, ls: &[&str]| AreaSpec {
        key: key.into(),
        level_rank: rank,
        lsoas: ls.iter().map(|s| s.to_string()).collect(),
    };
    let family = Family::new(
        vec![
            area("P", 2, &["a", "b", "c", "d"]),
            area("N1", 1, &["b", "c"]),
            area("N2", 1, &["a"]),
            area("N3", 1, &["d"]),
            area("W1", 0, &["a", "b"]),
            area("W2", 0, &["c", "d"]),
        ],
        vec![],
        false,
    )
    .unwrap();
    assert_eq!(family.len(), 6);
    let cell = |k: &str| family.cell(k, None).unwrap();
    let got: BTreeSet<(usize, Vec<usize>)> = family
        .constraints()
        .iter()
        .map(|k| {
            let mut p = k.parts.clone();
            p.sort_unstable();
            (k.total, p)
        })
        .collect();
    let mut want = BTreeSet::new();
    let sorted = |mut v: Vec<usize>| {
        v.sort_unstable();
        v
    };
    want.insert((cell("P"), sorted(vec![cell("N1"), cell("N2"), cell("N3")])));
    want.insert((cell("P"), sorted(vec![cell("W1"), cell("W2")])));
    // N2 = {a} and N3 = {d} are single LSOAs: no ward is inside them, and neither ward is
    // partitioned by neighbourhoods (N1 straddles), so no ward-neighbourhood constraint.
    assert_eq!(got, want);
    for k in family.constraints() {
        for w in ["W1", "W2"] {
            assert!(
                !(k.total == cell(w)
                    && k.parts.iter().any(|&p| p >= cell("N1") && p <= cell("N3")))
            );
        }
    }

    // A neighbourhood that is exactly a ward is related to it once, per category too.
    let family = Family::new(
        vec![
            area("P", 2, &["a", "b", "c"]),
            area("N1", 1, &["a", "b"]),
            area("N2", 1, &["c"]),
            area("W1", 0, &["a", "b"]),
            area("W2", 0, &["c"]),
        ],
        vec!["f".into(), "m".into()],
        true,
    )
    .unwrap();
    assert_eq!(family.len(), 15);
    let n1f = family.cell("N1", Some("f")).unwrap();
    let w1f = family.cell("W1", Some("f")).unwrap();
    let eq: Vec<&Constraint> = family
        .constraints()
        .iter()
        .filter(|k| k.members().collect::<BTreeSet<_>>() == BTreeSet::from([n1f, w1f]))
        .collect();
    assert_eq!(eq.len(), 1, "{eq:?}");
    assert_eq!(family.describe(n1f), Some(("N1", Some("f"))));
    assert_eq!(family.cell("N1", Some("x")), None);
    assert_eq!(family.cell("nowhere", None), None);
    // Breakdown constraints: each area's total = f + m.
    let p = family.cell("P", None).unwrap();
    assert!(
        family
            .constraints()
            .contains(&Constraint::new(p, vec![p + 1, p + 2]))
    );
    // Non-exhaustive: no breakdown constraint.
    let family = Family::new(
        vec![
            area("P", 1, &["a", "b"]),
            area("W1", 0, &["a"]),
            area("W2", 0, &["b"]),
        ],
        vec!["f".into()],
        false,
    )
    .unwrap();
    assert_eq!(family.constraints().len(), 2);
    assert!(
        Family::new(
            vec![area("P", 1, &["a"]), area("P", 0, &["a"])],
            vec![],
            false
        )
        .is_err()
    );
}

fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// A large family: `localities` × `wards` wards of 2-5 LSOAs, `neighbourhoods` non-nested
/// neighbourhoods, `ncat` categories; per LSOA × category, a zero with probability `zeros`/10,
/// else 0..`small` with probability 4/10, else 0..`large`.
fn large_family(
    localities: usize,
    wards: usize,
    neighbourhoods: u64,
    ncat: usize,
    (zeros, small, large): (u64, u64, u64),
) -> (Family, Vec<f64>) {
    let ward_lsoas: Vec<Vec<usize>> = (0..localities)
        .map(|l| (0..wards).map(|w| 2 + (l * wards + w) % 4).collect())
        .collect();
    let nl: usize = ward_lsoas.iter().flatten().sum();
    let mut next = xorshift(0x2545_f491_4f6c_dd1d);
    let counts: Vec<u32> = (0..nl * ncat)
        .map(|_| match next() % 10 {
            d if d < zeros => 0,
            d if d < zeros + 4 => (next() % small) as u32,
            _ => (next() % large) as u32,
        })
        .collect();
    let nb: Vec<usize> = (0..nl)
        .map(|_| (next() % neighbourhoods) as usize)
        .collect();
    FamilySpec {
        wards: ward_lsoas,
        ncat,
        counts,
        neighbourhoods: Some(nb),
    }
    .build()
}

/// A deep family with one huge linked component: 500 single-LSOA small areas ⊂ 100 wards ⊂
/// 10 localities ⊂ place, 5 categories (3,666 cells, 1,349 constraints), mostly small counts.
fn deep_family() -> (Family, Vec<f64>) {
    let lsoas = |r: std::ops::Range<usize>| r.map(|i| format!("L{i}")).collect::<Vec<_>>();
    let mut areas = vec![AreaSpec {
        key: "place".into(),
        level_rank: 3,
        lsoas: lsoas(0..500),
    }];
    for (rank, size, name) in [(2u8, 50, "locality"), (1, 5, "ward"), (0, 1, "small")] {
        for i in 0..500 / size {
            areas.push(AreaSpec {
                key: format!("{name}-{i}"),
                level_rank: rank,
                lsoas: lsoas(i * size..(i + 1) * size),
            });
        }
    }
    let categories: Vec<String> = (1..=5).map(|q| format!("q{q}")).collect();
    let family = Family::new(areas, categories, true).unwrap();
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
    let per: Vec<f64> = (0..500 * 5)
        .map(|_| match next() % 10 {
            0 | 1 => 0.0,
            2..=4 => (next() % 8) as f64,
            _ => (next() % 40) as f64,
        })
        .collect();
    let counts = family.counts_from_lsoas(|l, c| {
        let i: usize = l[1..].parse().unwrap();
        match c {
            None => (0..5).map(|j| per[i * 5 + j]).sum(),
            Some(q) => per[i * 5 + q[1..].parse::<usize>().unwrap() - 1],
        }
    });
    (family, counts)
}

/// Timing on large families (~3,000 cells): age bands by ward (mostly small counts), IMD
/// quintiles by small wards (some small counts), and a deep hierarchy whose hidden cells form
/// one component of over 1,000 cells. Prints the times; asserts safety only.
#[test]
fn large_families_are_protected_quickly() {
    for (name, (family, counts)) in [
        ("24 age bands", large_family(8, 10, 30, 24, (4, 4, 12))),
        ("5 quintiles", large_family(12, 25, 190, 5, (1, 8, 60))),
        ("deep hierarchy", deep_family()),
    ] {
        let start = Instant::now();
        let out = protect(&counts, family.constraints(), T);
        let took = start.elapsed();
        let hidden = hidden_mask(&out);
        let primary = out.iter().filter(|s| **s == Suppression::Primary).count();
        let secondary = out.iter().filter(|s| **s == Suppression::Secondary).count();
        eprintln!(
            "{name}: {} cells, {} constraints: {primary} primary + {secondary} secondary in {took:?}",
            family.len(),
            family.constraints().len()
        );
        assert_primary_rule(&counts, &out);
        assert_no_single_hidden(family.constraints(), &hidden);
        assert!(determined(&counts, family.constraints(), &hidden).is_empty());
    }
}
