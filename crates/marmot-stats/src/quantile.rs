//! Assigning values to quantiles (deciles, quintiles, ...).

use crate::error::{Result, StatsError};

/// Quantile of each value, by the `phe_quantile` rules (PHEindicatormethods::phe_quantile).
///
/// Only non-missing values are ranked (`None` or `NaN` is missing), and ties take the minimum
/// rank. With `invert = true` (the package default) the ranking is on −value, so quantile 1
/// holds the highest values. With N non-missing values:
/// q = floor((nq + 1) − ceiling((N + 1 − rank)/(N/nq))), and a q of 0 becomes 1.
///
/// Returns `Ok(None)` when N < nquantiles (the package gives the whole group `NA` and warns);
/// otherwise one entry per input, `None` for missing values.
pub fn quantiles(
    values: &[Option<f64>],
    nquantiles: u32,
    invert: bool,
) -> Result<Option<Vec<Option<u32>>>> {
    if nquantiles == 0 {
        return Err(StatsError::InvalidArgument(
            "nquantiles must be at least 1".into(),
        ));
    }
    let present: Vec<f64> = values
        .iter()
        .filter_map(|v| v.filter(|x| !x.is_nan()))
        .map(|x| if invert { -x } else { x })
        .collect();
    let n = present.len();
    if n < nquantiles as usize {
        return Ok(None);
    }
    let mut sorted = present.clone();
    sorted.sort_by(f64::total_cmp);
    let nf = n as f64;
    let nq = nquantiles as f64;
    let out = values
        .iter()
        .map(|v| {
            let x = v.filter(|x| !x.is_nan())?;
            let key = if invert { -x } else { x };
            // Minimum rank: 1 + number of values strictly below.
            let rank = sorted.partition_point(|&s| s < key) as f64 + 1.0;
            let q = ((nq + 1.0) - ((nf + 1.0 - rank) / (nf / nq)).ceil()).floor();
            Some(if q <= 0.0 { 1 } else { q as u32 })
        })
        .collect();
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_share_the_min_rank_and_missing_stay_missing() {
        let v = [Some(1.0), Some(1.0), None, Some(3.0), Some(4.0)];
        let q = quantiles(&v, 2, false).ok().flatten().unwrap_or_default();
        assert_eq!(q, vec![Some(1), Some(1), None, Some(2), Some(2)]);
        let q = quantiles(&v, 2, true).ok().flatten().unwrap_or_default();
        assert_eq!(q, vec![Some(2), Some(2), None, Some(1), Some(1)]);
    }

    #[test]
    fn too_few_values() {
        assert_eq!(quantiles(&[Some(1.0), None], 2, true), Ok(None));
        assert!(quantiles(&[Some(1.0)], 0, true).is_err());
    }
}
