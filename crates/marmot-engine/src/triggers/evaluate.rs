//! Pure evaluation of weekly series: every method of a signal on every evaluated week of
//! every area series, with thresholds, exceedance score, alarm, direction and severity.
//! No IO: the series come from [`super::fetch_weekly`].
//!
//! How each method is run on week `t` (weeks are ISO weeks, Monday to Sunday):
//! - `farrington-flexible` / `farrington`: R `surveillance` algorithms (`marmot-stats`) with
//!   the Noufaily et al. (2013) / Farrington et al. (1996) settings, reference weeks 52·j weeks
//!   back. `b` (years of history) is reduced to the whole years the series holds before `t`
//!   (at least 2; fewer and the week is not evaluated by this method). Rises alarm above the
//!   upper threshold (with R's `limit54` rule), drops below the lower threshold.
//! - `ears-c1/c2/c3`: R `earsC` on the preceding weeks (rises only).
//! - `cusum`: R `algo.cusum` restarted every week over the last `window` weeks (default 4)
//!   ending at `t`, with the in-control mean from a Poisson GLM with annual harmonics
//!   (`m = "glm"`) fitted to the `history` weeks (default 156) before that window, counts
//!   standardised as negative binomial Pearson residuals (`trans = "pearsonNegBin"`,
//!   overdispersion 0.1): a sustained excess over a month (rises only).
//! - `baseline`: the same ISO weeks ± `window` of the previous years (up to 5, at least 1)
//!   with a negative binomial prediction interval and the percentage difference (both ways).
//! - `escalation`: OPEL-style levels of the weekly count (or rate per 100,000) held for
//!   `consecutive` weeks; level 1+ is an alarm of that severity.
//!
//! Thresholds are set against alert fatigue, not at the packages' defaults (override them per
//! signal with a `[params.<method>]` table): Farrington flexible `alpha` 0.01 for each
//! threshold (one-sided), classic Farrington 0.02 two-sided, baseline prediction interval 98%
//! (1% each side), EARS at R's 0.001.
//!
//! Exceedance score: `(observed − expected) / (upper − expected)` at or above the expected
//! value, `−(expected − observed) / (expected − lower)` below it: +1 on the upper threshold,
//! −1 on the lower. Severity of an alarm: 1, then 2 and 3 from the signal's `severity` scores
//! (default 1.5 and 3); for escalation, the escalation level (at most 3).

use std::collections::BTreeMap;
use std::ops::Range;

use chrono::{Datelike, NaiveDate};
use marmot_model::{EscalationPer, Level, SignalDef, SignalMethod};
use marmot_stats::surveillance::{
    self as sv, BaselineParams, EscalationDirection, EscalationParams, Method, MethodParams,
    WeeklySeries,
};

/// One area series of a signal: weekly counts aligned with [`WeeklyData::weeks`].
#[derive(Debug, Clone, PartialEq)]
pub struct AreaSeries {
    /// Level of the area.
    pub level: Level,
    /// Area code.
    pub area_code: String,
    /// Area name.
    pub area_name: String,
    /// `all`, or a stratum such as `local_imd_quintile=1`.
    pub stratum: String,
    /// Resident population (mid-2019) of the area or stratum.
    pub population: f64,
    /// Deprivation quintile: the population-weighted mean national IMD 2019 quintile of the
    /// area's LSOAs (rounded), or the stratum's own quintile.
    pub imd_quintile: Option<i32>,
    /// Weekly counts.
    pub counts: Vec<f64>,
}

/// The weekly series of one signal.
#[derive(Debug, Clone, PartialEq)]
pub struct WeeklyData {
    /// Consecutive ISO week starts (Mondays).
    pub weeks: Vec<NaiveDate>,
    /// One series per area and stratum.
    pub series: Vec<AreaSeries>,
    /// Last event date of the dataset (weeks after it are incomplete).
    pub last_date: Option<NaiveDate>,
}

/// A direction of an alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlarmDirection {
    /// Above the upper threshold.
    Up,
    /// Below the lower threshold.
    Down,
}

