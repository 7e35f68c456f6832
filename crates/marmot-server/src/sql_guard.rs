//! The minimum-group guard of ad-hoc SQL: a partner dataset reaches a caller only as groups of
//! at least K of its records, whatever the SQL.
//!
//! The guard rewrites the logical plan before it runs (pure: a plan in, a plan out):
//!
//! 1. Every scan of a partner dataset gets a hidden record number (`__marmot_rid_N`, unique per
//!    row of this query) and, for aggregate datasets with a `count` column, a hidden copy of
//!    the count (`__marmot_w_N`). Both are carried through filters, projections, aliases,
//!    sorts, limits and joins.
//! 2. Every aggregate whose input still holds row-level partner data (`GROUP BY`, `GROUP BY
//!    ALL`, `DISTINCT`, which is an aggregate over every column, and aggregates without
//!    `GROUP BY`) gains `count(DISTINCT __marmot_rid_N)` (and `sum(__marmot_w_N)`) for each
//!    partner dataset that feeds it, and a filter that keeps a group only when each is at least
//!    K. The count is of distinct records, so a join that repeats a record (a one-to-many join
//!    to a reference table, a self-join) cannot make one record look like K. Groups dropped are
//!    counted and reported to the caller.
//! 3. Above such an aggregate the data are groups of at least K and anything may follow
//!    (joins of aggregates, `UNION` of aggregates, window functions over aggregates, `HAVING`).
//!    Row-level partner data anywhere else is refused: at the top of the query, in a window
//!    function, a `UNION`, a `DISTINCT ON`, a grouping set (`ROLLUP`, `CUBE`), a subquery used as
//!    a value, or any other operator.
//! 4. Over row-level partner data only aggregates that summarise a group are allowed: `count`,
//!    `sum`, `avg`, variance and standard deviation, and Marmot's statistical aggregates.
//!    `min`, `max`, `median`, percentiles, `array_agg`, `string_agg`, `first_value` and the like
//!    hand back one record's value and are refused.
//!
//! What it does not stop: an analyst running two queries whose difference isolates a record
//! (a tracker attack with different `WHERE` clauses). Ad-hoc SQL is for the analyst role only,
//! and every query is in the audit log.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use arrow::array::{Array, ArrayRef, BooleanArray, UInt64Array};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, DataFusionError, Result as DfResult};
use datafusion::functions_aggregate::expr_fn::{count_distinct, sum};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    Aggregate, ColumnarValue, Distinct, Expr, Filter, LogicalPlan, Projection, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility, lit,
};

/// The lowest minimum group size the server accepts.
pub const MIN_THRESHOLD: u64 = 3;

/// Why a query was refused.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// Row-level partner data would reach the caller.
    #[error(
        "row-level partner data ({tables}) is not served: aggregate it (GROUP BY, count(*), sum(...)); groups of fewer than {threshold} records are withheld"
    )]
    RowLevel {
        /// The datasets.
        tables: String,
        /// K.
        threshold: u64,
    },
    /// An aggregate that hands back one record's value.
    #[error(
        "{function}() over row-level partner data ({tables}) hands back one record's value: use count, sum, avg, stddev or variance"
    )]
    Function {
        /// The function.
        function: String,
        /// The datasets.
        tables: String,
    },
    /// An operator that cannot be applied to row-level partner data.
    #[error(
        "{what} over row-level partner data ({tables}) is not allowed: aggregate each dataset first (GROUP BY), then combine the results"
    )]
    Shape {
        /// The operator.
        what: String,
        /// The datasets.
        tables: String,
    },
    /// The rewritten plan did not build (a DataFusion error).
    #[error("{0}")]
    Plan(#[from] DataFusionError),
}

/// A partner dataset as the guard sees it.
#[derive(Debug, Clone, Default)]
pub struct PartnerTable {
    /// Its count column, for aggregate datasets (a row stands for that many records).
    pub count_column: Option<String>,
}

