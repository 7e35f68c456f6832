//! SQL functions for population-health indicators, registered on the engine's `SessionContext`.
//!
//! Every statistical function is a thin adapter over [`marmot_stats`] (validated against the R
//! package PHEindicatormethods); no statistics are computed here. Their arguments are coerced to
//! `Float64` (integer columns and literals work) and their results are `Float64`. One function
//! recodes text: `nhs_ethnic_group`, an adapter over [`marmot_model::nhs_ethnic_group`], so that
//! every indicator with an ethnic-group breakdown groups NHS codes the same way. Every function
//! is `Immutable`.
//!
//! | function | kind | method |
//! |---|---|---|
//! | `wilson_lower(x, n, confidence)`, `wilson_upper(...)` | scalar | Wilson score interval of x/n |
//! | `rate_lower(x, n, confidence, multiplier)`, `rate_upper(...)` | scalar | crude rate, exact Poisson (x < 10) / Byar's |
//! | `rate_lower_exact(x, n, confidence, multiplier)`, `rate_upper_exact(...)` | scalar | crude rate, exact Poisson at every count (Fingertips' rule) |
//! | `dsr_value(x, n, stdpop, multiplier)` | aggregate | directly standardised rate |
//! | `dsr_lower(x, n, stdpop, confidence, multiplier)`, `dsr_upper(...)` | aggregate | Dobson limits of the DSR |
//! | `sii(quantile, population, value)`, `rii(...)` | aggregate | slope / relative index of inequality |
//! | `nhs_ethnic_group(ethnic_category)` | scalar | NHS ethnic category code to Census 2021 high-level group |
//!
//! Confidence is a fraction (`0.95`, `0.998`) or a percentage (`95`, `99.8`).
//!
//! **NULL, never an error, for bad data.** A function returns NULL where the method publishes
//! no value (a DSR whose total count is below 10) and where an input is NULL or invalid
//! (x > n, n ≤ 0, a confidence of 1, fewer than 5 quantiles, ...). One exception follows the
//! package: in the DSR aggregates a NULL event count `x` in a band counts as 0 (as
//! `calculate_dsr` does), while a NULL `n` or `stdpop` makes the group's result NULL. In the
//! aggregates, `confidence` and `multiplier` must be the same on every row of a group;
//! otherwise the result is NULL.
//!
//! ```sql
//! SELECT area,
//!        dsr_value(deaths, population, esp, 100000)            AS dsr,
//!        dsr_lower(deaths, population, esp, 0.95, 100000)      AS dsr_lower95,
//!        dsr_upper(deaths, population, esp, 0.95, 100000)      AS dsr_upper95
//! FROM mortality_by_age GROUP BY area;
//! ```

use std::fmt::Debug;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, ListArray, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Float64Type};
use datafusion::common::cast::{as_boolean_array, as_float64_array, as_list_array};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    Accumulator, ColumnarValue, Volatility, create_udaf, create_udf,
    function::AccumulatorFactoryFunction,
};
use datafusion::prelude::SessionContext;
use marmot_stats::{
    ConfidenceLevel, DsrBand, DsrEstimate, PoissonRule, SiiOptions, SiiQuantile, SiiUncertainty,
    SiiValue, SiiValueType, crude_rate_by, dsr, sii, wilson_interval,
};

/// Whether a SQL function is computed per row or per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FunctionKind {
    /// One value per row.
    Scalar,
    /// One value per group (`GROUP BY`).
    Aggregate,
}

impl FunctionKind {
    /// `"scalar"` or `"aggregate"`.
    pub fn label(self) -> &'static str {
        match self {
            FunctionKind::Scalar => "scalar",
            FunctionKind::Aggregate => "aggregate",
        }
    }
}