impl AlarmDirection {
    /// `up` / `down`.
    pub fn name(self) -> &'static str {
        match self {
            AlarmDirection::Up => "up",
            AlarmDirection::Down => "down",
        }
    }

    /// Parses `up` / `down`.
    pub fn parse(s: &str) -> Option<AlarmDirection> {
        match s {
            "up" => Some(AlarmDirection::Up),
            "down" => Some(AlarmDirection::Down),
            _ => None,
        }
    }
}

/// One signal × area × stratum × week × method evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Signal id.
    pub signal: String,
    /// Level.
    pub level: Level,
    /// Area code.
    pub area_code: String,
    /// Area name.
    pub area_name: String,
    /// `all` or the stratum.
    pub stratum: String,
    /// ISO week start (Monday).
    pub week_start: NaiveDate,
    /// Method.
    pub method: SignalMethod,
    /// Observed count.
    pub observed: f64,
    /// Expected count (None where the method could not estimate it).
    pub expected: Option<f64>,
    /// Lower threshold (methods that see drops).
    pub lower: Option<f64>,
    /// Upper threshold.
    pub upper: Option<f64>,
    /// Exceedance score (see the module docs).
    pub score: Option<f64>,
    /// `(observed − expected) / expected × 100`.
    pub percent_difference: Option<f64>,
    /// Alarm in a direction the signal watches.
    pub alarm: bool,
    /// Direction of the alarm.
    pub direction: Option<AlarmDirection>,
    /// 0 without alarm, else 1 (low), 2 (medium), 3 (high).
    pub severity: u8,
    /// The week is among the signal's most recent `provisional_weeks` (still filling in).
    pub provisional: bool,
    /// Population of the area or stratum.
    pub population: f64,
    /// Deprivation quintile of the area or stratum.
    pub imd_quintile: Option<i32>,
    /// Data version the evaluation was computed from (set by the pipeline).
    pub data_version: String,
}

/// ISO week label (`2020-W42`) of a week start.
pub fn week_label(d: NaiveDate) -> String {
    let w = d.iso_week();
    format!("{}-W{:02}", w.year(), w.week())
}

/// The farthest reference the Farrington methods need: `b` whole years of 52 weeks plus the
/// half-window `w` (undated series, as R without dates).
fn years_available(t: usize, w: usize) -> usize {
    t.saturating_sub(w) / 52
}

struct Raw {
    t: usize,
    expected: Option<f64>,
    lower: Option<f64>,
    upper: Option<f64>,
    up: bool,
    down: bool,
    level: Option<usize>,
    percent: Option<f64>,
}

fn pairs(sig: &SignalDef, m: SignalMethod, defaults: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = defaults
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    if let Some(user) = sig.params.get(&m) {
        for (k, v) in user {
            out.retain(|(a, _)| a != k);
            out.push((k.clone(), v.clone()));
        }
    }
    out
}

fn take_usize(p: &mut Vec<(String, String)>, name: &str, default: usize) -> Result<usize, String> {
    match p.iter().position(|(k, _)| k == name) {
        Some(i) => {
            let (_, v) = p.remove(i);
            v.parse()
                .map_err(|_| format!("{name} = {v}: expected a whole number"))
        }
        None => Ok(default),
    }
}

/// A signal's `[params.*]` table that its method cannot run with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("signal {signal}: {method}: {reason}")]
pub struct SignalParamsError {
    /// The signal's id.
    pub signal: String,
    /// The method (`farrington-flexible`, `baseline`, ...).
    pub method: &'static str,
    /// What is wrong with its parameters.
    pub reason: String,
}

fn setup_of(sig: &SignalDef, m: SignalMethod) -> Result<Setup, SignalParamsError> {
    method_setup(sig, m).map_err(|reason| SignalParamsError {
        signal: sig.id.clone(),
        method: m.name(),
        reason,
    })
}

/// Checks a signal's method parameters (so a bad `[params.*]` table fails before any work).
pub fn check_params(sig: &SignalDef) -> Result<(), SignalParamsError> {
    for m in &sig.methods {
        setup_of(sig, *m)?;
    }
    Ok(())
}

enum Setup {
    Detect(Method, MethodParams),
    Cusum(MethodParams, usize, usize),
    Baseline(BaselineParams),
    Escalation(EscalationParams, EscalationPer),
}

