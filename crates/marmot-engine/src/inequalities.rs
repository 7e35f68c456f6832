//! Inequality measures of an indicator across deprivation quantiles, for each area and period:
//! the quantile values (with their intervals), the slope index of inequality (SII) and relative
//! index of inequality (RII) with 95% and 99.8% intervals by the PHE simulation method
//! (PHEindicatormethods::phe_sii; Low & Low 2004), and the absolute and relative gap between
//! the most and least deprived quantiles.
//!
//! Rates (crude and directly standardised) use value type "rate" (standard errors from the
//! intervals on the log scale), proportions value type "proportion" (logit scale), as PHE does;
//! no transformation of the fit. Quantile 1 is the most deprived.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use marmot_model::{Breakdown, IndicatorDef, Level, Measure, Period};
use marmot_stats::{SiiOptions, SiiQuantile, SiiUncertainty, SiiValue, SiiValueType, sii};

use crate::indicators::{Reference, ValueRow, ValuesRequest, values};
use crate::{Engine, EngineError};

/// A point estimate with its 95% and 99.8% intervals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The estimate.
    pub value: f64,
    /// (lower, upper) at 95%.
    pub ci95: (f64, f64),
    /// (lower, upper) at 99.8%.
    pub ci99_8: (f64, f64),
}

/// Inequality measures of one area in one period.
#[derive(Debug, Clone, PartialEq)]
pub struct InequalityRow {
    /// Area code.
    pub area_code: String,
    /// Area name.
    pub area_name: String,
    /// Period label.
    pub period: String,
    /// Quantile values, most deprived first (None where not published).
    pub quantile_values: Vec<Option<f64>>,
    /// SII, with (lower, upper) at 95% and 99.8%.
    pub sii: Option<Estimate>,
    /// RII, with (lower, upper) at 95% and 99.8%.
    pub rii: Option<Estimate>,
    /// Most minus least deprived quantile.
    pub gap_absolute: Option<f64>,
    /// Most over least deprived quantile.
    pub gap_relative: Option<f64>,
    /// How it was computed, or why not.
    pub method: String,
}

/// Computes inequality measures for an indicator by a deprivation breakdown.
pub async fn inequalities(
    engine: &Engine,
    reference: &Reference,
    ind: &IndicatorDef,
    level: Level,
    periods: &[Period],
    by: Breakdown,
) -> Result<Vec<InequalityRow>, EngineError> {
    if !by.is_deprivation() {
        return Err(EngineError::Query(format!(
            "inequalities are measured across deprivation quantiles, not by {}",
            by.name()
        )));
    }
    let rows = values(
        engine,
        reference,
        ind,
        &ValuesRequest {
            level,
            periods: periods.to_vec(),
            by: Some(by),
        },
    )
    .await?;
    let mut groups: BTreeMap<(String, String), Vec<&ValueRow>> = BTreeMap::new();
    for r in &rows {
        groups
            .entry((r.period.clone(), r.area_code.clone()))
            .or_default()
            .push(r);
    }
    let mut out = Vec::new();
    for ((period, code), mut qs) in groups {
        qs.sort_by_key(|r| r.category.parse::<u32>().unwrap_or(0));
        let name = qs.first().map(|r| r.area_name.clone()).unwrap_or_default();
        let vals: Vec<Option<f64>> = qs.iter().map(|r| r.value).collect();
        let (first, last) = (
            vals.first().copied().flatten(),
            vals.last().copied().flatten(),
        );
        let mut row = InequalityRow {
            area_code: code,
            area_name: name,
            period,
            quantile_values: vals.clone(),
            sii: None,
            rii: None,
            gap_absolute: first.zip(last).map(|(a, b)| a - b),
            gap_relative: first
                .zip(last)
                .filter(|(_, b)| *b != 0.0)
                .map(|(a, b)| a / b),
            method: String::new(),
        };
        let (value_type, scale) = match ind.measure {
            Measure::Proportion => (SiiValueType::Proportion, ind.multiplier),
            _ => (SiiValueType::Rate, 1.0),
        };
        let input: Option<Vec<SiiQuantile>> = qs
            .iter()
            .map(|r| {
                let v = r.value?;
                let (lo, hi) = r.ci95?;
                // Log and logit scales need limits strictly inside the range.
                let ok = lo > 0.0 && (value_type != SiiValueType::Proportion || hi / scale < 1.0);
                ok.then(|| SiiQuantile {
                    quantile: r.category.parse().unwrap_or(0),
                    population: r.denominator,
                    value: SiiValue::Value(v / scale),
                    uncertainty: SiiUncertainty::ConfidenceLimits {
                        lower: lo / scale,
                        upper: hi / scale,
                    },
                })
            })
            .collect();
        match input {
            None => {
                row.method =
                    "SII not computed: a quantile has no published value or a zero lower limit"
                        .into()
            }
            Some(input) => {
                let opts = SiiOptions {
                    value_type,
                    multiplier: scale,
                    ..SiiOptions::default()
                };
                match sii(&input, &opts) {
                    Ok(s) => {
                        let ci = |k: usize,
                                  f: &dyn Fn(
                            &marmot_stats::SiiInterval,
                        ) -> marmot_stats::Interval| {
                            s.intervals
                                .get(k)
                                .map(|i| (f(i).lower, f(i).upper))
                                .unwrap_or((f64::NAN, f64::NAN))
                        };
                        row.sii = Some(Estimate {
                            value: s.sii,
                            ci95: ci(0, &|i| i.sii),
                            ci99_8: ci(1, &|i| i.sii),
                        });
                        row.rii = Some(Estimate {
                            value: s.rii,
                            ci95: ci(0, &|i| i.rii),
                            ci99_8: ci(1, &|i| i.rii),
                        });
                        row.method = format!(
                            "SII/RII by the PHE method (value type {}, {} simulations), quantile 1 = most deprived",
                            value_type.label(),
                            opts.repetitions
                        );
                    }
                    Err(e) => row.method = format!("SII not computed: {e}"),
                }
            }
        }
        out.push(row);
    }
    Ok(out)
}

