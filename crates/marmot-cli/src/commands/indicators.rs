//! `marmot indicators`, `marmot indicator`, `marmot inequalities` and `marmot cube`.

use std::collections::BTreeMap;

use marmot_engine::indicators::{self as ind_api, Reference, ValuesRequest};
use marmot_lake::{Lake, LakeError};
use marmot_model::{Breakdown, IndicatorDef, Level};

use crate::error::{CliError, CliResult, Exit};
use crate::settings::{Ctx, open_engine};
use crate::ui::{Bar, SqlFormat, print_batches};

#[derive(clap::Args)]
pub struct CatalogueArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: SqlFormat,
    /// Show one indicator in full, with the SQL behind it.
    #[arg(long)]
    show: Option<String>,
}

#[derive(clap::Args)]
pub struct ValuesArgs {
    /// Indicator id (see `marmot indicators`).
    id: String,
    /// Level: lsoa, ward, neighbourhood, locality or place; sub_icb for indicators over data
    /// published by NHS sub-ICB location (gp_appointments_*).
    #[arg(long, default_value = "place")]
    level: String,
    #[command(flatten)]
    periods: PeriodArgs,
    /// Breakdown: imd_quintile, imd_decile, local_imd_quintile, sex or age_band.
    #[arg(long)]
    by: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: SqlFormat,
    /// Compute live even when the indicator cube holds the answer.
    #[arg(long)]
    live: bool,
}

#[derive(clap::Args)]
pub struct InequalitiesArgs {
    /// Indicator id.
    id: String,
    /// Level of the areas measured (place, locality, neighbourhood...).
    #[arg(long, default_value = "place")]
    level: String,
    #[command(flatten)]
    periods: PeriodArgs,
    /// Quantiles: imd_quintile, imd_decile or local_imd_quintile.
    #[arg(long, default_value = "imd_quintile")]
    by: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: SqlFormat,
}

/// Which periods to compute.
#[derive(clap::Args, Clone)]
pub struct PeriodArgs {
    /// A period: 2020-W42, 2020-04, 2020-Q2, FY2020/21 or R12-2020-06 (repeatable).
    #[arg(long)]
    period: Vec<String>,
    /// A series instead: every period of this grain (week, month, quarter, financial_year,
    /// rolling12) between --from and --to.
    #[arg(long)]
    trend: Option<String>,
    /// First day of the series (YYYY-MM-DD).
    #[arg(long, requires = "trend")]
    from: Option<chrono::NaiveDate>,
    /// Last day of the series (YYYY-MM-DD).
    #[arg(long, requires = "trend")]
    to: Option<chrono::NaiveDate>,
}

impl PeriodArgs {
    fn periods(&self) -> CliResult<Vec<marmot_model::Period>> {
        let mut out: Vec<marmot_model::Period> = self
            .period
            .iter()
            .map(|p| marmot_model::Period::parse(p))
            .collect::<Result<_, _>>()?;
        if let Some(grain) = &self.trend {
            let kind = marmot_model::PeriodKind::parse(grain)?;
            let (Some(from), Some(to)) = (self.from, self.to) else {
                return Err(CliError::usage("--trend needs --from and --to"));
            };
            out.extend(marmot_model::Period::series(kind, from, to));
        }
        if out.is_empty() {
            return Err(CliError::usage(
                "give --period (e.g. --period 2020-Q2) or --trend GRAIN --from DATE --to DATE",
            ));
        }
        Ok(out)
    }
}