fn method_setup(sig: &SignalDef, m: SignalMethod) -> Result<Setup, String> {
    let detect = |method: Method, p: Vec<(String, String)>| {
        sv::parse_params(method, &p)
            .map(|mp| Setup::Detect(method, mp))
            .map_err(|e| e.to_string())
    };
    match m {
        SignalMethod::FarringtonFlexible => {
            let mut p = pairs(sig, m, &[("alpha", "0.01")]);
            if sig.population_offset {
                p.push(("population_offset".into(), "true".into()));
            }
            detect(Method::FarringtonFlexible, p)
        }
        SignalMethod::Farrington => detect(Method::Farrington, pairs(sig, m, &[("alpha", "0.02")])),
        SignalMethod::EarsC1 => detect(Method::EarsC1, pairs(sig, m, &[])),
        SignalMethod::EarsC2 => detect(Method::EarsC2, pairs(sig, m, &[])),
        SignalMethod::EarsC3 => detect(Method::EarsC3, pairs(sig, m, &[])),
        SignalMethod::Cusum => {
            let mut p = pairs(sig, m, &[("m", "glm"), ("trans", "pearsonNegBin")]);
            let window = take_usize(&mut p, "window", 4)?;
            let history = take_usize(&mut p, "history", 156)?;
            if window == 0 || history < 52 {
                return Err("window >= 1 and history >= 52 weeks".into());
            }
            let mp = sv::parse_params(Method::Cusum, &p).map_err(|e| e.to_string())?;
            Ok(Setup::Cusum(mp, window, history))
        }
        SignalMethod::Baseline => {
            let mut p = pairs(sig, m, &[]);
            let years = take_usize(&mut p, "years", 5)?;
            let window = take_usize(&mut p, "window", 2)?;
            let level = match p.iter().position(|(k, _)| k == "level") {
                Some(i) => {
                    let (_, v) = p.remove(i);
                    v.parse::<f64>()
                        .ok()
                        .filter(|x| *x > 0.0 && *x < 1.0)
                        .ok_or_else(|| format!("level = {v}: expected a number in (0, 1)"))?
                }
                None => 0.98,
            };
            if let Some((k, _)) = p.first() {
                return Err(format!("unknown parameter {k} (years, window, level)"));
            }
            Ok(Setup::Baseline(BaselineParams {
                years,
                window,
                level,
                population_offset: sig.population_offset,
                ..BaselineParams::default()
            }))
        }
        SignalMethod::Escalation => {
            let e = sig
                .escalation
                .as_ref()
                .ok_or_else(|| "no [escalation] table".to_string())?;
            let rising = e.thresholds.windows(2).all(|w| w[1] > w[0]);
            Ok(Setup::Escalation(
                EscalationParams {
                    thresholds: e.thresholds.clone(),
                    consecutive: e.consecutive,
                    direction: if rising {
                        EscalationDirection::Rising
                    } else {
                        EscalationDirection::Falling
                    },
                },
                e.per,
            ))
        }
    }
}

fn detect_rows(input: &sv::SeriesInput, method: Method, p: &MethodParams) -> Vec<Raw> {
    let Ok(rows) = sv::detect::run(input, method, p) else {
        return Vec::new();
    };
    rows.into_iter()
        .map(|r| {
            let lower_alarm = r
                .extra
                .iter()
                .any(|(n, v)| *n == "lower_alarm" && *v == Some(1.0));
            Raw {
                t: r.t - 1,
                expected: r.expected,
                lower: r.lower,
                upper: r.upper,
                up: r.alarm,
                down: lower_alarm,
                level: None,
                percent: None,
            }
        })
        .collect()
}