/// The rows as an Arrow batch: area, period, `q1..qN`, `sii` and `rii` with their limits, gaps.
pub fn to_batch(
    ind: &IndicatorDef,
    level: Level,
    by: Breakdown,
    rows: &[InequalityRow],
    data_version: &str,
) -> Result<RecordBatch, EngineError> {
    let n = by.quantiles().unwrap_or(5);
    let s = |f: &dyn Fn(&InequalityRow) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let o = |f: &dyn Fn(&InequalityRow) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from_iter(rows.iter().map(f)))
    };
    let mut fields = vec![
        Field::new("indicator_id", DataType::Utf8, false),
        Field::new("level", DataType::Utf8, false),
        Field::new("area_code", DataType::Utf8, false),
        Field::new("area_name", DataType::Utf8, false),
        Field::new("period", DataType::Utf8, false),
        Field::new("quantiles", DataType::Utf8, false),
    ];
    let mut cols = vec![
        s(&|_| ind.id.clone()),
        s(&|_| level.name().to_string()),
        s(&|r| r.area_code.clone()),
        s(&|r| r.area_name.clone()),
        s(&|r| r.period.clone()),
        s(&|_| by.name().to_string()),
    ];
    for q in 0..n {
        fields.push(Field::new(format!("q{}", q + 1), DataType::Float64, true));
        cols.push(o(&|r| r.quantile_values.get(q).copied().flatten()));
    }
    type Pick = fn(&Estimate) -> f64;
    let picks: [(&str, Pick); 5] = [
        ("", |x| x.value),
        ("_lower_95", |x| x.ci95.0),
        ("_upper_95", |x| x.ci95.1),
        ("_lower_99_8", |x| x.ci99_8.0),
        ("_upper_99_8", |x| x.ci99_8.1),
    ];
    type Get = fn(&InequalityRow) -> Option<Estimate>;
    let measures: [(&str, Get); 2] = [("sii", |r| r.sii), ("rii", |r| r.rii)];
    for (measure, get) in measures {
        for (suffix, pick) in picks {
            fields.push(Field::new(
                format!("{measure}{suffix}"),
                DataType::Float64,
                true,
            ));
            cols.push(o(&|r| get(r).map(|x| pick(&x))));
        }
    }
    fields.push(Field::new("gap_absolute", DataType::Float64, true));
    cols.push(o(&|r| r.gap_absolute));
    fields.push(Field::new("gap_relative", DataType::Float64, true));
    cols.push(o(&|r| r.gap_relative));
    fields.push(Field::new("method", DataType::Utf8, false));
    cols.push(s(&|r| r.method.clone()));
    fields.push(Field::new("data_version", DataType::Utf8, false));
    cols.push(s(&|_| data_version.to_string()));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
        .map_err(|e| EngineError::Execution(e.to_string()))
}