/// The description of one SQL function, for `marmot functions` and the docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionDoc {
    /// SQL name, e.g. `wilson_lower`.
    pub name: &'static str,
    /// Scalar or aggregate.
    pub kind: FunctionKind,
    /// Call shape with argument names, e.g. `wilson_lower(x, n, confidence) -> DOUBLE`.
    pub signature: &'static str,
    /// What it computes, the method and its source (paper and PHEindicatormethods function).
    pub description: &'static str,
}

/// Every SQL function [`register_all`] adds, in a stable order.
pub fn catalogue() -> Vec<FunctionDoc> {
    use FunctionKind::{Aggregate, Scalar};
    vec![
        FunctionDoc {
            name: "wilson_lower",
            kind: Scalar,
            signature: "wilson_lower(x, n, confidence) -> DOUBLE",
            description: "Lower limit of the proportion x/n (0-1 scale): Wilson score interval \
                without continuity correction (Wilson 1927), PHEindicatormethods::phe_proportion. \
                confidence 0.95 or 95, 0.998 or 99.8. NULL if x < 0, n <= 0 or x > n.",
        },
        FunctionDoc {
            name: "wilson_upper",
            kind: Scalar,
            signature: "wilson_upper(x, n, confidence) -> DOUBLE",
            description: "Upper limit of the proportion x/n (0-1 scale): Wilson score interval \
                without continuity correction (Wilson 1927), PHEindicatormethods::phe_proportion. \
                confidence 0.95 or 95, 0.998 or 99.8. NULL if x < 0, n <= 0 or x > n.",
        },
        FunctionDoc {
            name: "rate_lower",
            kind: Scalar,
            signature: "rate_lower(x, n, confidence, multiplier) -> DOUBLE",
            description: "Lower limit of the crude rate x/n * multiplier: exact Poisson \
                (Garwood 1936) for x < 10, Byar's approximation (Breslow & Day 1987) for x >= 10, \
                PHEindicatormethods::phe_rate. NULL if x < 0, n <= 0 or multiplier = 0.",
        },
        FunctionDoc {
            name: "rate_upper",
            kind: Scalar,
            signature: "rate_upper(x, n, confidence, multiplier) -> DOUBLE",
            description: "Upper limit of the crude rate x/n * multiplier: exact Poisson \
                (Garwood 1936) for x < 10, Byar's approximation (Breslow & Day 1987) for x >= 10, \
                PHEindicatormethods::phe_rate. NULL if x < 0, n <= 0 or multiplier = 0.",
        },
        FunctionDoc {
            name: "rate_lower_exact",
            kind: Scalar,
            signature: "rate_lower_exact(x, n, confidence, multiplier) -> DOUBLE",
            description: "Lower limit of the crude rate x/n * multiplier: exact Poisson \
                (Garwood 1936, as PHEindicatormethods::phe_rate below 10 events) at every count, \
                the rule of Fingertips' published crude rates (use it to reconcile with \
                Fingertips digit for digit). NULL if x < 0, n <= 0 or multiplier = 0.",
        },
        FunctionDoc {
            name: "rate_upper_exact",
            kind: Scalar,
            signature: "rate_upper_exact(x, n, confidence, multiplier) -> DOUBLE",
            description: "Upper limit of the crude rate x/n * multiplier: exact Poisson \
                (Garwood 1936, as PHEindicatormethods::phe_rate below 10 events) at every count, \
                the rule of Fingertips' published crude rates. NULL if x < 0, n <= 0 or \
                multiplier = 0.",
        },
        FunctionDoc {
            name: "dsr_value",
            kind: Aggregate,
            signature: "dsr_value(x, n, stdpop, multiplier) -> DOUBLE",
            description: "Directly standardised rate over the group's rows (one row per age \
                band: events x, population n, standard population weight stdpop, e.g. ESP2013) \
                * multiplier, PHEindicatormethods::calculate_dsr. NULL when the total count is \
                below 10; a NULL x counts as 0.",
        },
        FunctionDoc {
            name: "dsr_lower",
            kind: Aggregate,
            signature: "dsr_lower(x, n, stdpop, confidence, multiplier) -> DOUBLE",
            description: "Lower limit of the directly standardised rate by the Dobson method \
                (Dobson et al. 1991, Byar's limits of the total count), \
                PHEindicatormethods::calculate_dsr. NULL when the total count is below 10.",
        },
        FunctionDoc {
            name: "dsr_upper",
            kind: Aggregate,
            signature: "dsr_upper(x, n, stdpop, confidence, multiplier) -> DOUBLE",
            description: "Upper limit of the directly standardised rate by the Dobson method \
                (Dobson et al. 1991, Byar's limits of the total count), \
                PHEindicatormethods::calculate_dsr. NULL when the total count is below 10.",
        },
        FunctionDoc {
            name: "sii",
            kind: Aggregate,
            signature: "sii(quantile, population, value) -> DOUBLE",
            description: "Slope index of inequality over the group's rows (one row per \
                deprivation quantile, 1 = most deprived; 5 to 100 quantiles): weighted \
                least-squares slope of value on the population's cumulative rank midpoint \
                (Low & Low 2004), PHEindicatormethods::phe_sii point estimate (value_type 0, \
                no transform, multiplier 1).",
        },
        FunctionDoc {
            name: "rii",
            kind: Aggregate,
            signature: "rii(quantile, population, value) -> DOUBLE",
            description: "Relative index of inequality over the group's rows (one row per \
                deprivation quantile, 1 = most deprived; 5 to 100 quantiles): (intercept + \
                slope) / intercept of the same fit (Low & Low 2004), PHEindicatormethods::phe_sii \
                point estimate (value_type 0, no transform, multiplier 1).",
        },
        FunctionDoc {
            name: "nhs_ethnic_group",
            kind: Scalar,
            signature: "nhs_ethnic_group(ethnic_category) -> VARCHAR",
            description: "Census 2021 high-level ethnic group of an NHS Data Dictionary ETHNIC \
                CATEGORY code (2001 Census categories): A-C White, D-G Mixed, H-L and R \
                (Chinese, in Census 2021's Asian group) Asian, M-P Black, S Other; anything \
                else, NULL included (Z not stated, 99 not known), 'Not stated'. The groups of \
                the ethnic_group breakdown, whose denominators are Census 2021 TS021.",
        },
    ]
}