/// A guarded plan and the counter of groups it withholds while it runs.
#[derive(Debug)]
pub struct Guarded {
    /// The plan to run.
    pub plan: LogicalPlan,
    /// Groups withheld so far (read after the query has run).
    pub withheld: Arc<AtomicUsize>,
}

/// Rewrites `plan` so that partner datasets (`partner`, by table name) reach the caller only as
/// groups of at least `threshold` records, or refuses it.
pub fn guard(
    plan: LogicalPlan,
    partner: &HashMap<String, PartnerTable>,
    threshold: u64,
) -> Result<Guarded, GuardError> {
    let withheld = Arc::new(AtomicUsize::new(0));
    let mut g = Guard {
        partner,
        threshold: threshold.max(MIN_THRESHOLD),
        next: 0,
        rid: Arc::new(ScalarUDF::new_from_impl(RecordNumber::default())),
        keep: Arc::new(ScalarUDF::new_from_impl(KeepGroup {
            withheld: Arc::clone(&withheld),
            signature: Signature::variadic_any(Volatility::Volatile),
        })),
    };
    let (plan, taint) = g.visit(plan)?;
    if !taint.is_clean() {
        return Err(GuardError::RowLevel {
            tables: taint.tables(),
            threshold: g.threshold,
        });
    }
    Ok(Guarded { plan, withheld })
}

/// The hidden columns that carry row-level partner data through a plan.
#[derive(Debug, Default, Clone)]
struct Taint {
    /// (dataset, record-number column).
    rids: Vec<(String, String)>,
    /// Count columns of aggregate datasets.
    weights: Vec<String>,
    /// A join has been applied to the rows.
    joined: bool,
}

impl Taint {
    fn is_clean(&self) -> bool {
        self.rids.is_empty()
    }

    fn tables(&self) -> String {
        let mut t: Vec<&str> = self.rids.iter().map(|(t, _)| t.as_str()).collect();
        t.sort_unstable();
        t.dedup();
        t.join(", ")
    }

    fn hidden(&self) -> impl Iterator<Item = &str> {
        self.rids
            .iter()
            .map(|(_, c)| c.as_str())
            .chain(self.weights.iter().map(String::as_str))
    }

    fn merge(&mut self, other: Taint) {
        self.rids.extend(other.rids);
        self.weights.extend(other.weights);
        self.joined |= other.joined;
    }
}

struct Guard<'a> {
    partner: &'a HashMap<String, PartnerTable>,
    threshold: u64,
    next: usize,
    rid: Arc<ScalarUDF>,
    keep: Arc<ScalarUDF>,
}

/// Aggregates that summarise a group without handing back any one record's value.
const SUMMARY_AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "mean",
    "stddev",
    "stddev_samp",
    "stddev_pop",
    "var",
    "var_samp",
    "var_pop",
    "var_population",
    "var_sample",
    "dsr_value",
    "dsr_lower",
    "dsr_upper",
    "sii",
    "rii",
];

fn column_of(schema: &DFSchema, name: &str) -> DfResult<Expr> {
    let (q, f) = schema.qualified_field_with_unqualified_name(name)?;
    Ok(Expr::Column(Column::new(q.cloned(), f.name())))
}

/// The columns of a schema as column expressions (to restore a node's output exactly).
fn columns(schema: &DFSchema) -> Vec<Expr> {
    schema
        .iter()
        .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
        .collect()
}

