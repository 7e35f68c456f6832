//! Text-in, text-out engine for `marmot detect` (outbreak detection on a
//! weekly series given as CSV; monthly series through
//! [`parse_series_csv_with_frequency`] or [`SeriesInput::new`] with a
//! [`WeeklySeries::monthly`] series).
//!
//! Pure functions only: the command line reads the file, calls
//! [`parse_series_csv`], [`Method::parse`], [`parse_params`], [`run`] and
//! prints [`to_csv`] or [`to_json`].
//!
//! ```text
//! marmot detect --input series.csv
//!     --method farrington-flexible|farrington|ears-c1|ears-c2|ears-c3|cusum|glr-poisson
//!     [--param name=value]... [--format csv|json]
//! ```
//!
//! The methods are those of the [`surveillance`](super) module, i.e. the
//! algorithms of the R package `surveillance` (Salmon, Schumacher & Höhle
//! 2016, J. Stat. Softw. 70(10)); parameter names are the package's control
//! names in snake_case (`weightsThreshold` → `weights_threshold`,
//! `c.ARL` → `c_arl`; the R spelling is accepted too). Defaults are the
//! `Default` impls of the parameter structs (Farrington flexible: Noufaily et
//! al. 2013 settings).

use std::fmt;
use std::ops::Range;

use super::cusum::{CusumParams, CusumReference, CusumTransform, cusum};
use super::ears::{EarsMethod, EarsParams, ears_c};
use super::error::SurveillanceError;
use super::farrington::{
    FarringtonClassicParams, FarringtonFlexibleParams, FarringtonWeek, InferenceDispersion,
    Limit54, PowerTransform, ThresholdMethod, farrington_classic, farrington_flexible,
};
use super::glr::{Direction, GlrPoisParams, Mu0, glr_pois};
use super::series::{Date, WEEKLY, WeeklySeries};

/// Errors of the `marmot detect` engine (CSV input, method and parameter
/// parsing, and the detection methods themselves).
#[derive(Debug, Clone, PartialEq)]
pub enum DetectError {
    /// The series CSV is malformed or has an invalid value.
    Csv {
        /// 1-based data row (the header is not counted), if the problem is
        /// in a row.
        row: Option<usize>,
        /// Column concerned, if any.
        column: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The method name is not one of [`Method::ALL`].
    UnknownMethod {
        /// The name given.
        name: String,
    },
    /// The parameter name is not known for the method.
    UnknownParameter {
        /// The method.
        method: Method,
        /// The name given.
        name: String,
    },
    /// A parameter value cannot be parsed or is out of range, or the
    /// parameter is given twice.
    InvalidParameter {
        /// Parameter name (snake_case).
        name: String,
        /// The value given.
        value: String,
        /// What is allowed.
        expected: String,
    },
    /// The parameter set passed to [`run`] belongs to another method.
    ParamsMismatch {
        /// The method requested.
        method: Method,
    },
    /// The detection method failed (e.g. not enough history).
    Method {
        /// The method.
        method: Method,
        /// The underlying error (0-based indices; the message shown uses
        /// 1-based rows `t`).
        source: SurveillanceError,
    },
}

/// Result type of the detect engine.
pub type DetectResult<T> = std::result::Result<T, DetectError>;

fn describe(e: &SurveillanceError) -> String {
    use SurveillanceError as E;
    match e {
        E::InsufficientHistory {
            index,
            first_evaluable,
        } => format!(
            "not enough history to evaluate row t={}: the first row that can be evaluated is t={} \
             (set in_window to 0 for earlier rows)",
            index + 1,
            first_evaluable + 1
        ),
        E::ReferenceWeekMissing { index, years_back } => format!(
            "the reference week {years_back} year(s) before row t={} is not in the series \
             (use a smaller b or evaluate later rows)",
            index + 1
        ),
        E::MissingValue { index } => format!(
            "row t={} has no count (NA), which this method cannot handle",
            index + 1
        ),
        E::InvalidCount { index, value } => format!(
            "invalid count {value} in row t={}: counts must be finite and >= 0",
            index + 1
        ),
        E::InvalidPopulation { index, value } => format!(
            "invalid population {value} in row t={}: must be finite and > 0",
            index + 1
        ),
        E::MissingPopulation => {
            "population_offset=true needs a `population` column in the input".to_string()
        }
        E::InvalidRange { start, end, len } => format!(
            "invalid evaluation rows t={}..={} for a series of {len} rows",
            start + 1,
            end
        ),
        other => other.to_string(),
    }
}

impl fmt::Display for DetectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetectError::Csv {
                row,
                column,
                message,
            } => match (row, column) {
                (Some(r), Some(c)) => write!(f, "row {r}, column `{c}`: {message}"),
                (Some(r), None) => write!(f, "row {r}: {message}"),
                (None, Some(c)) => write!(f, "column `{c}`: {message}"),
                (None, None) => write!(f, "{message}"),
            },
            DetectError::UnknownMethod { name } => write!(
                f,
                "unknown method `{name}`; allowed: {}",
                Method::ALL.map(Method::name).join(", ")
            ),
            DetectError::UnknownParameter { method, name } => write!(
                f,
                "unknown parameter `{name}` for method {method}; allowed: {}",
                method.param_names().join(", ")
            ),
            DetectError::InvalidParameter {
                name,
                value,
                expected,
            } => write!(
                f,
                "invalid value `{value}` for parameter `{name}`: expected {expected}"
            ),
            DetectError::ParamsMismatch { method } => {
                write!(f, "the parameters passed do not belong to method {method}")
            }
            DetectError::Method { method, source } => write!(f, "{method}: {}", describe(source)),
        }
    }
}

impl std::error::Error for DetectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DetectError::Method { source, .. } => Some(source),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------

/// A weekly series read by [`parse_series_csv`] for `marmot detect`: the
/// counts (with optional dates and population) and the rows to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInput {
    series: WeeklySeries,
    dates: Vec<Option<Date>>,
    evaluate: Vec<usize>,
}