/// Registers every function of [`catalogue`] on `ctx` (replacing any of the same name).
pub fn register_all(ctx: &SessionContext) {
    for f in scalar_functions() {
        ctx.register_udf(f);
    }
    for f in aggregate_functions() {
        ctx.register_udaf(f);
    }
}

/// Marmot's scalar functions (also what a Ballista scheduler and executor must know).
pub fn scalar_functions() -> Vec<datafusion::logical_expr::ScalarUDF> {
    vec![
        scalar("wilson_lower", 3, |a| wilson(a).map(|i| i.lower)),
        scalar("wilson_upper", 3, |a| wilson(a).map(|i| i.upper)),
        scalar("rate_lower", 4, |a| {
            rate(a, PoissonRule::Phe).map(|i| i.lower)
        }),
        scalar("rate_upper", 4, |a| {
            rate(a, PoissonRule::Phe).map(|i| i.upper)
        }),
        scalar("rate_lower_exact", 4, |a| {
            rate(a, PoissonRule::Fingertips).map(|i| i.lower)
        }),
        scalar("rate_upper_exact", 4, |a| {
            rate(a, PoissonRule::Fingertips).map(|i| i.upper)
        }),
        text_scalar("nhs_ethnic_group", marmot_model::nhs_ethnic_group),
    ]
}

/// Marmot's aggregate functions (also what a Ballista scheduler and executor must know).
pub fn aggregate_functions() -> Vec<datafusion::logical_expr::AggregateUDF> {
    vec![
        aggregate("dsr_value", 3, 1, |cols, params| {
            dsr_estimate(cols, params[0]).map(|e| e.value)
        }),
        aggregate("dsr_lower", 3, 2, |cols, params| {
            dsr_limits(cols, params).map(|(lower, _)| lower)
        }),
        aggregate("dsr_upper", 3, 2, |cols, params| {
            dsr_limits(cols, params).map(|(_, upper)| upper)
        }),
        aggregate("sii", 3, 0, |cols, _| sii_point(cols).map(|(s, _)| s)),
        aggregate("rii", 3, 0, |cols, _| sii_point(cols).map(|(_, r)| r)),
    ]
}