impl Guard<'_> {
    fn visit(&mut self, plan: LogicalPlan) -> Result<(LogicalPlan, Taint), GuardError> {
        // Subqueries in expressions (IN, EXISTS, scalar) are plans of their own; their result
        // is used as a value, so it must not be row-level partner data.
        let mut failed = None;
        let plan = plan
            .map_subqueries(|sub| {
                if failed.is_some() {
                    return Ok(Transformed::no(sub));
                }
                match self.visit(sub) {
                    Ok((p, t)) if t.is_clean() => Ok(Transformed::yes(p)),
                    Ok((p, t)) => {
                        failed = Some(GuardError::Shape {
                            what: "a subquery used as a value".into(),
                            tables: t.tables(),
                        });
                        Ok(Transformed::no(p))
                    }
                    Err(e) => {
                        failed = Some(e);
                        Err(DataFusionError::Plan("guard".into()))
                    }
                }
            })
            .map(|t| t.data);
        if let Some(e) = failed {
            return Err(e);
        }
        let plan = plan?;
        match plan {
            LogicalPlan::TableScan(scan) => {
                let name = scan.table_name.table().to_string();
                let Some(table) = self.partner.get(&name).cloned() else {
                    return Ok((LogicalPlan::TableScan(scan), Taint::default()));
                };
                self.next += 1;
                let rid = format!("__marmot_rid_{}", self.next);
                let scan = Arc::new(LogicalPlan::TableScan(scan));
                let mut exprs = columns(scan.schema());
                exprs.push(
                    Expr::ScalarFunction(ScalarFunction::new_udf(Arc::clone(&self.rid), vec![]))
                        .alias(&rid),
                );
                let mut taint = Taint {
                    rids: vec![(name, rid)],
                    ..Taint::default()
                };
                if let Some(c) = &table.count_column {
                    let w = format!("__marmot_w_{}", self.next);
                    exprs.push(column_of(scan.schema(), c)?.alias(&w));
                    taint.weights.push(w);
                }
                let p = Projection::try_new(exprs, scan)?;
                Ok((LogicalPlan::Projection(p), taint))
            }
            LogicalPlan::Aggregate(a) => {
                let (input, taint) = self.visit(Arc::unwrap_or_clone(a.input))?;
                if taint.is_clean() {
                    let a = Aggregate::try_new(Arc::new(input), a.group_expr, a.aggr_expr)?;
                    return Ok((LogicalPlan::Aggregate(a), taint));
                }
                self.protect_aggregate(input, taint, a.group_expr, a.aggr_expr, &a.schema)
            }
            LogicalPlan::Distinct(Distinct::All(input)) => {
                // DISTINCT is a GROUP BY over every column.
                let group = columns(input.schema());
                let a = Aggregate::try_new(input, group, vec![])?;
                self.visit(LogicalPlan::Aggregate(a))
            }
            LogicalPlan::Projection(p) => {
                let (input, taint) = self.visit(Arc::unwrap_or_clone(p.input))?;
                let mut exprs = p.expr;
                for h in taint.hidden() {
                    exprs.push(column_of(input.schema(), h)?);
                }
                let p = Projection::try_new(exprs, Arc::new(input))?;
                Ok((LogicalPlan::Projection(p), taint))
            }
            LogicalPlan::Join(_) => {
                let (plan, mut taint) = self.rebuild(plan)?;
                if !taint.is_clean() {
                    taint.joined = true;
                }
                Ok((plan, taint))
            }
            LogicalPlan::Filter(_)
            | LogicalPlan::Sort(_)
            | LogicalPlan::Limit(_)
            | LogicalPlan::SubqueryAlias(_)
            | LogicalPlan::Repartition(_)
            | LogicalPlan::Subquery(_) => self.rebuild(plan),
            other => {
                let what = match &other {
                    LogicalPlan::Window(_) => "a window function",
                    LogicalPlan::Union(_) => "UNION",
                    LogicalPlan::Distinct(_) => "DISTINCT ON",
                    _ => "this operator",
                };
                let (plan, taint) = self.rebuild(other)?;
                if taint.is_clean() {
                    Ok((plan, taint))
                } else {
                    Err(GuardError::Shape {
                        what: what.into(),
                        tables: taint.tables(),
                    })
                }
            }
        }
    }

    /// Visits a node's inputs and rebuilds it over them (its schema recomputed).
    fn rebuild(&mut self, plan: LogicalPlan) -> Result<(LogicalPlan, Taint), GuardError> {
        let mut taint = Taint::default();
        let mut inputs = Vec::new();
        for input in plan.inputs() {
            let (p, t) = self.visit(input.clone())?;
            taint.merge(t);
            inputs.push(p);
        }
        if inputs.is_empty() {
            return Ok((plan, taint));
        }
        let plan = plan
            .with_new_exprs(plan.expressions(), inputs)?
            .recompute_schema()?;
        Ok((plan, taint))
    }

    /// An aggregate over row-level partner data: only summary functions, no grouping sets,
    /// and a filter that keeps groups of at least K distinct records of every dataset.
    fn protect_aggregate(
        &mut self,
        input: LogicalPlan,
        taint: Taint,
        group_expr: Vec<Expr>,
        aggr_expr: Vec<Expr>,
        schema: &DFSchema,
    ) -> Result<(LogicalPlan, Taint), GuardError> {
        let tables = taint.tables();
        if group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_))) {
            return Err(GuardError::Shape {
                what: "a grouping set (ROLLUP, CUBE, GROUPING SETS)".into(),
                tables,
            });
        }
        if taint.joined && !taint.weights.is_empty() {
            return Err(GuardError::Shape {
                what: "a join of an aggregate dataset's counts".into(),
                tables,
            });
        }
        for e in &aggr_expr {
            let mut bad = None;
            e.apply(|x| {
                if let Expr::AggregateFunction(f) = x {
                    let n = f.func.name().to_ascii_lowercase();
                    if !SUMMARY_AGGREGATES.contains(&n.as_str()) {
                        bad = Some(n);
                    }
                }
                Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
            })?;
            if let Some(function) = bad {
                return Err(GuardError::Function { function, tables });
            }
        }
        let mut extra = Vec::new();
        let mut sizes = vec![lit(self.threshold as i64)];
        for (i, (_, rid)) in taint.rids.iter().enumerate() {
            let name = format!("__marmot_n_{i}");
            extra.push(count_distinct(column_of(input.schema(), rid)?).alias(&name));
            sizes.push(Expr::Column(Column::from_name(name)));
        }
        for (i, w) in taint.weights.iter().enumerate() {
            let name = format!("__marmot_s_{i}");
            extra.push(sum(column_of(input.schema(), w)?).alias(&name));
            sizes.push(Expr::Column(Column::from_name(name)));
        }
        let mut all = aggr_expr;
        all.extend(extra);
        let agg = Aggregate::try_new(Arc::new(input), group_expr, all)?;
        let keep = Expr::ScalarFunction(ScalarFunction::new_udf(Arc::clone(&self.keep), sizes));
        let filter = Filter::try_new(keep, Arc::new(LogicalPlan::Aggregate(agg)))?;
        let back = Projection::try_new(columns(schema), Arc::new(LogicalPlan::Filter(filter)))?;
        Ok((LogicalPlan::Projection(back), Taint::default()))
    }
}