impl SeriesInput {
    /// Builds an input from a series and the 0-based indices of the weeks to
    /// evaluate (sorted and de-duplicated here; at least one, all in range).
    pub fn new(series: WeeklySeries, mut evaluate: Vec<usize>) -> DetectResult<Self> {
        evaluate.sort_unstable();
        evaluate.dedup();
        if evaluate.is_empty() {
            return Err(csv_err(None, Some("in_window"), "no row to evaluate"));
        }
        if let Some(&last) = evaluate.last()
            && last >= series.len()
        {
            return Err(csv_err(
                Some(last + 1),
                Some("in_window"),
                format!("row beyond the end of the series ({} rows)", series.len()),
            ));
        }
        let dates = match series.dates() {
            Some(d) => d.iter().copied().map(Some).collect(),
            None => vec![None; series.len()],
        };
        Ok(SeriesInput {
            series,
            dates,
            evaluate,
        })
    }

    /// The series (dated only when every row has a date).
    pub fn series(&self) -> &WeeklySeries {
        &self.series
    }

    /// The date of each row as given (None where absent / NA).
    pub fn dates(&self) -> &[Option<Date>] {
        &self.dates
    }

    /// 0-based indices of the rows to evaluate, ascending.
    pub fn evaluated(&self) -> &[usize] {
        &self.evaluate
    }

    /// The evaluated rows as maximal runs of consecutive indices.
    fn blocks(&self) -> Vec<Range<usize>> {
        let mut out: Vec<Range<usize>> = Vec::new();
        for &i in &self.evaluate {
            match out.last_mut() {
                Some(r) if r.end == i => r.end = i + 1,
                _ => out.push(i..i + 1),
            }
        }
        out
    }
}

fn csv_err(row: Option<usize>, column: Option<&str>, message: impl Into<String>) -> DetectError {
    DetectError::Csv {
        row,
        column: column.map(str::to_string),
        message: message.into(),
    }
}

fn is_na(v: &str) -> bool {
    v.is_empty() || v.eq_ignore_ascii_case("na")
}

/// Parses the input of `marmot detect`: a CSV weekly series (52 periods per
/// year). Same as [`parse_series_csv_with_frequency`] with [`WEEKLY`].
pub fn parse_series_csv(text: &str) -> DetectResult<SeriesInput> {
    parse_series_csv_with_frequency(text, WEEKLY)
}

/// Parses a CSV series with `periods_per_year` periods per year (52 weekly,
/// 12 monthly; R's `freq`), which every method then follows (see
/// [`WeeklySeries::with_frequency`]). "Week" below means one period (row).
///
/// Columns (header names case-insensitive, other columns ignored; UTF-8 BOM
/// and CRLF line ends tolerated):
/// * `count` (required): the weekly count, finite and >= 0; `NA` or empty
///   = missing (Farrington and EARS skip it, CUSUM and GLR report an error).
/// * `date` (optional): week-start date `YYYY-MM-DD`, strictly increasing.
///   Reference weeks are found by calendar year when every row has a date;
///   when the column is absent or any value is `NA`/empty, reference weeks
///   are exactly `periods_per_year * j` rows back for the whole series (R's
///   `epochAsDate = FALSE`). Monthly dates are period starts (e.g. the 1st).
/// * `population` (optional): population of each week (finite, > 0), used
///   as offset by `population_offset=true`; all `NA`/empty = no population,
///   otherwise required on every row.
/// * `in_window` (optional): `1` for the rows to evaluate, `0` otherwise;
///   by default the last `periods_per_year` rows (all rows if fewer).
///
/// Errors name the 1-based data row and the column; `periods_per_year < 2`
/// is an `InvalidParameter`.
pub fn parse_series_csv_with_frequency(
    text: &str,
    periods_per_year: usize,
) -> DetectResult<SeriesInput> {
    if periods_per_year < 2 {
        return Err(DetectError::InvalidParameter {
            name: "periods_per_year".to_string(),
            value: periods_per_year.to_string(),
            expected: "an integer >= 2 (52 weekly, 12 monthly)".to_string(),
        });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let from_csv = |e: csv::Error| {
        let row = e.position().map(|p| p.record() as usize).filter(|&r| r > 0);
        csv_err(row, None, format!("malformed CSV: {e}"))
    };
    let headers = rdr.headers().map_err(from_csv)?.clone();
    let names: Vec<String> = headers
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase())
        .collect();
    let find = |col: &str| -> DetectResult<Option<usize>> {
        let mut hits = names.iter().enumerate().filter(|(_, n)| *n == col);
        let first = hits.next().map(|(i, _)| i);
        if hits.next().is_some() {
            return Err(csv_err(None, Some(col), "column appears more than once"));
        }
        Ok(first)
    };
    let Some(c_count) = find("count")? else {
        return Err(csv_err(
            None,
            Some("count"),
            format!(
                "required column is missing (columns found: {})",
                names.join(", ")
            ),
        ));
    };
    let (c_date, c_pop, c_win) = (find("date")?, find("population")?, find("in_window")?);

    let mut counts = Vec::new();
    let mut dates = Vec::new();
    let mut pops: Vec<Option<f64>> = Vec::new();
    let mut window = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let row = i + 1;
        let rec = rec.map_err(from_csv)?;
        let field = |c: usize| rec.get(c).unwrap_or("");
        let number = |col: &str, v: &str| -> DetectResult<f64> {
            v.parse::<f64>()
                .map_err(|_| csv_err(Some(row), Some(col), format!("`{v}` is not a number")))
        };
        let v = field(c_count);
        counts.push(if is_na(v) {
            None
        } else {
            let x = number("count", v)?;
            if !(x.is_finite() && x >= 0.0) {
                return Err(csv_err(
                    Some(row),
                    Some("count"),
                    format!("`{v}` is not a valid count (finite and >= 0)"),
                ));
            }
            Some(x)
        });
        dates.push(match c_date.map(field) {
            Some(v) if !is_na(v) => Some(Date::parse_iso(v).map_err(|_| {
                csv_err(
                    Some(row),
                    Some("date"),
                    format!("`{v}` is not a date (expected YYYY-MM-DD)"),
                )
            })?),
            _ => None,
        });
        pops.push(match c_pop.map(field) {
            Some(v) if !is_na(v) => {
                let x = number("population", v)?;
                if !(x.is_finite() && x > 0.0) {
                    return Err(csv_err(
                        Some(row),
                        Some("population"),
                        format!("`{v}` is not a valid population (finite and > 0)"),
                    ));
                }
                Some(x)
            }
            _ => None,
        });
        if let Some(c) = c_win {
            match field(c) {
                "1" | "1.0" => window.push(i),
                "0" | "0.0" => {}
                v if v.eq_ignore_ascii_case("true") => window.push(i),
                v if v.eq_ignore_ascii_case("false") => {}
                v => {
                    return Err(csv_err(
                        Some(row),
                        Some("in_window"),
                        format!("`{v}` is not 0 or 1"),
                    ));
                }
            }
        }
    }
    let n = counts.len();
    if n == 0 {
        return Err(csv_err(None, None, "the CSV has no data rows"));
    }
    let mut series = WeeklySeries::with_missing(counts).map_err(|e| match e {
        SurveillanceError::InvalidCount { index, value } => csv_err(
            Some(index + 1),
            Some("count"),
            format!("`{value}` is not a valid count"),
        ),
        other => csv_err(None, Some("count"), other.to_string()),
    })?;
    series = series
        .with_frequency(periods_per_year)
        .map_err(|e| csv_err(None, None, e.to_string()))?;
    if dates.iter().all(Option::is_some) {
        let d: Vec<Date> = dates.iter().flatten().copied().collect();
        if let Some(i) = (1..n).find(|&i| d[i] <= d[i - 1]) {
            return Err(csv_err(
                Some(i + 1),
                Some("date"),
                format!(
                    "dates must be strictly increasing ({} follows {})",
                    d[i],
                    d[i - 1]
                ),
            ));
        }
        series = series
            .dated(d)
            .map_err(|e| csv_err(None, Some("date"), e.to_string()))?;
    }
    if pops.iter().any(Option::is_some) {
        if let Some(i) = pops.iter().position(Option::is_none) {
            return Err(csv_err(
                Some(i + 1),
                Some("population"),
                "population is missing; give it on every row or on none",
            ));
        }
        series = series
            .with_population(pops.into_iter().flatten().collect())
            .map_err(|e| csv_err(None, Some("population"), e.to_string()))?;
    }
    let evaluate = if c_win.is_some() {
        if window.is_empty() {
            return Err(csv_err(None, Some("in_window"), "no row has in_window = 1"));
        }
        window
    } else {
        (n.saturating_sub(periods_per_year)..n).collect()
    };
    let mut input = SeriesInput::new(series, evaluate)?;
    input.dates = dates;
    Ok(input)
}