// ---------------------------------------------------------------------------------------------
// The statistics: each returns None where the result is NULL.

fn level(confidence: f64) -> Option<ConfidenceLevel> {
    ConfidenceLevel::new(confidence).ok()
}

fn wilson(args: &[f64]) -> Option<marmot_stats::Interval> {
    wilson_interval(args[0], args[1], level(args[2])?).ok()
}

fn rate(args: &[f64], rule: PoissonRule) -> Option<marmot_stats::Interval> {
    let level = level(args[2])?;
    crude_rate_by(args[0], args[1], args[3], rule)
        .and_then(|r| r.ci(level))
        .ok()
}

/// The published DSR of the group's bands (columns x, n, stdpop), or None (suppressed/invalid).
fn dsr_estimate(cols: &[Vec<Option<f64>>], multiplier: f64) -> Option<DsrEstimate> {
    let mut bands = Vec::with_capacity(cols[0].len());
    for ((&x, &n), &w) in cols[0].iter().zip(&cols[1]).zip(&cols[2]) {
        bands.push(DsrBand {
            count: x,
            population: n?,
            standard_population: w?,
        });
    }
    dsr(&bands, multiplier).ok()?.estimate().copied()
}

/// Dobson limits (lower, upper); params are (confidence, multiplier).
fn dsr_limits(cols: &[Vec<Option<f64>>], params: &[f64]) -> Option<(f64, f64)> {
    let level = level(params[0])?;
    let ci = dsr_estimate(cols, params[1])?.ci(level).ok()?;
    Some((ci.lower, ci.upper))
}

/// Point estimates (sii, rii) of the group's quantiles (columns quantile, population, value).
fn sii_point(cols: &[Vec<Option<f64>>]) -> Option<(f64, f64)> {
    let mut rows = Vec::with_capacity(cols[0].len());
    for ((&q, &pop), &value) in cols[0].iter().zip(&cols[1]).zip(&cols[2]) {
        let q = q?;
        if !(q >= 0.0 && q <= f64::from(u32::MAX) && q.fract() == 0.0) {
            return None;
        }
        rows.push(SiiQuantile {
            quantile: q as u32,
            population: pop?,
            value: SiiValue::Value(value?),
            // Only the point estimates are returned; they do not depend on the uncertainty.
            uncertainty: SiiUncertainty::StandardError(0.0),
        });
    }
    // marmot-stats always simulates; 1000 (its minimum) draws of 5-100 values with no
    // confidence levels requested costs microseconds, and the point estimates are exact.
    let options = SiiOptions {
        value_type: SiiValueType::Normal,
        transform: false,
        multiplier: 1.0,
        repetitions: 1000,
        confidence: Vec::new(),
        seed: 1,
    };
    let result = sii(&rows, &options).ok()?;
    Some((result.sii, result.rii))
}

// ---------------------------------------------------------------------------------------------
// Scalar adapter.

