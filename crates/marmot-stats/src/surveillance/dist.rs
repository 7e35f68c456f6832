//! Distribution helpers: the normal quantile (Wichura's AS 241, the algorithm
//! behind R's `qnorm`), the normal CDF, the two-sided Student-t p-value, and
//! quantiles / upper tails of the Poisson and negative binomial distributions
//! (computed by normalised summation of the probability mass function, which
//! is accurate for the large counts and near-Poisson dispersions that occur
//! in surveillance data).

use statrs::function::beta::checked_beta_reg;
use statrs::function::erf::erfc;

/// Standard normal quantile function (AS 241, as in R's `qnorm`).
///
/// Returns NaN outside [0, 1], and ±∞ at 0 / 1.
// The AS 241 coefficients are kept exactly as published.
#[allow(clippy::excessive_precision)]
pub(super) fn qnorm_std(p: f64) -> f64 {
    // The same algorithm R's qnorm uses (Wichura's AS 241), shared with the indicator methods.
    crate::dist::normal_quantile(p)
}

/// Normal quantile with mean and sd.
pub(super) fn qnorm(p: f64, mean: f64, sd: f64) -> f64 {
    mean + sd * qnorm_std(p)
}

/// Standard normal CDF, lower tail.
pub(super) fn pnorm_std(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Normal CDF, lower tail (`pnorm(x, mean, sd)`); sd = 0 gives a step.
pub(super) fn pnorm(x: f64, mean: f64, sd: f64) -> f64 {
    if sd == 0.0 {
        return if x < mean { 0.0 } else { 1.0 };
    }
    pnorm_std((x - mean) / sd)
}

/// Two-sided p-value of a t statistic with `df` degrees of freedom,
/// `2 * pt(-|t|, df)`. NaN when df <= 0 or t is NaN.
pub(super) fn t_test_p_value(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t.is_infinite() {
        return 0.0;
    }
    let x = df / (df + t * t);
    checked_beta_reg(df / 2.0, 0.5, x).unwrap_or(f64::NAN)
}

/// A discrete distribution tabulated as normalised probabilities on
/// `start..start+probs.len()`; mass outside is below ~1e-17 of the total.
struct Table {
    start: u64,
    probs: Vec<f64>,
}

/// Builds the table from the mode outwards, given the pmf ratio
/// `ratio(j) = p(j+1)/p(j)`. `extend_to` forces the table to reach that value.
fn tabulate(mode: u64, ratio: impl Fn(f64) -> f64, extend_to: u64) -> Table {
    const REL: f64 = 1e-17;
    const MAX_TERMS: usize = 50_000_000;
    let mut up = vec![1.0_f64];
    let mut total = 1.0_f64;
    let mut j = mode;
    let mut term = 1.0_f64;
    loop {
        term *= ratio(j as f64);
        j += 1;
        if !(term.is_finite()) || up.len() > MAX_TERMS {
            break;
        }
        if term < REL * total && j > extend_to {
            break;
        }
        up.push(term);
        total += term;
    }
    let mut down = Vec::new();
    let mut term = 1.0_f64;
    let mut j = mode;
    while j > 0 {
        let r = ratio((j - 1) as f64);
        if r <= 0.0 || !r.is_finite() {
            break;
        }
        term /= r;
        j -= 1;
        if term < REL * total || down.len() > MAX_TERMS {
            break;
        }
        down.push(term);
        total += term;
    }
    let start = mode - down.len() as u64;
    let mut probs: Vec<f64> = down.into_iter().rev().collect();
    probs.extend(up);
    for p in &mut probs {
        *p /= total;
    }
    Table { start, probs }
}

impl Table {
    /// Smallest x with P(X <= x) >= p.
    fn quantile(&self, p: f64) -> f64 {
        let mut cum = 0.0;
        for (i, &q) in self.probs.iter().enumerate() {
            cum += q;
            if cum >= p * (1.0 - 64.0 * f64::EPSILON) {
                return (self.start + i as u64) as f64;
            }
        }
        (self.start + self.probs.len() as u64) as f64
    }

    /// P(X >= y).
    fn upper_tail_from(&self, y: f64) -> f64 {
        if y <= self.start as f64 {
            return 1.0;
        }
        let first = (y.ceil() as u64).saturating_sub(self.start) as usize;
        if first >= self.probs.len() {
            return 0.0;
        }
        // sum from the smallest terms for accuracy
        self.probs[first..].iter().rev().sum::<f64>().min(1.0)
    }
}

fn nb_table(size: f64, prob: f64, extend_to: u64) -> Table {
    let q = 1.0 - prob;
    let mode = if size > 1.0 {
        ((size - 1.0) * q / prob).floor().max(0.0) as u64
    } else {
        0
    };
    tabulate(mode, move |j| (j + size) / (j + 1.0) * q, extend_to)
}

fn pois_table(lambda: f64, extend_to: u64) -> Table {
    let mode = lambda.floor().max(0.0) as u64;
    tabulate(mode, move |j| lambda / (j + 1.0), extend_to)
}

fn valid_nb(size: f64, prob: f64) -> bool {
    size.is_finite() && size > 0.0 && prob > 0.0 && prob < 1.0
}

/// `qnbinom(p, size, prob)` (lower tail). NaN for invalid parameters.
pub(super) fn qnbinom(p: f64, size: f64, prob: f64) -> f64 {
    if !valid_nb(size, prob) || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    nb_table(size, prob, 0).quantile(p)
}

/// `pnbinom(y - 1, size, prob, lower.tail = FALSE)` = P(Y >= y).
pub(super) fn nbinom_upper_tail(y: f64, size: f64, prob: f64) -> f64 {
    if !valid_nb(size, prob) || y.is_nan() {
        return f64::NAN;
    }
    if y <= 0.0 {
        return 1.0;
    }
    nb_table(size, prob, y.ceil() as u64).upper_tail_from(y)
}

/// `qpois(p, lambda)`.
pub(super) fn qpois(p: f64, lambda: f64) -> f64 {
    if !lambda.is_finite() || lambda < 0.0 || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if lambda == 0.0 {
        return 0.0;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    pois_table(lambda, 0).quantile(p)
}

/// `ppois(y - 1, lambda, lower.tail = FALSE)` = P(Y >= y).
pub(super) fn pois_upper_tail(y: f64, lambda: f64) -> f64 {
    if !(lambda.is_finite() && lambda >= 0.0) || y.is_nan() {
        return f64::NAN;
    }
    if y <= 0.0 {
        return 1.0;
    }
    if lambda == 0.0 {
        return 0.0;
    }
    pois_table(lambda, y.ceil() as u64).upper_tail_from(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-300)
    }

    #[test]
    fn qnorm_values() {
        assert!(close(qnorm_std(0.975), 1.959963984540054, 1e-15));
        assert!(close(qnorm_std(0.999), 3.090232306167813, 1e-15));
        assert!(close(qnorm_std(1e-10), -6.361340902404056, 1e-14));
        assert_eq!(qnorm_std(0.5), 0.0);
        assert!(qnorm_std(1.5).is_nan());
    }

    #[test]
    fn pnorm_and_t() {
        assert!(close(pnorm_std(1.959963984540054), 0.975, 1e-10));
        // 2*pt(-2, 10) = 0.07338803
        assert!(close(t_test_p_value(2.0, 10.0), 0.073388034770740, 1e-10));
        assert!(t_test_p_value(1.0, 0.0).is_nan());
    }

    #[test]
    fn discrete_quantiles() {
        // R: qpois(0.95, 4.2) = 8 ; qnbinom(0.95, size=2, prob=0.3) = 12
        assert_eq!(qpois(0.95, 4.2), 8.0);
        assert_eq!(qnbinom(0.95, 2.0, 0.3), 12.0);
        assert_eq!(qnbinom(0.05, 2.0, 0.3), 0.0);
        // R: ppois(4, 4.2, lower=FALSE) = 0.4101... (P(Y>=5))
        assert!(close(pois_upper_tail(5.0, 4.2), 0.410172978689422, 1e-12));
        // R: pnbinom(9, 2, 0.3, lower=FALSE) = 0.1130...
        assert!(close(nbinom_upper_tail(10.0, 2.0, 0.3), 0.1129900996, 1e-9));
        assert_eq!(nbinom_upper_tail(0.0, 2.0, 0.3), 1.0);
        assert!(qnbinom(0.5, -1.0, 0.3).is_nan());
        // large mean, near-Poisson dispersion stays finite and sensible
        let q = qnbinom(0.95, 1.0e7, 1.0 / (1.0 + 1e-4));
        assert!(q > 1000.0 && q < 1100.0, "{q}");
    }
}
