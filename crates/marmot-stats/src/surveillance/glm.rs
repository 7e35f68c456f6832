//! Poisson / quasi-Poisson GLM with log link fitted by iteratively
//! reweighted least squares, replicating R's `glm.fit` step by step
//! (starting values `mu = y + 0.1`, deviance convergence criterion
//! `|dev - dev_old| / (|dev| + 0.1) < 1e-8`, at most 25 iterations,
//! step halving on non-finite deviance). As in R, the working weights, the
//! QR decomposition (hence the unscaled covariance and the hat values) are
//! those of the last IRLS iteration.

/// Dense row-major design matrix.
#[derive(Debug, Clone)]
pub(super) struct Design {
    pub n: usize,
    pub p: usize,
    pub x: Vec<f64>,
}

impl Design {
    pub fn new(rows: &[Vec<f64>]) -> Self {
        let n = rows.len();
        let p = rows.first().map_or(0, Vec::len);
        let mut x = Vec::with_capacity(n * p);
        for r in rows {
            x.extend_from_slice(r);
        }
        Design { n, p, x }
    }
    #[inline]
    pub fn at(&self, i: usize, j: usize) -> f64 {
        self.x[i * self.p + j]
    }
    pub fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.p..(i + 1) * self.p]
    }
}

/// Result of a converged (or not) IRLS fit.
#[derive(Debug, Clone)]
pub(super) struct GlmFit {
    pub coef: Vec<f64>,
    pub mu: Vec<f64>,
    pub y: Vec<f64>,
    /// Working weights of the last iteration (R's `fit$weights`).
    pub working_weights: Vec<f64>,
    /// (X' W X)^{-1} from the last iteration (R's `covmat.unscaled`).
    pub cov_unscaled: Vec<Vec<f64>>,
    /// Diagonal of the hat matrix (R's `hatvalues`); empty from [`fit_poisson_no_hat`].
    pub hat: Vec<f64>,
    pub df_residual: f64,
    pub converged: bool,
}

const EPS: f64 = f64::EPSILON;
const MAXIT: usize = 25;
const EPSILON: f64 = 1e-8;

fn dev_resid_sum(y: &[f64], mu: &[f64], w: &[f64]) -> f64 {
    y.iter()
        .zip(mu)
        .zip(w)
        .map(|((&y, &m), &w)| {
            if y > 0.0 {
                2.0 * w * (y * (y / m).ln() - (y - m))
            } else {
                2.0 * w * m
            }
        })
        .sum()
}