/// `marmot indicators`: the catalogue, or one definition in full. Needs no lake.
pub fn catalogue(ctx: &Ctx, args: CatalogueArgs) -> CliResult {
    let all = marmot_engine::load_indicators(ctx.queries())?;
    if let Some(id) = args.show {
        let ind = find_indicator(&all, &id)?;
        println!("{} ({})\n\n{}\n", ind.title, ind.id, ind.definition);
        println!(
            "source: {}; measure: {} x {}; polarity: {:?}; grain: {}; disclosure threshold: {}",
            ind.source,
            ind.measure.name(),
            ind.multiplier,
            ind.polarity,
            ind.grain.name(),
            ind.disclosure_threshold
        );
        println!(
            "breakdowns: {}",
            ind.breakdowns
                .iter()
                .map(|b| b.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!("\n{}", ind.sql);
        return Ok(Exit::Ok);
    }
    print_batches(&[catalogue_batch(&all)?], args.format)?;
    Ok(Exit::Ok)
}

/// `marmot indicator`: values from the cube, or live.
pub async fn values(ctx: &Ctx, args: ValuesArgs) -> CliResult {
    let all = marmot_engine::load_indicators(ctx.queries())?;
    let ind = find_indicator(&all, &args.id)?;
    let level = Level::parse(&args.level)?;
    let by = args.by.as_deref().map(Breakdown::parse).transpose()?;
    let periods = args.periods.periods()?;
    let lake = ctx.open_lake().await?;
    let engine = open_engine(&lake, &BTreeMap::new()).await?;
    if let Some(why) = marmot_engine::area::level_problem(&engine, ind, level) {
        return Err(CliError::usage(why));
    }
    let req = ValuesRequest { level, periods, by };
    let cached = if args.live {
        None
    } else {
        marmot_engine::cube::lookup(&engine, ind, &req).await?
    };
    let rows = match cached {
        Some(rows) => rows,
        None => {
            let reference = Reference::load(&engine).await?;
            ind_api::values(&engine, &reference, ind, &req).await?
        }
    };
    let batch = ind_api::to_batch(&rows, by, &ind_api::data_version(&engine, ind))?;
    print_batches(&[batch], args.format)?;
    Ok(Exit::Ok)
}

/// `marmot inequalities`: values by deprivation quantile, SII, RII and gaps.
pub async fn inequalities(ctx: &Ctx, args: InequalitiesArgs) -> CliResult {
    let all = marmot_engine::load_indicators(ctx.queries())?;
    let ind = find_indicator(&all, &args.id)?;
    let level = Level::parse(&args.level)?;
    let by = Breakdown::parse(&args.by)?;
    let periods = args.periods.periods()?;
    let lake = ctx.open_lake().await?;
    let engine = open_engine(&lake, &BTreeMap::new()).await?;
    let reference = Reference::load(&engine).await?;
    let rows =
        marmot_engine::inequalities::inequalities(&engine, &reference, ind, level, &periods, by)
            .await?;
    let batch = marmot_engine::inequalities::to_batch(
        ind,
        level,
        by,
        &rows,
        &ind_api::data_version(&engine, ind),
    )?;
    print_batches(&[batch], args.format)?;
    Ok(Exit::Ok)
}

/// `marmot cube`: rebuild the indicator cube where its data or definition changed.
pub async fn cube(ctx: &Ctx) -> CliResult {
    let lake = ctx.open_lake().await?;
    let report = refresh_cube(&lake, ctx.queries(), &Bar::new()).await?;
    for (id, n) in &report.computed {
        println!("  {id:<40} {n:>9} rows");
    }
    println!(
        "indicator cube: {} recomputed, {} unchanged{}",
        report.computed.len(),
        report.unchanged.len(),
        report
            .version
            .map(|v| format!(" (version {v})"))
            .unwrap_or_default()
    );
    if !report.computed.is_empty() {
        println!(
            "time by phase (summed over indicators, two computed at once): {}",
            report.phases
        );
    }
    Ok(Exit::Ok)
}

/// Refreshes the cube on the engine the flags chose.
pub async fn refresh_cube(
    lake: &Lake,
    queries: Option<&std::path::Path>,
    bar: &Bar,
) -> CliResult<marmot_engine::cube::CubeReport> {
    let indicators = marmot_engine::load_indicators(queries)?;
    let engine = open_engine(lake, &BTreeMap::new()).await?;
    Ok(marmot_engine::cube::refresh(&engine, lake, &indicators, bar).await?)
}

fn find_indicator<'a>(all: &'a [IndicatorDef], id: &str) -> CliResult<&'a IndicatorDef> {
    all.iter().find(|i| i.id == id).ok_or_else(|| {
        LakeError::Config(format!(
            "unknown indicator '{id}' (see `marmot indicators`; known: {})",
            all.iter()
                .map(|i| i.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()
    })
}

fn catalogue_batch(all: &[IndicatorDef]) -> CliResult<arrow::record_batch::RecordBatch> {
    use arrow::array::{ArrayRef, Float64Array, StringArray};
    use std::sync::Arc;
    let s = |f: &dyn Fn(&IndicatorDef) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(all.iter().map(f)))
    };
    Ok(arrow::record_batch::RecordBatch::try_from_iter(vec![
        ("id", s(&|i| i.id.clone())),
        ("title", s(&|i| i.title.clone())),
        ("source", s(&|i| i.source.clone())),
        ("measure", s(&|i| i.measure.name().to_string())),
        (
            "multiplier",
            Arc::new(Float64Array::from_iter_values(
                all.iter().map(|i| i.multiplier),
            )) as ArrayRef,
        ),
        ("polarity", s(&|i| format!("{:?}", i.polarity))),
        ("grain", s(&|i| i.grain.name().to_string())),
        (
            "breakdowns",
            s(&|i| {
                i.breakdowns
                    .iter()
                    .map(|b| b.name())
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
        ),
        ("definition", s(&|i| i.definition.clone())),
    ])?)
}