// ---------------------------------------------------------------------------
// Methods and parameters
// ---------------------------------------------------------------------------

/// A detection method of `marmot detect --method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `farrington-flexible`: Noufaily et al. (2013) improved Farrington
    /// (R `farringtonFlexible`).
    FarringtonFlexible,
    /// `farrington`: Farrington et al. (1996) (R `algo.farrington`).
    Farrington,
    /// `ears-c1`: EARS C1 (R `earsC`, method C1).
    EarsC1,
    /// `ears-c2`: EARS C2 (R `earsC`, method C2).
    EarsC2,
    /// `ears-c3`: EARS C3 (R `earsC`, method C3).
    EarsC3,
    /// `cusum`: Rossi et al. (1999) approximate Poisson CUSUM (R `algo.cusum`).
    Cusum,
    /// `glr-poisson`: Höhle & Paul (2008) Poisson GLR chart (R `glrpois`).
    GlrPoisson,
}

const FLEX_PARAMS: &[&str] = &[
    "b",
    "w",
    "reweight",
    "weights_threshold",
    "trend",
    "p_threshold_trend",
    "no_periods",
    "past_weeks_not_included",
    "threshold_method",
    "alpha",
    "limit54",
    "powertrans",
    "population_offset",
    "inference_dispersion",
];
const CLASSIC_PARAMS: &[&str] = &[
    "b",
    "w",
    "reweight",
    "alpha",
    "trend",
    "limit54",
    "powertrans",
];
const EARS_PARAMS: &[&str] = &["baseline", "alpha", "min_sigma"];
const CUSUM_PARAMS: &[&str] = &["k", "h", "m", "trans", "alpha", "start_week"];
const GLR_PARAMS: &[&str] = &["c_arl", "direction", "mtilde", "m", "harmonics", "trend"];

impl Method {
    /// All methods, in the order of the command-line help.
    pub const ALL: [Method; 7] = [
        Method::FarringtonFlexible,
        Method::Farrington,
        Method::EarsC1,
        Method::EarsC2,
        Method::EarsC3,
        Method::Cusum,
        Method::GlrPoisson,
    ];

    /// Parses a `--method` name (case-insensitive, `_` accepted for `-`):
    /// `farrington-flexible`, `farrington`, `ears-c1`, `ears-c2`, `ears-c3`,
    /// `cusum`, `glr-poisson`.
    pub fn parse(name: &str) -> DetectResult<Method> {
        let norm = name.trim().to_ascii_lowercase().replace('_', "-");
        Method::ALL
            .into_iter()
            .find(|m| m.name() == norm)
            .ok_or_else(|| DetectError::UnknownMethod {
                name: name.to_string(),
            })
    }