/// A Float64 scalar UDF of `arity` arguments; `f` gets the non-NULL arguments of one row.
fn scalar(
    name: &str,
    arity: usize,
    f: fn(&[f64]) -> Option<f64>,
) -> datafusion::logical_expr::ScalarUDF {
    let eval = move |row: &[f64]| f(row).filter(|v| v.is_finite());
    create_udf(
        name,
        vec![DataType::Float64; arity],
        DataType::Float64,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let scalars: Option<Vec<&ScalarValue>> = args
                .iter()
                .map(|a| match a {
                    ColumnarValue::Scalar(s) => Some(s),
                    ColumnarValue::Array(_) => None,
                })
                .collect();
            if let Some(scalars) = scalars {
                let mut row = Vec::with_capacity(scalars.len());
                for s in scalars {
                    match scalar_f64(s)? {
                        Some(v) => row.push(v),
                        None => return Ok(ColumnarValue::Scalar(ScalarValue::Float64(None))),
                    }
                }
                return Ok(ColumnarValue::Scalar(ScalarValue::Float64(eval(&row))));
            }
            let arrays = ColumnarValue::values_to_arrays(args)?
                .iter()
                .map(to_f64_array)
                .collect::<DfResult<Vec<_>>>()?;
            let columns = arrays
                .iter()
                .map(|a| as_float64_array(a.as_ref()))
                .collect::<DfResult<Vec<_>>>()?;
            let len = columns.first().map_or(0, |c| c.len());
            let mut row = vec![0.0; columns.len()];
            let out: Float64Array = (0..len)
                .map(|i| {
                    for (slot, col) in row.iter_mut().zip(&columns) {
                        if col.is_null(i) {
                            return None;
                        }
                        *slot = col.value(i);
                    }
                    eval(&row)
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

/// A one-argument text UDF that never returns NULL: `f` gets each row's value (None for NULL).
/// Any string type (Utf8, LargeUtf8, Utf8View) is read; the result is Utf8.
fn text_scalar(
    name: &str,
    f: fn(Option<&str>) -> &'static str,
) -> datafusion::logical_expr::ScalarUDF {
    create_udf(
        name,
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let [arg] = args else {
                return datafusion::common::exec_err!("expected one argument, got {}", args.len());
            };
            match arg {
                ColumnarValue::Scalar(s) => {
                    let text = match s.cast_to(&DataType::Utf8)? {
                        ScalarValue::Utf8(v) => v,
                        other => {
                            return datafusion::common::internal_err!(
                                "expected Utf8, got {other:?}"
                            );
                        }
                    };
                    Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                        f(text.as_deref()).to_string(),
                    ))))
                }
                ColumnarValue::Array(a) => {
                    let a = cast(a, &DataType::Utf8)?;
                    let strings = datafusion::common::cast::as_string_array(&a)?;
                    let out: StringArray = strings.iter().map(|v| Some(f(v))).collect();
                    Ok(ColumnarValue::Array(Arc::new(out)))
                }
            }
        }),
    )
}

fn scalar_f64(s: &ScalarValue) -> DfResult<Option<f64>> {
    match s.cast_to(&DataType::Float64)? {
        ScalarValue::Float64(v) => Ok(v),
        other => datafusion::common::internal_err!("expected Float64, got {other:?}"),
    }
}

fn to_f64_array(a: &ArrayRef) -> DfResult<ArrayRef> {
    if a.data_type() == &DataType::Float64 {
        Ok(Arc::clone(a))
    } else {
        Ok(cast(a, &DataType::Float64)?)
    }
}

// ---------------------------------------------------------------------------------------------
// Aggregate adapter.

type Finish = fn(&[Vec<Option<f64>>], &[f64]) -> Option<f64>;

/// A Float64 aggregate UDF over `data` per-row columns (collected, NULLs kept) followed by
/// `params` arguments that must be non-NULL and constant within a group.
fn aggregate(
    name: &str,
    data: usize,
    params: usize,
    finish: Finish,
) -> datafusion::logical_expr::AggregateUDF {
    let list = DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)));
    let mut state = vec![list; data];
    state.extend(vec![DataType::Float64; params]);
    state.push(DataType::Boolean);
    let factory: AccumulatorFactoryFunction = Arc::new(move |_| {
        Ok(Box::new(RowsAccumulator {
            columns: vec![Vec::new(); data],
            params: vec![None; params],
            invalid: false,
            finish,
        }))
    });
    create_udaf(
        name,
        vec![DataType::Float64; data + params],
        Arc::new(DataType::Float64),
        Volatility::Immutable,
        factory,
        Arc::new(state),
    )
}