/// Runs one method over `range` of a series. Weeks the method cannot evaluate (too little
/// history, a degenerate fit) are left out.
fn run_method(setup: &Setup, counts: &[f64], population: f64, range: Range<usize>) -> Vec<Raw> {
    let n = counts.len();
    let Ok(series) = WeeklySeries::new(counts.to_vec()) else {
        return Vec::new();
    };
    let series = if population > 0.0 {
        series
            .clone()
            .with_population(vec![population; n])
            .unwrap_or(series)
    } else {
        series
    };
    match setup {
        Setup::Detect(method, p) => {
            let farrington = matches!(method, Method::FarringtonFlexible | Method::Farrington);
            let mut out = Vec::new();
            // Group the weeks by the years of history they can use.
            let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
            for t in range {
                let b = if farrington {
                    let (b, w) = match p {
                        MethodParams::FarringtonFlexible(f) => (f.b, f.w),
                        MethodParams::Farrington(f) => (f.b, f.w),
                        _ => (0, 0),
                    };
                    let avail = years_available(t, w).min(b);
                    if avail < 2 {
                        continue;
                    }
                    avail
                } else {
                    0
                };
                groups.entry(b).or_default().push(t);
            }
            for (b, mut ts) in groups {
                if farrington {
                    // A baseline of nothing but zeros cannot be fitted: see `zero_baseline`.
                    ts.retain(|&t| match zero_baseline(counts, t, b, p) {
                        Some(raw) => {
                            out.push(raw);
                            false
                        }
                        None => true,
                    });
                    if ts.is_empty() {
                        continue;
                    }
                }
                let mut params = p.clone();
                match &mut params {
                    MethodParams::FarringtonFlexible(f) => f.b = b,
                    MethodParams::Farrington(f) => f.b = b,
                    _ => {}
                }
                let Ok(input) = sv::SeriesInput::new(series.clone(), ts.clone()) else {
                    continue;
                };
                let rows = detect_rows(&input, *method, &params);
                if rows.is_empty() && ts.len() > 1 {
                    // One bad week (e.g. a degenerate fit) should not lose the others.
                    for t in ts {
                        if let Ok(input) = sv::SeriesInput::new(series.clone(), vec![t]) {
                            out.extend(detect_rows(&input, *method, &params));
                        }
                    }
                } else {
                    out.extend(rows);
                }
            }
            out
        }
        Setup::Cusum(p, window, history) => {
            let mut out = Vec::new();
            for t in range {
                if t + 1 < window + 52 {
                    continue;
                }
                let start = (t + 1 - window).saturating_sub(*history);
                let sub = &counts[start..=t];
                let Ok(s) = WeeklySeries::new(sub.to_vec()) else {
                    continue;
                };
                let Ok(input) = sv::SeriesInput::new(s, (sub.len() - window..sub.len()).collect())
                else {
                    continue;
                };
                let Ok(rows) = sv::detect::run(&input, Method::Cusum, p) else {
                    continue;
                };
                if let Some(r) = rows.last() {
                    out.push(Raw {
                        t,
                        expected: r.expected,
                        lower: None,
                        upper: r.upper,
                        up: r.alarm,
                        down: false,
                        level: None,
                        percent: None,
                    });
                }
            }
            out
        }
        Setup::Baseline(p) => {
            let mut out = Vec::new();
            let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
            for t in range {
                let years = years_available(t, p.window).min(p.years);
                if years >= 1 {
                    groups.entry(years).or_default().push(t);
                }
            }
            for (years, ts) in groups {
                let params = BaselineParams { years, ..p.clone() };
                let (a, b) = (ts[0], ts[ts.len() - 1] + 1);
                let Ok(weeks) = sv::baseline_comparison(&series, a..b, &params) else {
                    continue;
                };
                out.extend(
                    weeks
                        .into_iter()
                        .filter(|w| w.expected.is_some())
                        .map(|w| Raw {
                            t: w.index,
                            expected: w.expected,
                            lower: w.lower,
                            upper: w.upper,
                            up: w.alarm_up,
                            down: w.alarm_down,
                            level: None,
                            percent: w.percent_difference,
                        }),
                );
            }
            out
        }
        Setup::Escalation(p, per) => {
            let values: Vec<f64> = match per {
                EscalationPer::Count => counts.to_vec(),
                EscalationPer::Rate100k => counts
                    .iter()
                    .map(|c| {
                        if population > 0.0 {
                            c / population * 1e5
                        } else {
                            f64::NAN
                        }
                    })
                    .collect(),
            };
            let Ok(levels) = sv::escalation_levels(&values, p) else {
                return Vec::new();
            };
            let rising = p.direction == EscalationDirection::Rising;
            range
                .filter_map(|t| levels.get(t))
                .map(|w| {
                    let next = p.thresholds.get(w.level).copied();
                    let scale = |x: f64| match per {
                        EscalationPer::Count => x,
                        EscalationPer::Rate100k => x * population / 1e5,
                    };
                    Raw {
                        t: w.index,
                        expected: None,
                        lower: if rising { None } else { next.map(scale) },
                        upper: if rising { next.map(scale) } else { None },
                        up: rising && w.level > 0,
                        down: !rising && w.level > 0,
                        level: Some(w.level),
                        percent: None,
                    }
                })
                .collect()
        }
    }
}