    /// The command-line name of the method.
    pub fn name(self) -> &'static str {
        match self {
            Method::FarringtonFlexible => "farrington-flexible",
            Method::Farrington => "farrington",
            Method::EarsC1 => "ears-c1",
            Method::EarsC2 => "ears-c2",
            Method::EarsC3 => "ears-c3",
            Method::Cusum => "cusum",
            Method::GlrPoisson => "glr-poisson",
        }
    }

    /// The parameter names (snake_case) accepted by [`parse_params`].
    pub fn param_names(self) -> &'static [&'static str] {
        match self {
            Method::FarringtonFlexible => FLEX_PARAMS,
            Method::Farrington => CLASSIC_PARAMS,
            Method::EarsC1 | Method::EarsC2 | Method::EarsC3 => EARS_PARAMS,
            Method::Cusum => CUSUM_PARAMS,
            Method::GlrPoisson => GLR_PARAMS,
        }
    }

    /// The default parameters: the `Default` impls of the parameter structs
    /// (Farrington flexible: Noufaily et al. 2013), with the EARS variant.
    pub fn default_params(self) -> MethodParams {
        let ears = |method| {
            MethodParams::Ears(EarsParams {
                method,
                ..EarsParams::default()
            })
        };
        match self {
            Method::FarringtonFlexible => {
                MethodParams::FarringtonFlexible(FarringtonFlexibleParams::default())
            }
            Method::Farrington => MethodParams::Farrington(FarringtonClassicParams::default()),
            Method::EarsC1 => ears(EarsMethod::C1),
            Method::EarsC2 => ears(EarsMethod::C2),
            Method::EarsC3 => ears(EarsMethod::C3),
            Method::Cusum => MethodParams::Cusum(CusumParams::default()),
            Method::GlrPoisson => MethodParams::GlrPoisson(GlrPoisParams::default()),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Method {
    type Err = DetectError;
    fn from_str(s: &str) -> DetectResult<Method> {
        Method::parse(s)
    }
}

/// Parameters of one detection method (for [`run`]), as built by
/// [`parse_params`].
#[derive(Debug, Clone, PartialEq)]
pub enum MethodParams {
    /// [`farrington_flexible`] parameters.
    FarringtonFlexible(FarringtonFlexibleParams),
    /// [`farrington_classic`] parameters.
    Farrington(FarringtonClassicParams),
    /// [`ears_c`] parameters (the C1/C2/C3 variant is taken from the method).
    Ears(EarsParams),
    /// [`cusum()`] parameters.
    Cusum(CusumParams),
    /// [`glr_pois`] parameters.
    GlrPoisson(GlrPoisParams),
}

fn fmt_bool(b: bool) -> String {
    if b { "true" } else { "false" }.to_string()
}

fn fmt_limit54(l: &Limit54) -> String {
    format!("{},{}", l.cases, l.period)
}

fn fmt_powertrans(p: PowerTransform) -> String {
    match p {
        PowerTransform::TwoThirds => "2/3",
        PowerTransform::Half => "1/2",
        PowerTransform::None => "none",
    }
    .to_string()
}

impl MethodParams {
    /// Every parameter as `(name, value)` in the syntax of [`parse_params`]
    /// (so `parse_params(method, &p.to_pairs()) == p`). A given `mu0` of the
    /// GLR chart cannot be written as a parameter and is left out.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        match self {
            MethodParams::FarringtonFlexible(p) => vec![
                ("b", p.b.to_string()),
                ("w", p.w.to_string()),
                ("reweight", fmt_bool(p.reweight)),
                ("weights_threshold", p.weights_threshold.to_string()),
                ("trend", fmt_bool(p.trend)),
                ("p_threshold_trend", p.p_threshold_trend.to_string()),
                ("no_periods", p.no_periods.to_string()),
                (
                    "past_weeks_not_included",
                    p.past_weeks_not_included.to_string(),
                ),
                (
                    "threshold_method",
                    match p.threshold_method {
                        ThresholdMethod::Delta => "delta",
                        ThresholdMethod::NbPlugin => "nbPlugin",
                        ThresholdMethod::Muan => "muan",
                    }
                    .to_string(),
                ),
                ("alpha", p.alpha.to_string()),
                ("limit54", fmt_limit54(&p.limit54)),
                ("powertrans", fmt_powertrans(p.powertrans)),
                ("population_offset", fmt_bool(p.population_offset)),
                (
                    "inference_dispersion",
                    match p.inference_dispersion {
                        InferenceDispersion::RCompatible => "r-compatible",
                        InferenceDispersion::Pearson => "pearson",
                    }
                    .to_string(),
                ),
            ],
            MethodParams::Farrington(p) => vec![
                ("b", p.b.to_string()),
                ("w", p.w.to_string()),
                ("reweight", fmt_bool(p.reweight)),
                ("alpha", p.alpha.to_string()),
                ("trend", fmt_bool(p.trend)),
                ("limit54", fmt_limit54(&p.limit54)),
                ("powertrans", fmt_powertrans(p.powertrans)),
            ],
            MethodParams::Ears(p) => {
                let mut v = vec![("baseline", p.baseline.to_string())];
                if let Some(a) = p.alpha {
                    v.push(("alpha", a.to_string()));
                }
                v.push(("min_sigma", p.min_sigma.to_string()));
                v
            }
            MethodParams::Cusum(p) => {
                let mut v = vec![
                    ("k", p.k.to_string()),
                    ("h", p.h.to_string()),
                    (
                        "m",
                        match &p.m {
                            CusumReference::PreWindowMean => "mean".to_string(),
                            CusumReference::Glm => "glm".to_string(),
                            CusumReference::Fixed(x) => x.to_string(),
                        },
                    ),
                    (
                        "trans",
                        match p.trans {
                            CusumTransform::Standard => "standard",
                            CusumTransform::Rossi => "rossi",
                            CusumTransform::Anscombe => "anscombe",
                            CusumTransform::Anscombe2nd => "anscombe2nd",
                            CusumTransform::PearsonNegBin { .. } => "pearsonNegBin",
                            CusumTransform::None => "none",
                        }
                        .to_string(),
                    ),
                ];
                if let CusumTransform::PearsonNegBin { alpha } = p.trans {
                    v.push(("alpha", alpha.to_string()));
                }
                v.push(("start_week", p.start_week.to_string()));
                v
            }
            MethodParams::GlrPoisson(p) => {
                let mut v = vec![
                    ("c_arl", p.c_arl.to_string()),
                    (
                        "direction",
                        match p.direction {
                            Direction::Increase => "inc",
                            Direction::Decrease => "dec",
                        }
                        .to_string(),
                    ),
                    ("mtilde", p.mtilde.to_string()),
                    ("m", p.m.map_or("-1".to_string(), |m| m.to_string())),
                ];
                if let Mu0::Estimate { harmonics, trend } = p.mu0 {
                    v.push(("harmonics", harmonics.to_string()));
                    v.push(("trend", fmt_bool(trend)));
                }
                v
            }
        }
    }
}

