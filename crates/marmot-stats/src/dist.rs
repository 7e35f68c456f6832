//! Distribution quantiles accurate to a few ulps, used by the indicator methods.
//!
//! * Normal quantile: Wichura's algorithm AS 241 (PPND16), the algorithm behind R's `qnorm`.
//! * Gamma / chi-squared quantiles: safeguarded Newton iteration on the log of the regularized
//!   incomplete gamma function (statrs `gamma_lr` / `gamma_ur`), solving in whichever tail was
//!   asked for so that small tail probabilities keep full relative precision.
//! * Student's t quantile: the same Newton scheme on the regularized incomplete beta function.

use statrs::function::beta::beta_reg;
use statrs::function::gamma::{gamma_lr, gamma_ur, ln_gamma};

use crate::error::{Result, StatsError};

/// Quantile of the standard normal distribution, Φ⁻¹(p).
///
/// Wichura, M. J. (1988) "Algorithm AS 241: The percentage points of the normal
/// distribution", Applied Statistics 37, 477–484 (the algorithm used by R's `qnorm`).
/// Returns −∞ for p = 0, +∞ for p = 1 and `NaN` outside [0, 1].
// The coefficients are kept exactly as published; they round to the nearest f64.
#[allow(clippy::excessive_precision)]
pub fn normal_quantile(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        return q
            * (((((((r * 2509.0809287301226727 + 33430.575583588128105) * r
                + 67265.770927008700853)
                * r
                + 45921.953931549871457)
                * r
                + 13731.693765509461125)
                * r
                + 1971.5909503065514427)
                * r
                + 133.14166789178437745)
                * r
                + 3.387132872796366608)
            / (((((((r * 5226.495278852545925 + 28729.085735721942674) * r
                + 39307.89580009271061)
                * r
                + 21213.794301586595867)
                * r
                + 5394.1960214247511077)
                * r
                + 687.1870074920579083)
                * r
                + 42.313330701600911252)
                * r
                + 1.0);
    }
    let tail = if q < 0.0 { p } else { 1.0 - p };
    let mut r = (-tail.ln()).sqrt();
    let val = if r <= 5.0 {
        r -= 1.6;
        (((((((r * 7.7454501427834140764e-4 + 0.0227238449892691845833) * r
            + 0.24178072517745061177)
            * r
            + 1.27045825245236838258)
            * r
            + 3.64784832476320460504)
            * r
            + 5.7694972214606914055)
            * r
            + 4.6303378461565452959)
            * r
            + 1.42343711074968357734)
            / (((((((r * 1.05075007164441684324e-9 + 5.475938084995344946e-4) * r
                + 0.0151986665636164571966)
                * r
                + 0.14810397642748007459)
                * r
                + 0.68976733498510000455)
                * r
                + 1.6763848301838038494)
                * r
                + 2.05319162663775882187)
                * r
                + 1.0)
    } else {
        r -= 5.0;
        (((((((r * 2.01033439929228813265e-7 + 2.71155556874348757815e-5) * r
            + 0.0012426609473880784386)
            * r
            + 0.026532189526576123093)
            * r
            + 0.29656057182850489123)
            * r
            + 1.7848265399172913358)
            * r
            + 5.4637849111641143699)
            * r
            + 6.6579046435011037772)
            / (((((((r * 2.04426310338993978564e-15 + 1.4215117583164458887e-7) * r
                + 1.8463183175100546818e-5)
                * r
                + 7.868691311456132591e-4)
                * r
                + 0.0148753612908506148525)
                * r
                + 0.13692988092273580531)
                * r
                + 0.59983220655588793769)
                * r
                + 1.0)
    };
    if q < 0.0 { -val } else { val }
}

/// Which tail a probability refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// P(X ≤ x).
    Lower,
    /// P(X > x).
    Upper,
}

/// Solve an increasing function `f(x) = 0` on `(lo, hi)` by Newton's method, falling back to
/// bisection whenever a step leaves the bracket. `f` returns (value, derivative).
fn solve_increasing(mut lo: f64, mut hi: f64, x0: f64, f: impl Fn(f64) -> (f64, f64)) -> f64 {
    let mut x = x0;
    if !(x > lo && x < hi) {
        x = 0.5 * (lo + hi);
    }
    let mut last_step = f64::INFINITY;
    for _ in 0..400 {
        let (fx, dfx) = f(x);
        if fx == 0.0 {
            return x;
        }
        if fx.is_nan() {
            // Out of the function's numerical range: bisect towards the interior.
            x = 0.5 * (lo + hi);
            continue;
        }
        if fx < 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        let mut next = x - fx / dfx;
        if !(next.is_finite() && next > lo && next < hi) {
            next = 0.5 * (lo + hi);
        }
        let step = (next - x).abs();
        if step <= 2.0 * f64::EPSILON * next.abs() || (hi - lo) <= 2.0 * f64::EPSILON * hi.abs() {
            return next;
        }
        // Stop oscillating at the last ulps: Newton has converged when steps stop shrinking.
        if step >= last_step && step <= 1e-13 * next.abs() {
            return next;
        }
        last_step = step;
        x = next;
    }
    x
}