/// The Farrington methods on a week whose whole reference period holds only zero counts (a
/// condition never seen before, such as COVID-19 before 2020): no model can be fitted, so the
/// expected count and both thresholds are 0 and any count is an alarm — still subject to the
/// `limit54` rule (at least 5 cases in the last 4 weeks by default). Marmot's rule, documented;
/// R's fit fails there.
fn zero_baseline(counts: &[f64], t: usize, b: usize, p: &MethodParams) -> Option<Raw> {
    let (w, skip, limit) = match p {
        MethodParams::FarringtonFlexible(f) => (f.w, f.past_weeks_not_included, f.limit54),
        MethodParams::Farrington(f) => (f.w, 0, f.limit54),
        _ => return None,
    };
    let lo = t.saturating_sub(52 * b + w);
    let hi = t.saturating_sub(skip.max(1));
    if lo >= hi || counts[lo..hi].iter().any(|c| *c != 0.0) {
        return None;
    }
    let recent: f64 = counts[(t + 1).saturating_sub(limit.period)..=t]
        .iter()
        .sum();
    Some(Raw {
        t,
        expected: Some(0.0),
        lower: Some(0.0),
        upper: Some(0.0),
        up: counts[t] > 0.0 && recent >= limit.cases,
        down: false,
        level: None,
        percent: None,
    })
}

fn score(
    observed: f64,
    expected: Option<f64>,
    lower: Option<f64>,
    upper: Option<f64>,
) -> Option<f64> {
    let e = expected?;
    if observed >= e {
        let u = upper?;
        (u > e).then(|| (observed - e) / (u - e))
    } else {
        let l = lower?;
        (e > l).then(|| -(e - observed) / (e - l))
    }
}

/// The highest mean weekly count over any 52 consecutive weeks (all weeks if fewer): whether
/// an area has counts enough to watch ("ward where counts allow").
fn busiest_year(counts: &[f64]) -> f64 {
    let n = counts.len();
    if n == 0 {
        return 0.0;
    }
    let w = n.min(52);
    let mut sum: f64 = counts[..w].iter().sum();
    let mut best = sum;
    for i in w..n {
        sum += counts[i] - counts[i - w];
        best = best.max(sum);
    }
    best / w as f64
}