/// Converts an R control name (`pThresholdTrend`, `c.ARL`, `minSigma`) or a
/// snake_case name to snake_case.
fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev_lower = false;
    for ch in name.trim().chars() {
        if ch == '.' || ch == '-' {
            out.push('_');
            prev_lower = false;
        } else if ch.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
            prev_lower = false;
        } else {
            out.push(ch);
            prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        }
    }
    match out.as_str() {
        "dir" => "direction".to_string(),
        _ => out,
    }
}

fn invalid(name: &str, value: &str, expected: &str) -> DetectError {
    DetectError::InvalidParameter {
        name: name.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

fn p_f64(name: &str, v: &str, ok: impl Fn(f64) -> bool, expected: &str) -> DetectResult<f64> {
    match v.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && ok(x) => Ok(x),
        _ => Err(invalid(name, v, expected)),
    }
}

fn p_prob(name: &str, v: &str) -> DetectResult<f64> {
    p_f64(name, v, |x| x > 0.0 && x < 1.0, "a number in (0, 1)")
}

/// Integer parameter in `min..=max` (the upper limits keep window sizes
/// sane and the index arithmetic of the methods far from overflow).
fn p_usize(name: &str, v: &str, min: usize, max: usize) -> DetectResult<usize> {
    match v.trim().parse::<usize>() {
        Ok(x) if (min..=max).contains(&x) => Ok(x),
        _ => Err(invalid(name, v, &format!("an integer in {min}..={max}"))),
    }
}

fn p_bool(name: &str, v: &str) -> DetectResult<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" => Ok(true),
        "false" | "f" | "0" | "no" => Ok(false),
        _ => Err(invalid(name, v, "true or false")),
    }
}

fn p_limit54(name: &str, v: &str) -> DetectResult<Limit54> {
    let expected = "`cases,period`, e.g. `5,4` (cases >= 0, period >= 1)";
    let s = v.trim();
    let s = s
        .strip_prefix("c(")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(s);
    let mut it = s.split(',');
    let (Some(c), Some(p), None) = (it.next(), it.next(), it.next()) else {
        return Err(invalid(name, v, expected));
    };
    match (c.trim().parse::<f64>(), p.trim().parse::<usize>()) {
        (Ok(cases), Ok(period)) if cases.is_finite() && cases >= 0.0 && period >= 1 => {
            Ok(Limit54 { cases, period })
        }
        _ => Err(invalid(name, v, expected)),
    }
}

fn p_powertrans(name: &str, v: &str) -> DetectResult<PowerTransform> {
    match v.trim().to_ascii_lowercase().as_str() {
        "2/3" => Ok(PowerTransform::TwoThirds),
        "1/2" => Ok(PowerTransform::Half),
        "none" => Ok(PowerTransform::None),
        _ => Err(invalid(name, v, "one of 2/3, 1/2, none")),
    }
}