fn gamma_ln_pdf(shape: f64, x: f64) -> f64 {
    (shape - 1.0) * x.ln() - x - ln_gamma(shape)
}

/// Quantile of the Gamma(shape, scale = 1) distribution for a probability in the given tail.
///
/// Newton iteration on ln P(shape, x) (lower tail) or ln Q(shape, x) (upper tail), the
/// regularized incomplete gamma functions, started from the Wilson–Hilferty approximation.
/// Equivalent to R's `qgamma(p, shape, lower.tail = tail == Lower)`.
///
/// Returns 0 when `shape` is 0 (a point mass at zero) or when the lower-tail probability is 0.
pub fn gamma_quantile(p: f64, shape: f64, tail: Tail) -> Result<f64> {
    if !(p.is_finite() && (0.0..=1.0).contains(&p)) {
        return Err(StatsError::InvalidArgument(format!(
            "probability must be in [0, 1], got {p}"
        )));
    }
    if !(shape.is_finite() && shape >= 0.0) {
        return Err(StatsError::InvalidArgument(format!(
            "gamma shape must be finite and >= 0, got {shape}"
        )));
    }
    if shape == 0.0 {
        return Ok(0.0);
    }
    let lower_p = match tail {
        Tail::Lower => p,
        Tail::Upper => 1.0 - p,
    };
    match (tail, p) {
        (Tail::Lower, 0.0) | (Tail::Upper, 1.0) => return Ok(0.0),
        (Tail::Lower, 1.0) | (Tail::Upper, 0.0) => return Ok(f64::INFINITY),
        _ => {}
    }
    // Wilson–Hilferty starting value.
    let z = normal_quantile(lower_p);
    let c = 1.0 / (9.0 * shape);
    let mut x0 = shape * (1.0 - c + z * c.sqrt()).powi(3);
    if !(x0.is_finite() && x0 > 0.0) || (lower_p < 0.05 && shape < 1.0) {
        // Small-x approximation P(a, x) ≈ x^a / Γ(a + 1).
        x0 = ((lower_p.ln() + ln_gamma(shape + 1.0)) / shape).exp();
    }
    // Bracket.
    let target_ln = p.ln();
    let f = |x: f64| -> (f64, f64) {
        let ln_pdf = gamma_ln_pdf(shape, x);
        match tail {
            Tail::Lower => {
                let cdf = gamma_lr(shape, x);
                (cdf.ln() - target_ln, (ln_pdf - cdf.ln()).exp())
            }
            Tail::Upper => {
                let sf = gamma_ur(shape, x);
                (target_ln - sf.ln(), (ln_pdf - sf.ln()).exp())
            }
        }
    };
    let mut hi = (2.0 * x0).max(shape + 10.0);
    let mut guard = 0;
    while f(hi).0 < 0.0 && guard < 2000 {
        hi *= 2.0;
        guard += 1;
    }
    Ok(solve_increasing(0.0, hi, x0, f))
}

/// Quantile of the chi-squared distribution with `df` degrees of freedom for a probability in
/// the given tail: `2 × gamma_quantile(p, df / 2)` (R: `qchisq(p, df, lower.tail)`).
pub fn chi_squared_quantile(p: f64, df: f64, tail: Tail) -> Result<f64> {
    Ok(2.0 * gamma_quantile(p, df / 2.0, tail)?)
}

fn t_upper_tail(t: f64, df: f64) -> f64 {
    // For t >= 0: P(T > t) = I_{df/(df+t²)}(df/2, 1/2) / 2.
    let x = df / (df + t * t);
    0.5 * beta_reg(df / 2.0, 0.5, x)
}

fn t_ln_pdf(t: f64, df: f64) -> f64 {
    ln_gamma((df + 1.0) / 2.0)
        - ln_gamma(df / 2.0)
        - 0.5 * (df * std::f64::consts::PI).ln()
        - (df + 1.0) / 2.0 * (t * t / df).ln_1p()
}