/// Householder QR least squares of `a` (n x p, row-major) against `b`.
/// Returns (coef, R) or None if rank deficient.
/// Dot product with four running sums (vectorisable). Its rounding differs from a left-to-right
/// sum only in the last bits; the reference tests against R hold either way.
#[inline]
fn dot(x: &[f64], y: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let xc = x.chunks_exact(4);
    let yc = y.chunks_exact(4);
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (a, b) in xc.zip(yc) {
        for k in 0..4 {
            acc[k] += a[k] * b[k];
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (a, b) in xr.iter().zip(yr) {
        s += a * b;
    }
    s
}

fn qr_solve(n: usize, p: usize, a: &mut [f64], b: &mut [f64]) -> Option<(Vec<f64>, Vec<Vec<f64>>)> {
    // `a` is column-major (`a[j * n + i]`): every loop below runs down a contiguous column.
    if n < p {
        return None;
    }
    let col_norm0: Vec<f64> = (0..p)
        .map(|j| {
            let c = &a[j * n..(j + 1) * n];
            dot(c, c).sqrt()
        })
        .collect();
    for k in 0..p {
        let (head, tail) = a.split_at_mut((k + 1) * n);
        let vk = &mut head[k * n..];
        let norm = dot(&vk[k..], &vk[k..]).sqrt();
        let tol = 1e-11 * col_norm0[k].max(f64::MIN_POSITIVE);
        if norm.is_nan() || norm <= tol {
            return None;
        }
        let alpha = if vk[k] > 0.0 { -norm } else { norm };
        // v = x - alpha e1 stored in place
        vk[k] -= alpha;
        let v = &vk[k..];
        let vnorm2 = dot(v, v);
        if vnorm2 > 0.0 {
            for col in tail.chunks_exact_mut(n) {
                let c = &mut col[k..];
                let s = dot(v, c);
                let f = 2.0 * s / vnorm2;
                for (ci, vi) in c.iter_mut().zip(v) {
                    *ci -= f * vi;
                }
            }
            let bb = &mut b[k..n];
            let s = dot(v, bb);
            let f = 2.0 * s / vnorm2;
            for (bi, vi) in bb.iter_mut().zip(v) {
                *bi -= f * vi;
            }
        }
        vk[k] = alpha;
    }
    let mut r = vec![vec![0.0; p]; p];
    for (i, ri) in r.iter_mut().enumerate() {
        for (j, rij) in ri.iter_mut().enumerate().skip(i) {
            *rij = a[j * n + i];
        }
    }
    let mut coef = vec![0.0; p];
    for i in (0..p).rev() {
        let s: f64 = ((i + 1)..p).map(|j| r[i][j] * coef[j]).sum();
        coef[i] = (b[i] - s) / r[i][i];
    }
    Some((coef, r))
}

fn upper_inverse(r: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let p = r.len();
    let mut inv = vec![vec![0.0; p]; p];
    for j in 0..p {
        inv[j][j] = 1.0 / r[j][j];
        for i in (0..j).rev() {
            let s: f64 = ((i + 1)..=j).map(|k| r[i][k] * inv[k][j]).sum();
            inv[i][j] = -s / r[i][i];
        }
    }
    inv
}

/// Fits a Poisson log-link GLM (quasi-Poisson gives the same fit).
///
/// `prior` are prior weights (R's `weights`), `offset` is added to the
/// linear predictor. Returns an error string when the fit is impossible
/// (rank deficiency, no valid coefficients); non-convergence is reported
/// via `converged = false` as in R.
pub(super) fn fit_poisson(
    design: &Design,
    y: &[f64],
    prior: Option<&[f64]>,
    offset: Option<&[f64]>,
) -> Result<GlmFit, String> {
    fit(design, y, prior, offset, true)
}

/// [`fit_poisson`] without the hat values (left empty): for fits whose leverages are not
/// used (they cost about one more pass over the design).
pub(super) fn fit_poisson_no_hat(
    design: &Design,
    y: &[f64],
    prior: Option<&[f64]>,
    offset: Option<&[f64]>,
) -> Result<GlmFit, String> {
    fit(design, y, prior, offset, false)
}

fn fit(
    design: &Design,
    y: &[f64],
    prior: Option<&[f64]>,
    offset: Option<&[f64]>,
    want_hat: bool,
) -> Result<GlmFit, String> {
    let n = design.n;
    let p = design.p;
    if y.len() != n || n == 0 || p == 0 {
        return Err("empty or inconsistent design".into());
    }
    let ones = vec![1.0; n];
    let zeros = vec![0.0; n];
    let prior = prior.unwrap_or(&ones);
    let offset = offset.unwrap_or(&zeros);
    // eta = X beta + offset and mu = exp(eta), into existing buffers (no allocation per
    // iteration).
    let step_into = |beta: &[f64], eta: &mut Vec<f64>, mu: &mut Vec<f64>| {
        eta.clear();
        eta.extend((0..n).map(|i| {
            design
                .row(i)
                .iter()
                .zip(beta)
                .map(|(a, b)| a * b)
                .sum::<f64>()
                + offset[i]
        }));
        mu.clear();
        mu.extend(eta.iter().map(|e| e.exp().max(EPS)));
    };

    let mut eta: Vec<f64> = y.iter().map(|&v| (v + 0.1).ln()).collect();
    let mut mu: Vec<f64> = eta.iter().map(|e| e.exp().max(EPS)).collect();
    let mut devold = dev_resid_sum(y, &mu, prior);
    let mut coefold: Option<Vec<f64>> = None;
    let mut converged = false;
    let mut coef = vec![0.0; p];
    let mut last_w2 = vec![0.0; n];
    let mut last_r: Option<Vec<Vec<f64>>> = None;
    let mut good_rows: Vec<usize> = Vec::new();

    let mut spare_w2: Vec<f64> = Vec::with_capacity(n);
    let mut a: Vec<f64> = Vec::with_capacity(n * p);
    let mut b: Vec<f64> = Vec::with_capacity(n);
    for _iter in 0..MAXIT {
        // Log link: d mu / d eta = exp(eta) = mu (the same expression R evaluates twice).
        let mu_eta = &mu;
        good_rows.clear();
        good_rows.extend((0..n).filter(|&i| prior[i] > 0.0 && mu_eta[i] != 0.0));
        let ng = good_rows.len();
        a.clear();
        a.resize(ng * p, 0.0);
        b.clear();
        b.resize(ng, 0.0);
        let mut w2 = std::mem::take(&mut spare_w2);
        w2.clear();
        w2.resize(n, 0.0);
        for (r, &i) in good_rows.iter().enumerate() {
            let z = (eta[i] - offset[i]) + (y[i] - mu[i]) / mu_eta[i];
            let w = (prior[i] * mu_eta[i] * mu_eta[i] / mu[i]).sqrt();
            w2[i] = w * w;
            for j in 0..p {
                a[j * ng + r] = design.at(i, j) * w;
            }
            b[r] = z * w;
        }
        let (start, r) = qr_solve(ng, p, &mut a, &mut b)
            .ok_or_else(|| "design matrix is rank deficient".to_string())?;
        let mut start = start;
        step_into(&start, &mut eta, &mut mu);
        let mut dev = dev_resid_sum(y, &mu, prior);
        if !dev.is_finite() {
            let old = coefold
                .clone()
                .ok_or_else(|| "no valid set of coefficients has been found".to_string())?;
            let mut ii = 1;
            while !dev.is_finite() {
                if ii > MAXIT {
                    return Err("inner loop; cannot correct step size".into());
                }
                ii += 1;
                start = start.iter().zip(&old).map(|(s, o)| (s + o) / 2.0).collect();
                step_into(&start, &mut eta, &mut mu);
                dev = dev_resid_sum(y, &mu, prior);
            }
        }
        coef = start;
        spare_w2 = std::mem::replace(&mut last_w2, w2);
        last_r = Some(r);
        if (dev - devold).abs() / (dev.abs() + 0.1) < EPSILON {
            converged = true;
            break;
        }
        devold = dev;
        coefold = Some(coef.clone());
    }
    let r = last_r.ok_or_else(|| "no iteration performed".to_string())?;
    let rinv = upper_inverse(&r);
    let mut cov = vec![vec![0.0; p]; p];
    for i in 0..p {
        for j in 0..p {
            cov[i][j] = (i.max(j)..p).map(|k| rinv[i][k] * rinv[j][k]).sum();
        }
    }
    let mut hat = vec![0.0; if want_hat { n } else { 0 }];
    for &i in good_rows.iter().filter(|_| want_hat) {
        let w = last_w2[i].sqrt();
        let mut h = 0.0;
        for (k, _) in rinv.iter().enumerate() {
            let v: f64 = (0..=k).map(|j| design.at(i, j) * w * rinv[j][k]).sum();
            h += v * v;
        }
        hat[i] = if h > 1.0 - 10.0 * EPS { 1.0 } else { h };
    }
    let n_ok = prior.iter().filter(|&&w| w != 0.0).count();
    Ok(GlmFit {
        coef,
        mu,
        y: y.to_vec(),
        working_weights: last_w2,
        cov_unscaled: cov,
        hat,
        df_residual: n_ok as f64 - p as f64,
        converged,
    })
}

impl GlmFit {
    /// Working residuals (y - mu)/mu.
    fn working_residual(&self, i: usize) -> f64 {
        (self.y[i] - self.mu[i]) / self.mu[i].max(EPS)
    }

    /// `sum(w_i * r_i^2) / df` over `w_i > 0` with working residuals `r`:
    /// with `w` = working weights this is R's quasi-Poisson dispersion.
    pub fn dispersion_with(&self, weights: &[f64]) -> f64 {
        if self.df_residual <= 0.0 {
            return f64::NAN;
        }
        let s: f64 = weights
            .iter()
            .enumerate()
            .filter(|(_, w)| **w > 0.0)
            .map(|(i, w)| w * self.working_residual(i).powi(2))
            .sum();
        s / self.df_residual
    }

    /// Pearson dispersion as computed by `summary.glm` for quasi-Poisson.
    pub fn pearson_dispersion(&self) -> f64 {
        self.dispersion_with(&self.working_weights)
    }

    /// x0' (X'WX)^{-1} x0.
    pub fn quad_form(&self, x0: &[f64]) -> f64 {
        let p = x0.len();
        let mut s = 0.0;
        for i in 0..p {
            for j in 0..p {
                s += x0[i] * self.cov_unscaled[i][j] * x0[j];
            }
        }
        s
    }

    /// Linear predictor at x0 (without offset).
    pub fn linear_predictor(&self, x0: &[f64]) -> f64 {
        x0.iter().zip(&self.coef).map(|(a, b)| a * b).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intercept_only_is_log_mean() {
        let y = [1.0, 3.0, 2.0, 6.0];
        let d = Design::new(&vec![vec![1.0]; 4]);
        let f = fit_poisson(&d, &y, None, None).unwrap();
        assert!(f.converged);
        assert!((f.coef[0] - 3.0f64.ln()).abs() < 1e-9);
        // Pearson dispersion sum((y-3)^2/3)/3
        let expect = (4.0 + 0.0 + 1.0 + 9.0) / 3.0 / 3.0;
        assert!((f.pearson_dispersion() - expect).abs() < 1e-6);
        assert!(f.hat.iter().all(|h| (h - 0.25).abs() < 1e-6));
    }

    #[test]
    fn rank_deficient_is_error() {
        let d = Design::new(&vec![vec![1.0, 2.0]; 4]);
        assert!(fit_poisson(&d, &[1.0, 2.0, 3.0, 4.0], None, None).is_err());
    }

    #[test]
    fn all_zero_counts_do_not_panic() {
        let d = Design::new(&vec![vec![1.0]; 5]);
        let f = fit_poisson(&d, &[0.0; 5], None, None).unwrap();
        assert!(f.mu[0] < 1e-6);
    }
}