/// Builds the parameters of `method` from `--param name=value` pairs.
///
/// Names are the R package's control names in snake_case (R camelCase and
/// `c.ARL` are accepted too). Unspecified parameters keep their defaults
/// ([`Method::default_params`]: Noufaily et al. 2013 for Farrington flexible,
/// R's defaults elsewhere).
///
/// Integer parameters are bounded: `b` 1..=100, `w` 0..=26, `no_periods`
/// 1..=52, `past_weeks_not_included` 0..=520, `baseline` 3..=520, `mtilde`
/// 1..=520, `m` (GLR) -1 or 1..=1000000, `harmonics` 0..=26.
///
/// | method | parameters (values) |
/// |---|---|
/// | `farrington-flexible` | `b`, `w`, `reweight` (true/false), `weights_threshold`, `trend`, `p_threshold_trend`, `no_periods`, `past_weeks_not_included`, `threshold_method` (delta, nbPlugin, muan), `alpha`, `limit54` (`5,4`), `powertrans` (2/3, 1/2, none), `population_offset`, `inference_dispersion` (r-compatible = R's default, pearson = textbook) |
/// | `farrington` | `b`, `w`, `reweight`, `alpha`, `trend`, `limit54`, `powertrans` |
/// | `ears-c1/c2/c3` | `baseline`, `alpha`, `min_sigma` |
/// | `cusum` | `k`, `h`, `m` (mean, glm or a number), `trans` (standard, rossi, anscombe, anscombe2nd, pearsonNegBin, none), `alpha` (pearsonNegBin only, default 0.1), `start_week` |
/// | `glr-poisson` | `c_arl`, `direction` (inc, dec), `mtilde`, `m` (-1 = unlimited), `harmonics`, `trend` |
///
/// Errors: an unknown name ([`DetectError::UnknownParameter`], listing the
/// allowed names), a value that does not parse or is out of range, or a
/// parameter given twice ([`DetectError::InvalidParameter`], with the
/// allowed values).
pub fn parse_params<N: AsRef<str>, V: AsRef<str>>(
    method: Method,
    pairs: &[(N, V)],
) -> DetectResult<MethodParams> {
    let mut params = method.default_params();
    let mut seen: Vec<String> = Vec::new();
    let mut cusum_alpha: Option<f64> = None;
    for (raw_name, value) in pairs {
        let (raw_name, v) = (raw_name.as_ref(), value.as_ref());
        let name = normalize_name(raw_name);
        if !method.param_names().contains(&name.as_str()) {
            return Err(DetectError::UnknownParameter {
                method,
                name: raw_name.to_string(),
            });
        }
        if seen.contains(&name) {
            return Err(invalid(&name, v, "each parameter at most once"));
        }
        seen.push(name.clone());
        let n = name.as_str();
        match &mut params {
            MethodParams::FarringtonFlexible(p) => match n {
                "b" => p.b = p_usize(n, v, 1, 100)?,
                "w" => p.w = p_usize(n, v, 0, 26)?,
                "reweight" => p.reweight = p_bool(n, v)?,
                "weights_threshold" => {
                    p.weights_threshold = p_f64(n, v, |x| x > 0.0, "a number > 0")?
                }
                "trend" => p.trend = p_bool(n, v)?,
                "p_threshold_trend" => p.p_threshold_trend = p_f64(n, v, |_| true, "a number")?,
                "no_periods" => p.no_periods = p_usize(n, v, 1, 52)?,
                "past_weeks_not_included" => p.past_weeks_not_included = p_usize(n, v, 0, 520)?,
                "threshold_method" => {
                    p.threshold_method = match v.trim().to_ascii_lowercase().as_str() {
                        "delta" => ThresholdMethod::Delta,
                        "nbplugin" => ThresholdMethod::NbPlugin,
                        "muan" => ThresholdMethod::Muan,
                        _ => return Err(invalid(n, v, "one of delta, nbPlugin, muan")),
                    }
                }
                "alpha" => p.alpha = p_prob(n, v)?,
                "limit54" => p.limit54 = p_limit54(n, v)?,
                "powertrans" => p.powertrans = p_powertrans(n, v)?,
                "population_offset" => p.population_offset = p_bool(n, v)?,
                _ => {
                    p.inference_dispersion = match v.trim().to_ascii_lowercase().as_str() {
                        "r-compatible" | "r_compatible" | "r" => InferenceDispersion::RCompatible,
                        "pearson" => InferenceDispersion::Pearson,
                        _ => return Err(invalid(n, v, "one of r-compatible, pearson")),
                    }
                }
            },
            MethodParams::Farrington(p) => match n {
                "b" => p.b = p_usize(n, v, 1, 100)?,
                "w" => p.w = p_usize(n, v, 0, 26)?,
                "reweight" => p.reweight = p_bool(n, v)?,
                "alpha" => p.alpha = p_prob(n, v)?,
                "trend" => p.trend = p_bool(n, v)?,
                "limit54" => p.limit54 = p_limit54(n, v)?,
                _ => p.powertrans = p_powertrans(n, v)?,
            },
            MethodParams::Ears(p) => match n {
                "baseline" => p.baseline = p_usize(n, v, 3, 520)?,
                "alpha" => p.alpha = Some(p_prob(n, v)?),
                _ => p.min_sigma = p_f64(n, v, |x| x >= 0.0, "a number >= 0")?,
            },
            MethodParams::Cusum(p) => match n {
                "k" => p.k = p_f64(n, v, |_| true, "a number")?,
                "h" => p.h = p_f64(n, v, |_| true, "a number")?,
                "m" => {
                    p.m = match v.trim().to_ascii_lowercase().as_str() {
                        "mean" | "null" => CusumReference::PreWindowMean,
                        "glm" => CusumReference::Glm,
                        _ => CusumReference::Fixed(p_f64(
                            n,
                            v,
                            |x| x > 0.0,
                            "mean, glm or a number > 0",
                        )?),
                    }
                }
                "trans" => {
                    p.trans = match v.trim().to_ascii_lowercase().as_str() {
                        "standard" => CusumTransform::Standard,
                        "rossi" => CusumTransform::Rossi,
                        "anscombe" => CusumTransform::Anscombe,
                        "anscombe2nd" => CusumTransform::Anscombe2nd,
                        "pearsonnegbin" => CusumTransform::PearsonNegBin { alpha: 0.1 },
                        "none" => CusumTransform::None,
                        _ => {
                            return Err(invalid(
                                n,
                                v,
                                "one of standard, rossi, anscombe, anscombe2nd, pearsonNegBin, none",
                            ));
                        }
                    }
                }
                "alpha" => cusum_alpha = Some(p_f64(n, v, |x| x > 0.0, "a number > 0")?),
                _ => {
                    p.start_week = match v.trim().parse::<u32>() {
                        Ok(x) if (1..=53).contains(&x) => x,
                        _ => return Err(invalid(n, v, "an integer in 1..=53")),
                    }
                }
            },
            MethodParams::GlrPoisson(p) => match n {
                "c_arl" => p.c_arl = p_f64(n, v, |x| x > 0.0, "a number > 0")?,
                "direction" => {
                    p.direction = match v.trim().to_ascii_lowercase().as_str() {
                        "inc" => Direction::Increase,
                        "dec" => Direction::Decrease,
                        _ => return Err(invalid(n, v, "inc or dec")),
                    }
                }
                "mtilde" => p.mtilde = p_usize(n, v, 1, 520)?,
                "m" => {
                    p.m = match v.trim() {
                        "-1" => None,
                        _ => Some(p_usize(n, v, 1, 1_000_000).map_err(|_| {
                            invalid(n, v, "-1 (unlimited) or an integer in 1..=1000000")
                        })?),
                    }
                }
                "harmonics" | "trend" => {
                    let Mu0::Estimate { harmonics, trend } = &mut p.mu0 else {
                        return Err(invalid(n, v, "no given mu0"));
                    };
                    if n == "harmonics" {
                        *harmonics = p_usize(n, v, 0, 26)?;
                    } else {
                        *trend = p_bool(n, v)?;
                    }
                }
                _ => return Err(invalid(n, v, "a known parameter")),
            },
        }
    }
    if let (Some(a), MethodParams::Cusum(p)) = (cusum_alpha, &mut params) {
        match &mut p.trans {
            CusumTransform::PearsonNegBin { alpha } => *alpha = a,
            _ => {
                return Err(invalid(
                    "alpha",
                    &a.to_string(),
                    "alpha only together with trans=pearsonNegBin",
                ));
            }
        }
    }
    Ok(params)
}

/// Splits a `--param name=value` argument into `(name, value)`.
pub fn parse_param_arg(arg: &str) -> DetectResult<(String, String)> {
    match arg.split_once('=') {
        Some((n, v)) if !n.trim().is_empty() => Ok((n.trim().to_string(), v.trim().to_string())),
        _ => Err(invalid(arg, arg, "name=value")),
    }
}