/// `__marmot_rid()`: a number unique to each row of one query (volatile, never folded).
#[derive(Debug)]
struct RecordNumber {
    next: AtomicU64,
    signature: Signature,
}

impl Default for RecordNumber {
    fn default() -> Self {
        RecordNumber {
            next: AtomicU64::new(0),
            signature: Signature::nullary(Volatility::Volatile),
        }
    }
}

impl PartialEq for RecordNumber {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}
impl Eq for RecordNumber {}
impl Hash for RecordNumber {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::ptr::hash(self, state)
    }
}

impl ScalarUDFImpl for RecordNumber {
    fn name(&self) -> &str {
        "__marmot_rid"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::UInt64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let n = args.number_rows as u64;
        let start = self.next.fetch_add(n, Ordering::Relaxed);
        Ok(ColumnarValue::Array(Arc::new(
            UInt64Array::from_iter_values(start..start + n),
        )))
    }
}

/// `__marmot_keep(k, n1, n2, ...)`: true when every size is at least k; counts the groups it
/// drops.
#[derive(Debug)]
struct KeepGroup {
    withheld: Arc<AtomicUsize>,
    signature: Signature,
}

impl PartialEq for KeepGroup {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.withheld, &other.withheld)
    }
}
impl Eq for KeepGroup {}
impl Hash for KeepGroup {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::ptr::hash(Arc::as_ptr(&self.withheld), state)
    }
}

