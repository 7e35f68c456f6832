//! Threshold-based escalation levels (OPEL-style).
//!
//! Method: the persistence rule of operational escalation frameworks such as
//! NHS England's *Operational Pressures Escalation Levels (OPEL) Framework*
//! (2023/24) and UKHSA's threshold-based surveillance levels: a level is
//! declared when the indicator has been at or beyond that level's threshold
//! for `K` consecutive weeks. See [`escalation_levels`].

use super::error::{Result, SurveillanceError};

/// Which side of a threshold escalates (for [`escalation_levels`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EscalationDirection {
    /// Rising series: a threshold is met when `value >= threshold`;
    /// thresholds must be strictly increasing (default).
    #[default]
    Rising,
    /// Falling series: a threshold is met when `value <= threshold`;
    /// thresholds must be strictly decreasing.
    Falling,
}

/// Parameters of [`escalation_levels`] (OPEL-style escalation).
#[derive(Debug, Clone, PartialEq)]
pub struct EscalationParams {
    /// Thresholds of levels 1, 2, ... (finite; strictly increasing for
    /// [`EscalationDirection::Rising`], strictly decreasing for
    /// [`EscalationDirection::Falling`]). At least one.
    pub thresholds: Vec<f64>,
    /// `K`: number of consecutive weeks the threshold must be met (>= 1).
    pub consecutive: usize,
    /// Direction of escalation.
    pub direction: EscalationDirection,
}

/// Escalation level of one week (OPEL-style escalation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EscalationWeek {
    /// 0-based week index.
    pub index: usize,
    /// The value of the week (NaN = missing).
    pub value: f64,
    /// Highest level whose threshold this week's value alone meets
    /// (0 when none or missing).
    pub week_level: usize,
    /// Escalation level: the highest level whose threshold was met in each
    /// of the last `K` weeks including this one (0 when none, and in the
    /// first `K - 1` weeks of the series).
    pub level: usize,
}

fn validate(p: &EscalationParams) -> Result<()> {
    let bad = |name: &'static str, reason: &str| {
        Err(SurveillanceError::InvalidParameter {
            name,
            reason: reason.to_string(),
        })
    };
    if p.thresholds.is_empty() {
        return bad("thresholds", "at least one threshold is required");
    }
    if p.thresholds.iter().any(|t| !t.is_finite()) {
        return bad("thresholds", "thresholds must be finite");
    }
    let ordered = p.thresholds.windows(2).all(|w| match p.direction {
        EscalationDirection::Rising => w[1] > w[0],
        EscalationDirection::Falling => w[1] < w[0],
    });
    if !ordered {
        return bad(
            "thresholds",
            match p.direction {
                EscalationDirection::Rising => "must be strictly increasing for a rising series",
                EscalationDirection::Falling => "must be strictly decreasing for a falling series",
            },
        );
    }
    if p.consecutive == 0 {
        return bad("consecutive", "must be >= 1");
    }
    Ok(())
}