// ---------------------------------------------------------------------------
// Running and output
// ---------------------------------------------------------------------------

/// One evaluated week of [`run`] (a row of the `marmot detect` output).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectRow {
    /// 1-based row of the input.
    pub t: usize,
    /// Week-start date of the row, if given.
    pub date: Option<Date>,
    /// Observed count (None if missing).
    pub observed: Option<f64>,
    /// Expected count (predictive mean, EARS baseline mean, CUSUM reference
    /// value or GLR in-control mean).
    pub expected: Option<f64>,
    /// Lower threshold for drops (Farrington methods), else None.
    pub lower: Option<f64>,
    /// Upper threshold (None where suppressed by limit54 or undefined; the
    /// GLR chart has none).
    pub upper: Option<f64>,
    /// Alarm (written as 0/1).
    pub alarm: bool,
    /// Method-specific fields, in output order.
    pub extra: Vec<(&'static str, Option<f64>)>,
}

fn flag(b: bool) -> Option<f64> {
    Some(if b { 1.0 } else { 0.0 })
}

fn farrington_row(input: &SeriesInput, w: &FarringtonWeek, classic: bool) -> DetectRow {
    let fitted_flag = |b: bool| if w.fitted { flag(b) } else { None };
    let mut extra = vec![
        ("lower_alarm", fitted_flag(w.lower_alarm)),
        ("limit54_suppressed", fitted_flag(w.limit54_suppressed)),
        ("upper_unsuppressed", w.upper_unsuppressed),
        ("score", w.score),
        ("p_value", w.p_value),
    ];
    if classic {
        extra.push(("normal_cdf_transformed", w.transformed_cdf));
    }
    extra.push(("phi", w.phi));
    if !classic {
        extra.push(("mu0", w.mu0));
    }
    extra.push(("trend_included", fitted_flag(w.trend_included)));
    extra.push(("trend_coef", w.trend_coef));
    if !classic {
        extra.push(("population", w.population));
        extra.push(("fitted", flag(w.fitted)));
    }
    DetectRow {
        t: w.index + 1,
        date: input.dates.get(w.index).copied().flatten(),
        observed: w.observed,
        expected: w.expected,
        lower: w.lower,
        upper: w.upper,
        alarm: w.alarm,
        extra,
    }
}

/// Runs `method` with `params` on the evaluated rows of `input` (the
/// computation behind `marmot detect`).
///
/// * Farrington flexible / classic and EARS evaluate every row with
///   `in_window = 1` independently (any set of rows).
/// * CUSUM and GLR are sequential charts started just before the window
///   (their reference value is estimated from the rows before it), so the
///   evaluated rows must be one consecutive block.
///
/// Output fields: `expected` is the predictive mean even where limit54
/// suppresses the Farrington bound (R writes NA there); `lower` is the
/// Farrington lower threshold for drops. Method-specific `extra` fields:
/// Farrington flexible `lower_alarm, limit54_suppressed, upper_unsuppressed,
/// score, p_value, phi, mu0, trend_included, trend_coef, population, fitted`;
/// classic `lower_alarm, limit54_suppressed, upper_unsuppressed, score,
/// p_value, normal_cdf_transformed, phi, trend_included, trend_coef`; EARS
/// `sigma, score`; CUSUM `standardized, cusum`; GLR `glr_statistic`
/// (0/1 for flags).
///
/// For EARS the C1/C2/C3 variant is taken from `method`. Errors:
/// parameters of another method, a non-consecutive window for CUSUM/GLR,
/// and the errors of the method (e.g. not enough history), with 1-based rows
/// in the message.
pub fn run(
    input: &SeriesInput,
    method: Method,
    params: &MethodParams,
) -> DetectResult<Vec<DetectRow>> {
    let series = &input.series;
    let blocks = input.blocks();
    let fail = |source| DetectError::Method { method, source };
    let date = |i: usize| input.dates.get(i).copied().flatten();
    let single_block = || -> DetectResult<Range<usize>> {
        match blocks.as_slice() {
            [r] => Ok(r.clone()),
            _ => Err(csv_err(
                None,
                Some("in_window"),
                format!(
                    "{method} is a sequential chart: the rows with in_window = 1 must be consecutive"
                ),
            )),
        }
    };
    let mut out = Vec::with_capacity(input.evaluate.len());
    match (method, params) {
        (Method::FarringtonFlexible, MethodParams::FarringtonFlexible(p)) => {
            for r in blocks {
                let weeks = farrington_flexible(series, r, p).map_err(fail)?;
                out.extend(weeks.iter().map(|w| farrington_row(input, w, false)));
            }
        }
        (Method::Farrington, MethodParams::Farrington(p)) => {
            for r in blocks {
                let weeks = farrington_classic(series, r, p).map_err(fail)?;
                out.extend(weeks.iter().map(|w| farrington_row(input, w, true)));
            }
        }
        (Method::EarsC1 | Method::EarsC2 | Method::EarsC3, MethodParams::Ears(p)) => {
            let p = EarsParams {
                method: match method {
                    Method::EarsC1 => EarsMethod::C1,
                    Method::EarsC2 => EarsMethod::C2,
                    _ => EarsMethod::C3,
                },
                ..p.clone()
            };
            for r in blocks {
                for w in ears_c(series, r, &p).map_err(fail)? {
                    out.push(DetectRow {
                        t: w.index + 1,
                        date: date(w.index),
                        observed: w.observed,
                        expected: w.expected,
                        lower: None,
                        upper: w.upper,
                        alarm: w.alarm,
                        extra: vec![("sigma", w.sigma), ("score", w.score)],
                    });
                }
            }
        }
        (Method::Cusum, MethodParams::Cusum(p)) => {
            for w in cusum(series, single_block()?, p).map_err(fail)? {
                out.push(DetectRow {
                    t: w.index + 1,
                    date: date(w.index),
                    observed: Some(w.observed),
                    expected: Some(w.expected),
                    lower: None,
                    upper: Some(w.upper),
                    alarm: w.alarm,
                    extra: vec![
                        ("standardized", finite(w.standardized)),
                        ("cusum", finite(w.cusum)),
                    ],
                });
            }
        }
        (Method::GlrPoisson, MethodParams::GlrPoisson(p)) => {
            for w in glr_pois(series, single_block()?, p).map_err(fail)? {
                out.push(DetectRow {
                    t: w.index + 1,
                    date: date(w.index),
                    observed: Some(w.observed),
                    expected: Some(w.expected),
                    lower: None,
                    upper: None,
                    alarm: w.alarm,
                    extra: vec![("glr_statistic", finite(w.glr_statistic))],
                });
            }
        }
        _ => return Err(DetectError::ParamsMismatch { method }),
    }
    Ok(out)
}