/// Quantile of Student's t distribution with `df` degrees of freedom for a probability in the
/// given tail (R: `qt(p, df, lower.tail)`).
///
/// Newton iteration on the log upper-tail probability, written with the regularized incomplete
/// beta function, started from the Cornish–Fisher expansion of the normal quantile.
pub fn students_t_quantile(p: f64, df: f64, tail: Tail) -> Result<f64> {
    if !(p.is_finite() && (0.0..=1.0).contains(&p)) {
        return Err(StatsError::InvalidArgument(format!(
            "probability must be in [0, 1], got {p}"
        )));
    }
    if !(df.is_finite() && df > 0.0) {
        return Err(StatsError::InvalidArgument(format!(
            "degrees of freedom must be finite and > 0, got {df}"
        )));
    }
    // Work with the upper-tail probability q of a non-negative quantile.
    let (q, sign) = match tail {
        Tail::Upper if p <= 0.5 => (p, 1.0),
        Tail::Upper => (1.0 - p, -1.0),
        Tail::Lower if p >= 0.5 => (1.0 - p, 1.0),
        Tail::Lower => (p, -1.0),
    };
    if q == 0.5 {
        return Ok(0.0);
    }
    if q == 0.0 {
        return Ok(sign * f64::INFINITY);
    }
    let z = -normal_quantile(q);
    let t0 = z + (z * z * z + z) / (4.0 * df);
    let target_ln = q.ln();
    let f = |t: f64| -> (f64, f64) {
        let sf = t_upper_tail(t, df);
        (target_ln - sf.ln(), (t_ln_pdf(t, df) - sf.ln()).exp())
    };
    let mut hi = (2.0 * t0).max(10.0);
    let mut guard = 0;
    while f(hi).0 < 0.0 && guard < 2000 {
        hi *= 2.0;
        guard += 1;
    }
    Ok(sign * solve_increasing(0.0, hi, t0, f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use statrs::distribution::{ContinuousCDF, Normal};

    /// Φ⁻¹(1 − p) computed through the same tail branch (for the symmetry check).
    fn normal_quantile_upper_for_test(p: f64) -> f64 {
        if p < 1e-3 {
            -normal_quantile(p)
        } else {
            normal_quantile(1.0 - p)
        }
    }

    fn rel(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs()
    }

    #[test]
    fn normal_quantile_matches_known_values_and_statrs() {
        assert!(rel(normal_quantile(0.975), 1.959963984540054) < 1e-15);
        assert!(rel(normal_quantile(0.999), 3.090232306167813) < 1e-15);
        assert!(rel(normal_quantile(1e-300), -37.04710) < 1e-6);
        let n = Normal::standard();
        for i in 1..2000 {
            let p = i as f64 / 2000.0;
            let a = normal_quantile(p);
            let b = n.inverse_cdf(p);
            assert!((a - b).abs() < 1e-12 * (1.0 + b.abs()), "p={p}: {a} vs {b}");
        }
        // Symmetry and the far tail.
        for k in 1..300 {
            let p = 10f64.powi(-k);
            assert_eq!(normal_quantile(p), -normal_quantile_upper_for_test(p));
        }
    }

    #[test]
    fn gamma_quantile_inverts_cdf() {
        for &shape in &[0.5, 1.0, 2.0, 3.5, 10.0, 11.0, 150.0, 5000.0] {
            for &p in &[1e-8, 0.001, 0.025, 0.05, 0.5, 0.9] {
                // statrs' incomplete gamma itself is good to ~1e-14 for small shapes and
                // ~1e-11 for shapes in the thousands.
                let tol = if shape > 1000.0 { 1e-10 } else { 1e-12 };
                let x = gamma_quantile(p, shape, Tail::Lower).unwrap_or(f64::NAN);
                assert!(rel(gamma_lr(shape, x), p) < tol, "lower a={shape} p={p}");
                let x = gamma_quantile(p, shape, Tail::Upper).unwrap_or(f64::NAN);
                assert!(rel(gamma_ur(shape, x), p) < tol, "upper a={shape} p={p}");
            }
        }
        // Exponential: closed form.
        let x = gamma_quantile(0.025, 1.0, Tail::Upper).unwrap_or(f64::NAN);
        assert!(rel(x, -(0.025f64.ln())) < 1e-14);
        assert_eq!(gamma_quantile(0.5, 0.0, Tail::Lower), Ok(0.0));
        assert!(gamma_quantile(1.5, 1.0, Tail::Lower).is_err());
    }

    #[test]
    fn t_quantile_known_values() {
        // Cauchy closed form.
        let t = students_t_quantile(0.025, 1.0, Tail::Upper).unwrap_or(f64::NAN);
        let exact = (std::f64::consts::PI * (0.975 - 0.5)).tan();
        assert!(rel(t, exact) < 1e-13, "{t} vs {exact}");
        // df = 2 closed form: t = (2p-1)/sqrt(2p(1-p)).
        let p: f64 = 0.999;
        let exact = (2.0 * p - 1.0) / (2.0 * p * (1.0 - p)).sqrt();
        let t = students_t_quantile(p, 2.0, Tail::Lower).unwrap_or(f64::NAN);
        assert!(rel(t, exact) < 1e-12, "{t} vs {exact}");
        // General df: the quantile inverts the upper tail.
        for &df in &[3.0, 9.0, 29.5, 300.0] {
            for &q in &[0.05, 0.025, 0.001] {
                let t = students_t_quantile(q, df, Tail::Upper).unwrap_or(f64::NAN);
                assert!(rel(t_upper_tail(t, df), q) < 1e-12, "df={df} q={q}");
                let tl = students_t_quantile(q, df, Tail::Lower).unwrap_or(f64::NAN);
                assert_eq!(tl, -t);
            }
        }
    }
}