/// OPEL-style escalation levels of a weekly series of values (counts or
/// rates; method: persistence rule of the NHS England OPEL framework, see the
/// [module docs](self)).
///
/// The level of week `i` is the highest level `L` such that the value met
/// threshold `L` (`value >= threshold` for a rising series, `<=` for a
/// falling one) in each of weeks `i-K+1 ..= i`; 0 when there is none. Since
/// thresholds are ordered, this is the minimum of the single-week levels over
/// those `K` weeks. The first `K - 1` weeks have level 0 (not enough weeks),
/// and a missing value (NaN) meets no threshold, so it breaks a run.
///
/// Errors: no thresholds, a non-finite threshold, thresholds not strictly
/// ordered in the escalation direction, `consecutive == 0`.
pub fn escalation_levels(values: &[f64], params: &EscalationParams) -> Result<Vec<EscalationWeek>> {
    validate(params)?;
    let week_level = |v: f64| -> usize {
        params
            .thresholds
            .iter()
            .take_while(|&&th| match params.direction {
                EscalationDirection::Rising => v >= th,
                EscalationDirection::Falling => v <= th,
            })
            .count()
    };
    let singles: Vec<usize> = values.iter().map(|&v| week_level(v)).collect();
    let k = params.consecutive;
    Ok(values
        .iter()
        .enumerate()
        .map(|(i, &value)| EscalationWeek {
            index: i,
            value,
            week_level: singles[i],
            level: if i + 1 < k {
                0
            } else {
                singles[i + 1 - k..=i].iter().copied().min().unwrap_or(0)
            },
        })
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn levels(values: &[f64], th: &[f64], k: usize, dir: EscalationDirection) -> Vec<usize> {
        let p = EscalationParams {
            thresholds: th.to_vec(),
            consecutive: k,
            direction: dir,
        };
        escalation_levels(values, &p)
            .unwrap()
            .iter()
            .map(|w| w.level)
            .collect()
    }

    #[test]
    fn rising_with_persistence() {
        let v = [5.0, 12.0, 25.0, 31.0, 35.0, 18.0, 22.0, 10.0, 9.9];
        let th = [10.0, 20.0, 30.0];
        assert_eq!(
            levels(&v, &th, 1, EscalationDirection::Rising),
            vec![0, 1, 2, 3, 3, 1, 2, 1, 0]
        );
        assert_eq!(
            levels(&v, &th, 2, EscalationDirection::Rising),
            vec![0, 0, 1, 2, 3, 1, 1, 1, 0]
        );
        assert_eq!(
            levels(&v, &th, 3, EscalationDirection::Rising),
            vec![0, 0, 0, 1, 2, 1, 1, 1, 0]
        );
    }

    #[test]
    fn threshold_met_exactly_and_missing() {
        let v = [10.0, 20.0, f64::NAN, 20.0, 20.0];
        assert_eq!(
            levels(&v, &[10.0, 20.0], 2, EscalationDirection::Rising),
            vec![0, 1, 0, 0, 2]
        );
    }

    #[test]
    fn falling_series() {
        let v = [100.0, 90.0, 80.0, 60.0, 55.0, 85.0];
        let th = [90.0, 80.0, 60.0];
        assert_eq!(
            levels(&v, &th, 1, EscalationDirection::Falling),
            vec![0, 1, 2, 3, 3, 1]
        );
        assert_eq!(
            levels(&v, &th, 2, EscalationDirection::Falling),
            vec![0, 0, 1, 2, 3, 1]
        );
    }

    #[test]
    fn week_level_reported() {
        let p = EscalationParams {
            thresholds: vec![1.0, 2.0],
            consecutive: 3,
            direction: EscalationDirection::Rising,
        };
        let r = escalation_levels(&[2.0, 0.0], &p).unwrap();
        assert_eq!((r[0].week_level, r[0].level), (2, 0));
        assert_eq!((r[1].week_level, r[1].index), (0, 1));
        assert!(escalation_levels(&[], &p).unwrap().is_empty());
    }

    #[test]
    fn invalid_params() {
        let mk = |th: Vec<f64>, k: usize, d: EscalationDirection| EscalationParams {
            thresholds: th,
            consecutive: k,
            direction: d,
        };
        for p in [
            mk(vec![], 1, EscalationDirection::Rising),
            mk(vec![1.0, f64::NAN], 1, EscalationDirection::Rising),
            mk(vec![2.0, 1.0], 1, EscalationDirection::Rising),
            mk(vec![1.0, 1.0], 1, EscalationDirection::Rising),
            mk(vec![1.0, 2.0], 1, EscalationDirection::Falling),
            mk(vec![1.0], 0, EscalationDirection::Rising),
        ] {
            assert!(matches!(
                escalation_levels(&[1.0], &p),
                Err(SurveillanceError::InvalidParameter { .. })
            ));
        }
    }
}