/// Evaluates every method of `sig` on the weeks `range` of every series. `provisional_from`:
/// the first week index that is provisional. Series whose mean weekly count over their
/// busiest 52 weeks (up to the end of the range) is below the signal's `min_weekly_count` are
/// skipped, except the place as a whole.
pub fn evaluate(
    sig: &SignalDef,
    data: &WeeklyData,
    range: Range<usize>,
    provisional_from: usize,
) -> Result<Vec<Evaluation>, SignalParamsError> {
    let setups: Vec<(SignalMethod, Setup)> = sig
        .methods
        .iter()
        .map(|m| setup_of(sig, *m).map(|s| (*m, s)))
        .collect::<Result<_, _>>()?;
    let range = range.start.min(data.weeks.len())..range.end.min(data.weeks.len());
    let keep: Vec<&AreaSeries> = data
        .series
        .iter()
        .filter(|s| {
            (s.level == Level::Place && s.stratum == "all")
                || busiest_year(&s.counts[..range.end]) >= sig.min_weekly_count
        })
        .collect();
    // Series are independent and differ in cost: threads take the next one as they finish.
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(keep.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let parts: Vec<Vec<Evaluation>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (setups, keep, next) = (&setups, &keep, &next);
                let range = range.clone();
                scope.spawn(move || {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(s) = keep.get(i) else { break };
                        for (m, setup) in setups {
                            for r in run_method(setup, &s.counts, s.population, range.clone()) {
                                out.push(to_evaluation(sig, data, s, *m, r, provisional_from));
                            }
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut all: Vec<Evaluation> = parts.into_iter().flatten().collect();
    all.sort_by(|a, b| {
        (a.level, &a.area_code, &a.stratum, a.week_start, a.method).cmp(&(
            b.level,
            &b.area_code,
            &b.stratum,
            b.week_start,
            b.method,
        ))
    });
    Ok(all)
}

fn to_evaluation(
    sig: &SignalDef,
    data: &WeeklyData,
    s: &AreaSeries,
    m: SignalMethod,
    r: Raw,
    provisional_from: usize,
) -> Evaluation {
    let observed = s.counts[r.t];
    let provisional = r.t >= provisional_from;
    let sc = score(observed, r.expected, r.lower, r.upper);
    let direction = if r.up && sig.direction.watches_up() {
        Some(AlarmDirection::Up)
    } else if r.down && sig.direction.watches_down() {
        Some(AlarmDirection::Down)
    } else {
        None
    };
    let severity = match (direction, r.level) {
        (None, _) => 0,
        (Some(_), Some(level)) => level.clamp(1, 3) as u8,
        (Some(_), None) => match sc.map(f64::abs) {
            Some(x) if x >= sig.severity[1] => 3,
            Some(x) if x >= sig.severity[0] => 2,
            _ => 1,
        },
    };
    let percent = r.percent.or_else(|| {
        r.expected
            .filter(|e| *e > 0.0)
            .map(|e| (observed - e) / e * 100.0)
    });
    Evaluation {
        signal: sig.id.clone(),
        level: s.level,
        area_code: s.area_code.clone(),
        area_name: s.area_name.clone(),
        stratum: s.stratum.clone(),
        week_start: data.weeks[r.t],
        method: m,
        observed,
        expected: r.expected,
        lower: r.lower,
        upper: r.upper,
        score: sc,
        percent_difference: percent,
        alarm: direction.is_some(),
        direction,
        severity,
        provisional,
        population: s.population,
        imd_quintile: s.imd_quintile,
        data_version: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(extra: &str, methods: &str, direction: &str) -> SignalDef {
        let text = format!(
            "/*\nid = \"t\"\ntitle = \"T\"\ndataset = \"police\"\nlevels = [\"place\"]\nmethods = [{methods}]\ndirection = \"{direction}\"\n{extra}\n*/\nSELECT 1"
        );
        SignalDef::parse("t.sql", &text).expect("signal")
    }

    /// Seasonal Poisson-like counts (deterministic), with an outbreak and a drop planted.
    fn data() -> WeeklyData {
        let start = NaiveDate::from_ymd_opt(2015, 1, 5).expect("date");
        let n = 6 * 52;
        let weeks: Vec<NaiveDate> = (0..n)
            .map(|i| start + chrono::Days::new(7 * i as u64))
            .collect();
        let counts: Vec<f64> = (0..n)
            .map(|i| {
                let base = 40.0 + 8.0 * (2.0 * std::f64::consts::PI * i as f64 / 52.0).cos();
                // small deterministic wiggle so that the dispersion is not zero
                let wiggle = ((i * 7919) % 11) as f64 - 5.0;
                let mut v = (base + wiggle).round();
                if (280..284).contains(&i) {
                    v *= 2.0; // outbreak
                }
                if (295..299).contains(&i) {
                    v = (v * 0.4).round(); // drop
                }
                v
            })
            .collect();
        WeeklyData {
            weeks,
            series: vec![AreaSeries {
                level: Level::Place,
                area_code: "P".into(),
                area_name: "Place".into(),
                stratum: "all".into(),
                population: 100_000.0,
                imd_quintile: Some(2),
                counts,
            }],
            last_date: None,
        }
    }

    fn alarms(ev: &[Evaluation], m: SignalMethod) -> Vec<(usize, Option<AlarmDirection>)> {
        let start = NaiveDate::from_ymd_opt(2015, 1, 5).expect("date");
        ev.iter()
            .filter(|e| e.method == m && e.alarm)
            .map(|e| {
                (
                    ((e.week_start - start).num_days() / 7) as usize,
                    e.direction,
                )
            })
            .collect()
    }

    #[test]
    fn planted_outbreak_and_drop_alarm_in_their_weeks_and_watched_directions() {
        let d = data();
        let both = signal("", "\"farrington-flexible\", \"baseline\"", "both");
        let ev = evaluate(&both, &d, 260..312, 310).expect("evaluates");
        for m in [SignalMethod::FarringtonFlexible, SignalMethod::Baseline] {
            let a = alarms(&ev, m);
            assert!(a.contains(&(280, Some(AlarmDirection::Up))), "{m:?} {a:?}");
            assert!(
                a.contains(&(296, Some(AlarmDirection::Down))),
                "{m:?} {a:?}"
            );
            assert!(
                a.iter()
                    .all(|(t, _)| (280..=285).contains(t) || (295..=300).contains(t)),
                "{m:?} alarms outside the planted weeks: {a:?}"
            );
        }
        // A signal watching rises only reports no drop alarm.
        let up = signal("", "\"farrington-flexible\"", "up");
        let ev = evaluate(&up, &d, 260..312, 310).expect("evaluates");
        let a = alarms(&ev, SignalMethod::FarringtonFlexible);
        assert!(
            a.iter().all(|(_, d)| *d == Some(AlarmDirection::Up)),
            "{a:?}"
        );
        assert!(!a.is_empty());
        // Scores: above +1 for a rise alarm, below -1 for a drop alarm; severity follows.
        for e in ev.iter().filter(|e| e.alarm) {
            let s = e.score.expect("score");
            assert!(s > 1.0, "{e:?}");
            assert!((1..=3).contains(&e.severity));
        }
        // Provisional flag from the given week on.
        assert!(
            ev.iter()
                .filter(|e| e.provisional)
                .all(|e| e.week_start >= d.weeks[310])
        );
        assert!(ev.iter().any(|e| e.provisional));
    }

    #[test]
    fn ears_and_cusum_watch_rises_and_escalation_levels_become_severity() {
        let d = data();
        let sig = signal(
            "[escalation]\nthresholds = [60.0, 75.0, 90.0]\nconsecutive = 1\nper = \"count\"",
            "\"ears-c2\", \"cusum\"",
            "up",
        );
        let ev = evaluate(&sig, &d, 260..312, 312).expect("evaluates");
        for m in [SignalMethod::EarsC2, SignalMethod::Cusum] {
            let a = alarms(&ev, m);
            assert!(
                a.iter().any(|(t, _)| (280..=284).contains(t)),
                "{m:?} {a:?}"
            );
        }
        for e in ev.iter().filter(|e| e.method == SignalMethod::Escalation) {
            let want = [60.0, 75.0, 90.0]
                .iter()
                .filter(|t| e.observed >= **t)
                .count() as u8;
            assert_eq!(e.severity, want.min(3), "{e:?}");
        }
    }

    #[test]
    fn too_little_history_means_no_farrington_row_rather_than_an_error() {
        let mut d = data();
        for s in &mut d.series {
            s.counts.truncate(100);
        }
        d.weeks.truncate(100);
        let sig = signal("", "\"farrington-flexible\", \"baseline\"", "both");
        let ev = evaluate(&sig, &d, 60..100, 100).expect("evaluates");
        assert!(
            ev.iter().all(|e| e.method == SignalMethod::Baseline),
            "b < 2 years is skipped"
        );
        assert!(!ev.is_empty());
    }

    #[test]
    fn bad_method_parameters_are_reported_with_the_signal() {
        let sig = signal(
            "[params.farrington-flexible]\nmagic = 3",
            "\"farrington-flexible\"",
            "up",
        );
        let e = check_params(&sig).expect_err("unknown parameter");
        assert_eq!((e.signal.as_str(), e.method), ("t", "farrington-flexible"));
        assert!(e.reason.contains("magic"), "{e}");
    }
}