fn finite(x: f64) -> Option<f64> {
    if x.is_finite() { Some(x) } else { None }
}

/// Formats a number: integers without a decimal point, shortest round-trip
/// representation otherwise (exponent form for very large/small values);
/// None and non-finite values give None.
fn fmt_num(x: Option<f64>) -> Option<String> {
    let x = x.filter(|v| v.is_finite())?;
    let a = x.abs();
    Some(if x.fract() == 0.0 && a < 1e15 {
        format!("{}", x as i64)
    } else if a != 0.0 && !(1e-5..1e15).contains(&a) {
        format!("{x:e}")
    } else {
        format!("{x}")
    })
}

const FIXED_COLUMNS: [&str; 7] = [
    "t", "date", "observed", "expected", "lower", "upper", "alarm",
];

fn row_values(r: &DetectRow) -> Vec<(&'static str, Option<String>, bool)> {
    // (name, value, is_string)
    let mut v = vec![
        ("t", Some(r.t.to_string()), false),
        ("date", r.date.map(|d| d.to_string()), true),
        ("observed", fmt_num(r.observed), false),
        ("expected", fmt_num(r.expected), false),
        ("lower", fmt_num(r.lower), false),
        ("upper", fmt_num(r.upper), false),
        ("alarm", Some(u8::from(r.alarm).to_string()), false),
    ];
    v.extend(r.extra.iter().map(|&(n, x)| (n, fmt_num(x), false)));
    v
}

/// Writes the rows of [`run`] as CSV (`marmot detect --format csv`): columns
/// `t, date, observed, expected, lower, upper, alarm` then the method's extra
/// fields (named after the first row); missing values are empty fields.
pub fn to_csv(rows: &[DetectRow]) -> String {
    let mut header: Vec<&str> = FIXED_COLUMNS.to_vec();
    if let Some(r) = rows.first() {
        header.extend(r.extra.iter().map(|(n, _)| *n));
    }
    let mut s = header.join(",");
    s.push('\n');
    for r in rows {
        let line: Vec<String> = row_values(r)
            .into_iter()
            .map(|(_, v, _)| v.unwrap_or_default())
            .collect();
        s.push_str(&line.join(","));
        s.push('\n');
    }
    s
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes the rows of [`run`] as a JSON array of objects
/// (`marmot detect --format json`), with the same fields as [`to_csv`];
/// missing values are `null`, `alarm` and flags are 0/1, dates are strings.
pub fn to_json(rows: &[DetectRow]) -> String {
    let mut s = String::from("[");
    for (i, r) in rows.iter().enumerate() {
        s.push_str(if i == 0 { "\n  {" } else { ",\n  {" });
        let fields: Vec<String> = row_values(r)
            .into_iter()
            .map(|(n, v, is_str)| {
                let v = match v {
                    None => "null".to_string(),
                    Some(v) if is_str => json_string(&v),
                    Some(v) => v,
                };
                format!("{}: {v}", json_string(n))
            })
            .collect();
        s.push_str(&fields.join(", "));
        s.push('}');
    }
    s.push_str(if rows.is_empty() { "]\n" } else { "\n]\n" });
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn monthly_csv_input() {
        let text: String = std::iter::once("count\n".to_string())
            .chain((0..30).map(|i| format!("{}\n", i % 7)))
            .collect();
        let weekly = parse_series_csv(&text).unwrap();
        assert_eq!(weekly.series().periods_per_year(), 52);
        assert_eq!(weekly.evaluated(), (0..30).collect::<Vec<_>>());
        let monthly = parse_series_csv_with_frequency(&text, 12).unwrap();
        assert_eq!(monthly.series().periods_per_year(), 12);
        assert_eq!(monthly.evaluated(), (18..30).collect::<Vec<_>>());
        assert!(matches!(
            parse_series_csv_with_frequency(&text, 1),
            Err(DetectError::InvalidParameter { .. })
        ));
    }

    #[test]
    fn method_names_round_trip() {
        for m in Method::ALL {
            assert_eq!(Method::parse(m.name()).unwrap(), m);
            assert_eq!(m.to_string().parse::<Method>().unwrap(), m);
        }
        assert_eq!(Method::parse(" EARS_C2 ").unwrap(), Method::EarsC2);
        let e = Method::parse("noufaily").unwrap_err();
        assert!(
            e.to_string()
                .contains("farrington-flexible, farrington, ears-c1")
        );
    }

    #[test]
    fn names_normalised() {
        assert_eq!(normalize_name("pThresholdTrend"), "p_threshold_trend");
        assert_eq!(normalize_name("c.ARL"), "c_arl");
        assert_eq!(
            normalize_name("pastWeeksNotIncluded"),
            "past_weeks_not_included"
        );
        assert_eq!(normalize_name("limit54"), "limit54");
        assert_eq!(normalize_name("Mtilde"), "mtilde");
        assert_eq!(normalize_name("dir"), "direction");
        assert_eq!(normalize_name("min_sigma"), "min_sigma");
    }

    #[test]
    fn number_format() {
        assert_eq!(fmt_num(Some(3.0)).unwrap(), "3");
        assert_eq!(fmt_num(Some(-0.5)).unwrap(), "-0.5");
        assert_eq!(fmt_num(Some(1e-7)).unwrap(), "1e-7");
        assert_eq!(fmt_num(Some(f64::NAN)), None);
        assert_eq!(fmt_num(None), None);
    }
}
