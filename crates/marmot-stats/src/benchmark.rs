//! Comparing an area with a benchmark (Fingertips "compared with benchmark" method).

use crate::ci::Interval;
use crate::error::{Result, StatsError};

/// How an area's value compares with a benchmark, judged by its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum BenchmarkComparison {
    /// The benchmark is below the lower limit: significantly higher.
    Higher,
    /// The benchmark lies within the interval (limits included).
    Similar,
    /// The benchmark is above the upper limit: significantly lower.
    Lower,
    /// No interval or no benchmark (e.g. a suppressed value): not compared.
    NotCompared,
}

/// The direction in which an indicator is "good".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Polarity {
    /// A higher value is better (e.g. life expectancy).
    HigherIsBetter,
    /// A lower value is better (e.g. mortality).
    LowerIsBetter,
    /// No judgement is made on direction (e.g. population counts).
    NoJudgement,
}

/// A comparison translated through the indicator's polarity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum BenchmarkJudgement {
    /// Significantly better than the benchmark.
    Better,
    /// Not significantly different.
    Similar,
    /// Significantly worse than the benchmark.
    Worse,
    /// Not compared: polarity `NoJudgement` or no comparison possible.
    NotCompared,
}

impl BenchmarkComparison {
    /// A display label.
    pub fn label(self) -> &'static str {
        match self {
            BenchmarkComparison::Higher => "Higher",
            BenchmarkComparison::Similar => "Similar",
            BenchmarkComparison::Lower => "Lower",
            BenchmarkComparison::NotCompared => "Not compared",
        }
    }
}

impl BenchmarkJudgement {
    /// A display label.
    pub fn label(self) -> &'static str {
        match self {
            BenchmarkJudgement::Better => "Better",
            BenchmarkJudgement::Similar => "Similar",
            BenchmarkJudgement::Worse => "Worse",
            BenchmarkJudgement::NotCompared => "Not compared",
        }
    }
}

/// Compare an area's confidence interval (95% or 99.8%) with a benchmark value: the area is
/// significantly `Higher` when the benchmark is below the lower limit, `Lower` when it is above
/// the upper limit, otherwise `Similar` (PHE Fingertips technical guidance, "Comparing
/// indicator values with a benchmark"; the same overlap rule PHEindicatormethods uses for
/// funnel significance).
///
/// `None` for the interval or the benchmark gives `NotCompared`. Errors for non-finite
/// numbers or lower > upper.
pub fn compare_with_benchmark(
    ci: Option<Interval>,
    benchmark: Option<f64>,
) -> Result<BenchmarkComparison> {
    let (Some(ci), Some(benchmark)) = (ci, benchmark) else {
        return Ok(BenchmarkComparison::NotCompared);
    };
    for (name, v) in [
        ("lower limit", ci.lower),
        ("upper limit", ci.upper),
        ("benchmark", benchmark),
    ] {
        if !v.is_finite() {
            return Err(StatsError::NotFinite { name, value: v });
        }
    }
    if ci.lower > ci.upper {
        return Err(StatsError::InvalidArgument(format!(
            "lower limit {} is above upper limit {}",
            ci.lower, ci.upper
        )));
    }
    Ok(if benchmark < ci.lower {
        BenchmarkComparison::Higher
    } else if benchmark > ci.upper {
        BenchmarkComparison::Lower
    } else {
        BenchmarkComparison::Similar
    })
}

/// Translate a comparison through the indicator's polarity (Fingertips RAG colouring):
/// `HigherIsBetter` maps Higher → Better and Lower → Worse, `LowerIsBetter` the reverse, and
/// `NoJudgement` (or a missing comparison) gives `NotCompared` (the Higher/Lower comparison
/// itself is still available for display).
pub fn judge(comparison: BenchmarkComparison, polarity: Polarity) -> BenchmarkJudgement {
    use BenchmarkComparison as C;
    use BenchmarkJudgement as J;
    match (polarity, comparison) {
        (Polarity::NoJudgement, _) | (_, C::NotCompared) => J::NotCompared,
        (_, C::Similar) => J::Similar,
        (Polarity::HigherIsBetter, C::Higher) | (Polarity::LowerIsBetter, C::Lower) => J::Better,
        (Polarity::HigherIsBetter, C::Lower) | (Polarity::LowerIsBetter, C::Higher) => J::Worse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(lower: f64, upper: f64, b: f64) -> BenchmarkComparison {
        compare_with_benchmark(Some(Interval::new(lower, upper)), Some(b))
            .unwrap_or(BenchmarkComparison::NotCompared)
    }

    #[test]
    fn benchmark_outside_the_interval_is_significant() {
        assert_eq!(cmp(10.0, 20.0, 5.0), BenchmarkComparison::Higher);
        assert_eq!(cmp(10.0, 20.0, 25.0), BenchmarkComparison::Lower);
        assert_eq!(cmp(10.0, 20.0, 15.0), BenchmarkComparison::Similar);
    }

    #[test]
    fn limits_are_inclusive() {
        assert_eq!(cmp(10.0, 20.0, 10.0), BenchmarkComparison::Similar);
        assert_eq!(cmp(10.0, 20.0, 20.0), BenchmarkComparison::Similar);
        assert_eq!(cmp(10.0, 10.0, 10.0), BenchmarkComparison::Similar);
    }

    #[test]
    fn missing_input_is_not_compared_and_bad_input_errors() {
        assert_eq!(
            compare_with_benchmark(None, Some(1.0)),
            Ok(BenchmarkComparison::NotCompared)
        );
        assert_eq!(
            compare_with_benchmark(Some(Interval::new(0.0, 1.0)), None),
            Ok(BenchmarkComparison::NotCompared)
        );
        assert!(compare_with_benchmark(Some(Interval::new(2.0, 1.0)), Some(1.0)).is_err());
        assert!(compare_with_benchmark(Some(Interval::new(f64::NAN, 1.0)), Some(1.0)).is_err());
    }

    #[test]
    fn polarity_translation() {
        use BenchmarkComparison as C;
        use BenchmarkJudgement as J;
        let cases = [
            (C::Higher, Polarity::HigherIsBetter, J::Better),
            (C::Lower, Polarity::HigherIsBetter, J::Worse),
            (C::Similar, Polarity::HigherIsBetter, J::Similar),
            (C::Higher, Polarity::LowerIsBetter, J::Worse),
            (C::Lower, Polarity::LowerIsBetter, J::Better),
            (C::Similar, Polarity::LowerIsBetter, J::Similar),
            (C::Higher, Polarity::NoJudgement, J::NotCompared),
            (C::Similar, Polarity::NoJudgement, J::NotCompared),
            (C::NotCompared, Polarity::HigherIsBetter, J::NotCompared),
        ];
        for (c, p, j) in cases {
            assert_eq!(judge(c, p), j, "{c:?} {p:?}");
        }
    }

    #[test]
    fn dsr_style_worked_example() {
        // Area 95% CI 105.0–407.5 against England 150: similar; at 99.8% likewise.
        assert_eq!(cmp(105.0, 407.5, 150.0), BenchmarkComparison::Similar);
        // Area 883.5–1010.4 against 500: higher; for mortality that is worse.
        let c = cmp(883.5, 1010.4, 500.0);
        assert_eq!(judge(c, Polarity::LowerIsBetter), BenchmarkJudgement::Worse);
    }
}