impl ScalarUDFImpl for KeepGroup {
    fn name(&self) -> &str {
        "__marmot_keep"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(args.args.len());
        for a in args.args {
            arrays.push(cast(&a.into_array(rows)?, &DataType::Float64)?);
        }
        let Some((k, sizes)) = arrays.split_first() else {
            return datafusion::common::plan_err!("__marmot_keep needs a threshold");
        };
        let k = k
            .as_any()
            .downcast_ref::<arrow::array::Float64Array>()
            .ok_or_else(|| DataFusionError::Internal("threshold".into()))?;
        let sizes: Vec<&arrow::array::Float64Array> = sizes
            .iter()
            .filter_map(|a| a.as_any().downcast_ref())
            .collect();
        let mut dropped = 0;
        let keep: BooleanArray = (0..rows)
            .map(|i| {
                let kept = sizes
                    .iter()
                    .all(|s| !s.is_null(i) && s.value(i) >= k.value(i));
                if !kept {
                    dropped += 1;
                }
                Some(kept)
            })
            .collect();
        self.withheld.fetch_add(dropped, Ordering::Relaxed);
        Ok(ColumnarValue::Array(Arc::new(keep)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use arrow::record_batch::RecordBatch;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    const K: u64 = 8;
    /// The one record of LSOA E01000001 (age 99): nothing of it may come back.
    const LONE: &str = "E01000001";

    fn table(ctx: &SessionContext, name: &str, cols: Vec<(&str, ArrayRef)>) {
        let schema = Arc::new(Schema::new(
            cols.iter()
                .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        let batch =
            RecordBatch::try_new(schema.clone(), cols.into_iter().map(|c| c.1).collect()).unwrap();
        let t = MemTable::try_new(schema, vec![vec![batch]]).unwrap();
        ctx.register_table(name, Arc::new(t)).unwrap();
    }

    fn strings(v: &[&str]) -> ArrayRef {
        Arc::new(StringArray::from(v.to_vec()))
    }

    /// admissions: one record in E01000001, twenty in E01000002 (ages 30..49, each once);
    /// activity (counts): E01000001 has ten rows counting 0 or 1, E01000002 ten rows of 50;
    /// geography: one row per LSOA; population: twenty rows per LSOA (a one-to-many join).
    fn context() -> (SessionContext, HashMap<String, PartnerTable>) {
        let ctx = SessionContext::new();
        let mut lsoa = vec![LONE];
        lsoa.extend(std::iter::repeat_n("E01000002", 20));
        let mut age = vec![99i64];
        age.extend(30..50);
        let sex: Vec<&str> = (0..21)
            .map(|i| if i % 2 == 0 { "F" } else { "M" })
            .collect();
        table(
            &ctx,
            "admissions",
            vec![
                ("lsoa", strings(&lsoa)),
                ("age", Arc::new(Int64Array::from(age))),
                ("sex", strings(&sex)),
            ],
        );
        let mut alsoa = vec![LONE; 10];
        alsoa.extend(vec!["E01000002"; 10]);
        let mut counts = vec![0i64, 1, 0, 0, 1, 0, 0, 0, 1, 0];
        counts.extend(vec![50; 10]);
        table(
            &ctx,
            "activity",
            vec![
                ("lsoa", strings(&alsoa)),
                ("count", Arc::new(Int64Array::from(counts))),
            ],
        );
        table(
            &ctx,
            "geography",
            vec![
                ("lsoa", strings(&[LONE, "E01000002"])),
                ("ward", strings(&["E05000001", "E05000001"])),
            ],
        );
        let mut plsoa = vec![LONE; 20];
        plsoa.extend(vec!["E01000002"; 20]);
        table(
            &ctx,
            "population",
            vec![
                ("lsoa", strings(&plsoa)),
                ("age", Arc::new(Int64Array::from_iter_values(0..40))),
            ],
        );
        let partner = HashMap::from([
            ("admissions".to_string(), PartnerTable::default()),
            (
                "activity".to_string(),
                PartnerTable {
                    count_column: Some("count".into()),
                },
            ),
        ]);
        (ctx, partner)
    }

    /// Runs a query through the guard: Err(refusal) or Ok((pretty-printed rows, row count,
    /// groups withheld)).
    async fn run(sql: &str) -> Result<(String, usize, usize), GuardError> {
        let (ctx, partner) = context();
        let plan = ctx.sql(sql).await.unwrap().into_parts().1;
        let g = guard(plan, &partner, K)?;
        let batches = ctx
            .execute_logical_plan(g.plan)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let rows = batches.iter().map(RecordBatch::num_rows).sum();
        let text = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        Ok((text, rows, g.withheld.load(Ordering::Relaxed)))
    }

    /// The attack returns nothing of the lone record: refused, or rows without it.
    async fn nothing_of_the_lone_record(sql: &str) -> Option<(String, usize, usize)> {
        match run(sql).await {
            Err(GuardError::Plan(e)) => panic!("{sql}: plan error {e}"),
            Err(_) => None,
            Ok((text, rows, withheld)) => {
                assert!(!text.contains(LONE), "{sql} leaked the lone LSOA:\n{text}");
                assert!(!text.contains("99"), "{sql} leaked the lone age:\n{text}");
                Some((text, rows, withheld))
            }
        }
    }

    #[tokio::test]
    async fn row_level_reads_are_refused() {
        for sql in [
            "SELECT * FROM admissions",
            "SELECT * FROM (SELECT * FROM admissions) t",
            "SELECT lsoa FROM admissions WHERE age > 0 ORDER BY 1 LIMIT 3",
            "SELECT a.lsoa, g.ward FROM admissions a JOIN geography g USING (lsoa)",
        ] {
            assert!(
                matches!(run(sql).await, Err(GuardError::RowLevel { .. })),
                "{sql}"
            );
        }
    }

    #[tokio::test]
    async fn grouping_by_every_column_or_a_unique_expression_withholds_every_small_group() {
        for sql in [
            "SELECT lsoa, age, sex, count(*) FROM admissions GROUP BY ALL",
            "SELECT lsoa, age, sex FROM admissions GROUP BY lsoa, age, sex",
            "SELECT CAST(age AS VARCHAR) || lsoa || sex AS k, 1 AS one FROM admissions GROUP BY 1",
            "SELECT lsoa, age FROM admissions GROUP BY lsoa, age HAVING count(*) = 1",
            "SELECT a.age, count(*) FROM admissions a CROSS JOIN admissions b GROUP BY a.age",
            "SELECT lsoa, n FROM (SELECT lsoa, count(*) AS n FROM admissions GROUP BY lsoa) t WHERE n < 5",
        ] {
            let (text, rows, withheld) = nothing_of_the_lone_record(sql).await.unwrap();
            assert_eq!(rows, 0, "{sql}:\n{text}");
            assert!(withheld > 0, "{sql}: withheld groups are counted");
        }
    }

    #[tokio::test]
    async fn distinct_joins_unions_and_subqueries_of_aggregates_keep_only_large_groups() {
        for sql in [
            "SELECT DISTINCT lsoa FROM admissions",
            "SELECT lsoa, count(*) FROM admissions GROUP BY lsoa",
            "SELECT * FROM (SELECT lsoa, count(*) AS n FROM admissions GROUP BY lsoa) a \
             JOIN (SELECT lsoa, avg(age) AS m FROM admissions GROUP BY lsoa) b USING (lsoa)",
            "SELECT lsoa, count(*) AS n FROM admissions GROUP BY lsoa \
             UNION ALL SELECT sex, count(*) FROM admissions GROUP BY sex",
            "SELECT lsoa, rank() OVER (ORDER BY n) FROM (SELECT lsoa, count(*) AS n FROM admissions GROUP BY lsoa) t",
            // A one-to-many join repeats the lone record twenty times: still one record.
            "SELECT a.lsoa, count(*) AS n FROM admissions a JOIN population p ON a.lsoa = p.lsoa GROUP BY a.lsoa",
            "SELECT lsoa, sum(\"count\") FROM activity GROUP BY lsoa",
        ] {
            let (text, rows, _) = nothing_of_the_lone_record(sql).await.unwrap();
            assert!(rows >= 1, "{sql}: the large groups are served:\n{text}");
            assert!(
                text.contains("E01000002") || text.contains('F'),
                "{sql}:\n{text}"
            );
        }
        // A whole-dataset aggregate of at least K records is served, with its true count.
        let (text, rows, withheld) = run("SELECT count(*) AS n FROM admissions").await.unwrap();
        assert_eq!((rows, withheld), (1, 0));
        assert!(text.contains("21"), "{text}");
        // Reference tables are not partner data: read row by row.
        assert_eq!(run("SELECT * FROM population").await.unwrap().1, 40);
        // Ward totals through a one-to-one join: both LSOAs' records count (21 >= K).
        let (text, _, _) = run(
            "SELECT g.ward, count(*) AS n FROM admissions a JOIN geography g USING (lsoa) GROUP BY 1",
        )
        .await
        .unwrap();
        assert!(text.contains("21"), "{text}");
    }

    #[tokio::test]
    async fn shapes_that_hand_back_rows_or_single_values_are_refused() {
        for sql in [
            "SELECT age, row_number() OVER () FROM admissions",
            "SELECT lsoa, count(*) OVER (PARTITION BY lsoa) FROM admissions",
            "SELECT lsoa FROM admissions UNION SELECT lsoa FROM geography",
            "SELECT max(age) FROM admissions",
            "SELECT lsoa, min(CAST(age AS VARCHAR) || sex) FROM admissions GROUP BY lsoa",
            "SELECT median(age) FROM admissions",
            "SELECT array_agg(age) FROM admissions",
            "SELECT (SELECT age FROM admissions WHERE lsoa = 'E01000001') AS a",
            "SELECT * FROM geography WHERE lsoa IN (SELECT lsoa FROM admissions)",
            "SELECT lsoa, count(*) FROM admissions GROUP BY ROLLUP (lsoa)",
            "SELECT DISTINCT ON (lsoa) lsoa, age FROM admissions",
            "SELECT a.lsoa, sum(\"count\") FROM activity a JOIN population p USING (lsoa) GROUP BY 1",
        ] {
            match run(sql).await {
                Err(GuardError::Plan(e)) => panic!("{sql}: {e}"),
                Err(e) => assert!(!e.to_string().is_empty()),
                Ok((text, ..)) => panic!("{sql} was served:\n{text}"),
            }
        }
    }

    #[tokio::test]
    async fn an_aggregate_dataset_needs_k_counted_records_not_k_rows() {
        // E01000001 has ten rows (>= K) counting three records: withheld.
        let (text, rows, withheld) =
            run("SELECT lsoa, sum(\"count\") AS n FROM activity GROUP BY lsoa")
                .await
                .unwrap();
        assert_eq!((rows, withheld), (1, 1), "{text}");
        assert!(!text.contains(LONE), "{text}");
        // Projecting the count away does not lose it: the guard carries its own copy.
        let (_, rows, withheld) = run("SELECT lsoa FROM activity GROUP BY lsoa")
            .await
            .unwrap();
        assert_eq!((rows, withheld), (1, 1));
    }
}