/// Collects a group's rows, then hands them to a marmot-stats function.
///
/// State: one `List<Float64>` per data column, one `Float64` per parameter (NULL = not seen
/// yet), and a `Boolean` set when a parameter was NULL or varied within the group.
struct RowsAccumulator {
    columns: Vec<Vec<Option<f64>>>,
    params: Vec<Option<f64>>,
    invalid: bool,
    finish: Finish,
}

impl Debug for RowsAccumulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowsAccumulator")
            .field("rows", &self.columns.first().map_or(0, Vec::len))
            .field("params", &self.params)
            .field("invalid", &self.invalid)
            .finish()
    }
}

impl RowsAccumulator {
    /// Records one parameter value; `None` (NULL) or a value differing from the group's
    /// first makes the group invalid.
    fn see_param(&mut self, index: usize, value: Option<f64>) {
        match (value, self.params[index]) {
            (None, _) => self.invalid = true,
            (Some(v), None) => self.params[index] = Some(v),
            (Some(v), Some(seen)) => {
                if v != seen {
                    self.invalid = true;
                }
            }
        }
    }
}

impl Accumulator for RowsAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        let arrays = values
            .iter()
            .map(to_f64_array)
            .collect::<DfResult<Vec<_>>>()?;
        let data = self.columns.len();
        for (column, array) in self.columns.iter_mut().zip(&arrays[..data]) {
            column.extend(as_float64_array(array.as_ref())?.iter());
        }
        for (index, array) in arrays[data..].iter().enumerate() {
            let array = as_float64_array(array.as_ref())?;
            if array.null_count() > 0 {
                self.invalid = true;
            }
            for v in array.iter().flatten() {
                self.see_param(index, Some(v));
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        if self.invalid {
            return Ok(ScalarValue::Float64(None));
        }
        let params: Option<Vec<f64>> = self.params.iter().copied().collect();
        let value = params
            .and_then(|p| (self.finish)(&self.columns, &p))
            .filter(|v| v.is_finite());
        Ok(ScalarValue::Float64(value))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self
                .columns
                .iter()
                .map(|c| c.capacity() * std::mem::size_of::<Option<f64>>())
                .sum::<usize>()
            + self.params.capacity() * std::mem::size_of::<Option<f64>>()
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        let mut state = Vec::with_capacity(self.columns.len() + self.params.len() + 1);
        for column in &self.columns {
            let list = ListArray::from_iter_primitive::<Float64Type, _, _>(std::iter::once(Some(
                column.iter().copied(),
            )));
            state.push(ScalarValue::List(Arc::new(list)));
        }
        state.extend(self.params.iter().map(|p| ScalarValue::Float64(*p)));
        state.push(ScalarValue::Boolean(Some(self.invalid)));
        Ok(state)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let data = self.columns.len();
        let params = self.params.len();
        let lists = states[..data]
            .iter()
            .map(|s| as_list_array(s.as_ref()))
            .collect::<DfResult<Vec<&ListArray>>>()?;
        let param_states = states[data..data + params]
            .iter()
            .map(|s| as_float64_array(s.as_ref()))
            .collect::<DfResult<Vec<&Float64Array>>>()?;
        let invalid: &BooleanArray = as_boolean_array(states[data + params].as_ref())?;
        for row in 0..invalid.len() {
            if invalid.is_valid(row) && invalid.value(row) {
                self.invalid = true;
            }
            for (column, list) in self.columns.iter_mut().zip(&lists) {
                if list.is_valid(row) {
                    let values = list.value(row);
                    column.extend(as_float64_array(values.as_ref())?.iter());
                }
            }
            // A NULL parameter in a partial state means "no row seen" (a NULL argument sets
            // the invalid flag instead), so it is skipped here.
            for (index, array) in param_states.iter().enumerate() {
                if array.is_valid(row) {
                    self.see_param(index, Some(array.value(row)));
                }
            }
        }
        Ok(())
    }
}
