//! Row validation against a dataset contract. Pure: no IO.
//!
//! Input is any Arrow batch as read from a partner file (CSV gives text columns, Parquet typed
//! ones). [`Validator::validate`] casts each contract column to its stored type, checks every
//! rule, replaces identifiers by pseudonyms and splits the batch into accepted rows (in the
//! curated schema) and [`Rejection`]s that say which row, which column and why.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, StringArray,
    StringBuilder,
};
use arrow::compute::{CastOptions, can_cast_types, cast_with_options, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use chrono::{Datelike, NaiveDate};
use marmot_model::{ColumnSpec, ColumnType, Contract, ValueFormat};

use crate::reference::change::Conversion;
use crate::{LakeError, Pseudonymiser};

/// Name of the column recording which partner sent a row.
pub const PARTNER_COLUMN: &str = "_partner";
/// Name of the column recording which ingest committed a row.
pub const INGEST_COLUMN: &str = "_ingest_id";
/// The rejection kind of a real LSOA outside the lake's place (set aside rather than rejected
/// for contracts with `outside_place = "set_aside"`).
pub const OUTSIDE_PLACE: &str = "outside the place";
/// System column: the LSOA code as the partner sent it, when it was an LSOA 2011 code converted
/// to the 2021 lake's geography on ingest (null when sent in the lake's own geography).
pub const LSOA_SENT_COLUMN: &str = "_lsoa_as_sent";

/// The Arrow type a contract column is stored as.
pub fn arrow_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::Utf8 => DataType::Utf8,
        ColumnType::Date => DataType::Date32,
        ColumnType::Int32 => DataType::Int32,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Float64 => DataType::Float64,
    }
}

/// The curated table schema for a contract: its columns in order, then `_partner`,
/// `_ingest_id`, `_lsoa_as_sent`, then a `<column>_suppressed` flag for each column with
/// small-number markers.
pub fn curated_schema(contract: &Contract) -> SchemaRef {
    let mut fields: Vec<Field> = contract
        .columns
        .iter()
        .map(|c| {
            // A suppressed cell is stored empty, so a column with markers is nullable.
            Field::new(
                &c.name,
                arrow_type(c.ty),
                !c.required || !c.suppressed.is_empty(),
            )
        })
        .collect();
    fields.push(Field::new(PARTNER_COLUMN, DataType::Utf8, false));
    fields.push(Field::new(INGEST_COLUMN, DataType::Utf8, false));
    fields.push(Field::new(LSOA_SENT_COLUMN, DataType::Utf8, true));
    for c in contract.columns.iter().filter(|c| !c.suppressed.is_empty()) {
        fields.push(Field::new(
            suppressed_column(&c.name),
            DataType::Boolean,
            false,
        ));
    }
    Arc::new(Schema::new(fields))
}

/// The flag column of a column with small-number markers.
pub fn suppressed_column(name: &str) -> String {
    format!("{name}_suppressed")
}

/// A rejected input row.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// 1-based data row in the file (row 1 is the first row after the header).
    pub row: u64,
    /// The first column at fault, if the problem is in one column.
    pub column: Option<String>,
    /// Category of the first problem, stable for counting (e.g. "unknown LSOA").
    pub kind: String,
    /// The first problem in words, naming the value.
    pub reason: String,
    /// Every problem of the row, `column: reason` joined by "; ".
    pub problems: String,
    /// The row's values as JSON (contract columns only; identifiers already pseudonymised).
    pub record: String,
}

/// Where each contract column is found in the input.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    /// For each contract column, the index of the input column (None when absent and optional).
    sources: Vec<Option<usize>>,
    /// Input columns that are not in the contract (ignored, never stored).
    pub ignored: Vec<String>,
}

impl ColumnMap {
    /// Matches input columns to the contract by name (case-insensitive, trimmed). A missing
    /// required column, or a typed column that cannot be cast, is a whole-file error.
    pub fn resolve(
        contract: &Contract,
        input: &Schema,
        file: &str,
    ) -> Result<ColumnMap, LakeError> {
        let norm = |s: &str| s.trim().trim_start_matches('\u{feff}').to_ascii_lowercase();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for (i, f) in input.fields().iter().enumerate() {
            if by_name.insert(norm(f.name()), i).is_some() {
                return Err(LakeError::File {
                    file: file.to_string(),
                    message: format!("column '{}' appears twice in the header", f.name().trim()),
                });
            }
        }
        let mut sources = Vec::with_capacity(contract.columns.len());
        let mut missing = Vec::new();
        for c in &contract.columns {
            let found: Vec<usize> = std::iter::once(&c.name)
                .chain(&c.aliases)
                .filter_map(|n| by_name.get(&n.to_ascii_lowercase()).copied())
                .collect();
            if found.len() > 1 {
                return Err(LakeError::File {
                    file: file.to_string(),
                    message: format!(
                        "columns {} all mean {}: send one of them",
                        found
                            .iter()
                            .map(|&i| format!("'{}'", input.field(i).name().trim()))
                            .collect::<Vec<_>>()
                            .join(" and "),
                        c.name
                    ),
                });
            }
            let idx = found.first().copied();
            if idx.is_none() && c.required {
                missing.push(c.name.clone());
            }
            if let Some(i) = idx {
                let from = input.field(i).data_type();
                if !is_text(from) && !readable_as(from, c.ty) {
                    return Err(LakeError::File {
                        file: file.to_string(),
                        message: format!(
                            "column '{}' has type {from}, which cannot be read as {}",
                            c.name,
                            c.ty.describe()
                        ),
                    });
                }
            }
            sources.push(idx);
        }
        if !missing.is_empty() {
            return Err(LakeError::File {
                file: file.to_string(),
                message: format!(
                    "missing required column{} {} (the header has: {})",
                    if missing.len() > 1 { "s" } else { "" },
                    missing.join(", "),
                    input
                        .fields()
                        .iter()
                        .map(|f| f.name().trim().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        let known: HashSet<String> = contract
            .columns
            .iter()
            .flat_map(|c| std::iter::once(&c.name).chain(&c.aliases))
            .map(|n| n.to_ascii_lowercase())
            .collect();
        let ignored = input
            .fields()
            .iter()
            .map(|f| f.name().trim().to_string())
            .filter(|n| !known.contains(&n.to_ascii_lowercase()))
            .collect();
        Ok(ColumnMap { sources, ignored })
    }
}

/// Whether a typed (non-text) input column may be cast to a contract type. Stricter than
/// Arrow's own rules: Arrow would read `true` as the age 1.
fn readable_as(from: &DataType, to: ColumnType) -> bool {
    let integer = from.is_integer();
    let numeric = from.is_numeric();
    let ok = match to {
        ColumnType::Utf8 => integer,
        ColumnType::Date => matches!(
            from,
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
        ),
        ColumnType::Int32 | ColumnType::Int64 | ColumnType::Float64 => numeric,
        ColumnType::Boolean => matches!(from, DataType::Boolean) || integer,
    };
    ok && can_cast_types(from, &arrow_type(to))
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// Validates batches of one file against one contract.
pub struct Validator<'a> {
    contract: &'a Contract,
    map: ColumnMap,
    lsoas: &'a HashSet<String>,
    place_name: &'a str,
    /// LSOA 2011 code -> best-fit LSOA 2021 (2021 lakes only).
    convert: Option<&'a HashMap<String, Conversion>>,
    /// England's LSOAs of the lake's vintage: tells a real LSOA outside the place from a code
    /// that is no LSOA at all.
    england: Option<&'a crate::reference::england::England>,
    /// The place's areas of the contract's kind when it is not LSOAs (the sub-ICBs it
    /// overlaps, its MSOAs, its local authorities), for `sub_icb`, `msoa11` and `lad` columns.
    place_areas: HashSet<String>,
    pseudonymiser: &'a Pseudonymiser,
    today: NaiveDate,
    period: Option<(NaiveDate, NaiveDate)>,
    partner: String,
    ingest_id: String,
    schema: SchemaRef,
    nullable: SchemaRef,
    /// Per unique column: pseudonym -> first row seen. `None` turns the check off.
    seen: Option<HashMap<usize, FirstSeen>>,
    /// Rows the file is expected to hold, if known: the duplicate maps are made that large at
    /// once rather than grown (and copied) step by step.
    expected_rows: usize,
    /// Smallest and largest accepted date (days since epoch) so far.
    pub date_range: Option<(i32, i32)>,
    /// Cells of accepted rows read as suppressed (small-number markers) so far.
    pub suppressed_cells: u64,
    /// Threads that work out one batch's slices at once ([`Validator::validate_parts`]).
    threads: usize,
}

/// A slice smaller than this is not worth a thread of its own.
const MIN_SLICE_ROWS: usize = 4096;

/// What [`Validator::check`] worked out for one slice of a batch.
struct Checked {
    n: usize,
    /// Per row, its problems so far (empty when no row has one).
    problems: Vec<Vec<Problem>>,
    /// Text of each contract column as sent (for messages and quarantine records).
    raw: Vec<Option<StringArray>>,
    /// Each contract column in its stored type, identifiers already pseudonymised.
    typed: Vec<ArrayRef>,
    /// LSOA codes as sent, where converted.
    sent: Option<ArrayRef>,
    /// Suppressed-cell flags of the columns with small-number markers.
    flags: Vec<BooleanArray>,
    /// Keyed hashes of each identifier column's values.
    digests: Vec<Option<Vec<Option<u128>>>>,
}

/// Hashing for maps keyed by pseudonyms: a pseudonym is already a keyed hash (HMAC-SHA-256,
/// [`Pseudonymiser::digest`]), uniform and unpredictable without the key, so its own bits
/// are the hash; SipHash over it again cost a twentieth of an ingest's main thread.
type DigestHash = std::hash::BuildHasherDefault<DigestHasher>;

/// See [`DigestHash`]: takes a [`DigestKey`]'s 64 folded bits as they are; other input (not
/// used) is mixed FNV-1a.
#[derive(Default)]
struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }
}

/// The first data row of each pseudonym of a unique column, kept small because it holds an
/// entry for every row of the file: 20 bytes an entry (the pseudonym as four `u32`s and the row
/// as a `u32`) where a `(u128, u64)` pair takes 32. Rows past `u32::MAX` (a file of more than
/// 4.29 billion rows) go to a second map with whole row numbers.
struct FirstSeen {
    small: HashMap<DigestKey, u32, DigestHash>,
    large: HashMap<DigestKey, u64, DigestHash>,
}

/// A pseudonym as a map key of alignment 4 (see [`FirstSeen`]).
#[derive(Clone, Copy, PartialEq, Eq)]
struct DigestKey([u32; 4]);

impl std::hash::Hash for DigestKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let [a, b, c, d] = self.0.map(u64::from);
        state.write_u64(((a << 32) | b) ^ ((c << 32) | d));
    }
}

impl FirstSeen {
    /// Room for `rows` entries from the start, up to 33.5 million (an estimate is not a
    /// promise: beyond that the map grows as it fills).
    fn new(rows: usize) -> FirstSeen {
        FirstSeen {
            small: HashMap::with_capacity_and_hasher(rows.min(1 << 25), DigestHash::default()),
            large: HashMap::default(),
        }
    }

    /// The row where `digest` was first seen, or `None` after recording `row` as that row.
    fn first_or_insert(&mut self, digest: u128, row: u64) -> Option<u64> {
        let key = DigestKey([
            (digest >> 96) as u32,
            (digest >> 64) as u32,
            (digest >> 32) as u32,
            digest as u32,
        ]);
        match self.small.entry(key) {
            std::collections::hash_map::Entry::Occupied(first) => Some(u64::from(*first.get())),
            std::collections::hash_map::Entry::Vacant(v) => {
                if let Some(first) = self.large.get(&key) {
                    return Some(*first);
                }
                match u32::try_from(row) {
                    Ok(r) => {
                        v.insert(r);
                    }
                    Err(_) => {
                        self.large.insert(key, row);
                    }
                }
                None
            }
        }
    }
}

/// Records problem `p` of `row` among `n` rows (`problems` stays empty while no row has one).
fn add_problem(problems: &mut Vec<Vec<Problem>>, n: usize, row: usize, p: Problem) {
    if problems.is_empty() {
        problems.resize_with(n, Vec::new);
    }
    problems[row].push(p);
}

/// A problem found in one cell.
struct Problem {
    column: usize,
    kind: &'static str,
    reason: String,
}

impl<'a> Validator<'a> {
    /// A validator for one file. `lsoas` are the place's LSOA codes; `period`, when given,
    /// is the declared submission period (inclusive dates) that every row's date must fall in.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        contract: &'a Contract,
        map: ColumnMap,
        lsoas: &'a HashSet<String>,
        place_name: &'a str,
        pseudonymiser: &'a Pseudonymiser,
        today: NaiveDate,
        period: Option<(NaiveDate, NaiveDate)>,
        partner: &str,
        ingest_id: &str,
    ) -> Validator<'a> {
        Validator {
            contract,
            map,
            lsoas,
            place_name,
            convert: None,
            england: None,
            place_areas: HashSet::new(),
            pseudonymiser,
            today,
            period,
            partner: partner.to_string(),
            ingest_id: ingest_id.to_string(),
            schema: curated_schema(contract),
            nullable: Arc::new(Schema::new(
                curated_schema(contract)
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone().with_nullable(true))
                    .collect::<Vec<_>>(),
            )),
            seen: Some(HashMap::new()),
            expected_rows: 0,
            date_range: None,
            suppressed_cells: 0,
            threads: 1,
        }
    }

    /// Works out each batch on up to `threads` threads at once (default 1). The result is the
    /// same for any number: only the rules that need earlier rows (duplicates) run in order.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Reads LSOA 2011 codes in a 2021 lake: a code of the place's 2011 geography is stored as
    /// its best-fit 2021 LSOA ([`crate::reference::change`]) and the code as sent is kept in
    /// [`LSOA_SENT_COLUMN`].
    pub fn with_lsoa_conversion(mut self, convert: &'a HashMap<String, Conversion>) -> Self {
        self.convert = Some(convert);
        self
    }

    /// Tells real English LSOAs outside the place ([`OUTSIDE_PLACE`]) from unknown codes.
    pub fn with_england(mut self, england: &'a crate::reference::england::England) -> Self {
        self.england = Some(england);
        self
    }

    /// The place's areas of the contract's kind ([`crate::reference::areas::in_place`]): a
    /// `sub_icb`, `msoa11` or `lad` value must be one of them; another real area of England is
    /// [`OUTSIDE_PLACE`], a code that is no area is rejected.
    pub fn with_areas(mut self, codes: HashSet<String>) -> Self {
        self.place_areas = codes;
        self
    }

    /// The file is expected to hold about `rows` rows (an estimate from the first batch and
    /// the file's size): only the duplicate check's memory is sized by it, never a result.
    /// Has an effect only before the first batch is validated.
    pub fn expect_rows(&mut self, rows: usize) {
        self.expected_rows = rows;
    }

    /// Turns off the duplicate check (for generated data whose identifiers are unique by
    /// construction, where remembering every identifier would make memory grow with size).
    pub fn without_duplicate_check(mut self) -> Self {
        self.seen = None;
        self
    }

    /// The curated schema of accepted rows.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Validates one batch whose row `i` is data row `rows[i]` of the file.
    pub fn validate(
        &mut self,
        input: &RecordBatch,
        rows: &[u64],
    ) -> Result<(RecordBatch, Vec<Rejection>), LakeError> {
        let (parts, rejections) = self.validate_parts(input, rows)?;
        let accepted = match <[RecordBatch; 1]>::try_from(parts) {
            Ok([one]) => one,
            Err(parts) => arrow::compute::concat_batches(&self.schema, &parts)?,
        };
        Ok((accepted, rejections))
    }

    /// Validates one batch as [`Validator::validate`] does, on up to [`Validator::with_threads`]
    /// threads: the batch is cut into that many slices whose rules, casts and keyed hashes are
    /// worked out at once ([`Checked`]); then, in row order on this thread, each slice's
    /// duplicates are found against every earlier row. Returns the accepted rows of each slice
    /// in order (as many batches as slices) and the rejections in row order.
    pub fn validate_parts(
        &mut self,
        input: &RecordBatch,
        rows: &[u64],
    ) -> Result<(Vec<RecordBatch>, Vec<Rejection>), LakeError> {
        let n = input.num_rows();
        if rows.len() != n {
            return Err(LakeError::Internal(format!(
                "{} row numbers for {n} rows",
                rows.len()
            )));
        }
        let slices = self.threads.min(n / MIN_SLICE_ROWS).max(1);
        let checked: Vec<Checked> = if slices == 1 {
            vec![self.check(input)?]
        } else {
            let step = n.div_ceil(slices);
            let this = &*self;
            std::thread::scope(|s| {
                // The first slice is worked out here while the others run on threads of their own.
                let others: Vec<_> = (1..slices)
                    .map(|j| {
                        let (off, len) = (j * step, step.min(n.saturating_sub(j * step)));
                        s.spawn(move || this.check(&input.slice(off, len)))
                    })
                    .collect();
                let mut out = vec![this.check(&input.slice(0, step))?];
                for h in others {
                    out.push(h.join().map_err(|_| {
                        LakeError::Internal("a validation thread panicked".into())
                    })??);
                }
                Ok::<_, LakeError>(out)
            })?
        };
        let mut parts = Vec::with_capacity(checked.len());
        let mut rejections = Vec::new();
        let mut off = 0;
        for c in checked {
            let len = c.n;
            let (accepted, rejected) = self.settle(c, &rows[off..off + len])?;
            off += len;
            parts.push(accepted);
            rejections.extend(rejected);
        }
        Ok((parts, rejections))
    }

    /// The part of validation that depends on no other row: every column cast and checked,
    /// the rules across columns, each identifier's keyed hash and pseudonym.
    fn check(&self, input: &RecordBatch) -> Result<Checked, LakeError> {
        let n = input.num_rows();
        let mut problems: Vec<Vec<Problem>> = Vec::new();
        let add = |row: usize, p: Problem, problems: &mut Vec<Vec<Problem>>| {
            add_problem(problems, n, row, p)
        };
        // Raw text of each contract column, for messages and quarantine records.
        let mut raw: Vec<Option<StringArray>> = Vec::with_capacity(self.contract.columns.len());
        let mut typed: Vec<ArrayRef> = Vec::with_capacity(self.contract.columns.len() + 3);
        let mut sent: Option<ArrayRef> = None;
        let mut flags: Vec<BooleanArray> = Vec::new();
        let cast_opts = CastOptions {
            safe: true,
            ..Default::default()
        };
        for (ci, col) in self.contract.columns.iter().enumerate() {
            let target = arrow_type(col.ty);
            let Some(src_idx) = self.map.sources[ci] else {
                raw.push(None);
                typed.push(arrow::array::new_null_array(&target, n));
                if !col.suppressed.is_empty() {
                    flags.push(BooleanArray::from(vec![false; n]));
                }
                continue;
            };
            let src = input.column(src_idx);
            let mut text = as_clean_text(src)?;
            // Small-number markers: the cell is suppressed (stored empty, flagged), not an error.
            let mut flag: Option<BooleanArray> = None;
            let mut raw_text = None;
            if !col.suppressed.is_empty() {
                let t = match &text {
                    Some(t) => t.clone(),
                    None => text_of(src)?,
                };
                let blank = col.suppressed.iter().any(|m| m.trim().is_empty());
                let f: BooleanArray = (0..n)
                    .map(|i| {
                        Some(if t.is_null(i) {
                            blank
                        } else {
                            let v = t.value(i).trim();
                            col.suppressed
                                .iter()
                                .any(|m| !m.trim().is_empty() && m.trim().eq_ignore_ascii_case(v))
                        })
                    })
                    .collect();
                let kept: StringArray = (0..n)
                    .map(|i| (!f.value(i) && t.is_valid(i)).then(|| t.value(i)))
                    .collect();
                raw_text = Some(t);
                text = Some(kept);
                flag = Some(f);
            }
            let cast_from: ArrayRef = match &text {
                Some(t) => Arc::new(t.clone()),
                None => src.clone(),
            };
            let mut out = cast_with_options(&cast_from, &target, &cast_opts)?;
            // Values present in the input but lost by the cast could not be read as the type.
            for i in 0..n {
                if cast_from.is_valid(i) && out.is_null(i) {
                    let shown = shown_value(text.as_ref(), src, i);
                    add(
                        i,
                        Problem {
                            column: ci,
                            kind: "wrong type",
                            reason: format!("'{shown}' is not {}", type_words(col.ty)),
                        },
                        &mut problems,
                    );
                } else if cast_from.is_null(i)
                    && col.required
                    && !flag.as_ref().is_some_and(|f| f.value(i))
                {
                    add(
                        i,
                        Problem {
                            column: ci,
                            kind: "missing value",
                            reason: "a value is required".into(),
                        },
                        &mut problems,
                    );
                }
            }
            out = self.check_column(ci, col, out, &mut sent, &mut |i, p| {
                add(i, p, &mut problems)
            })?;
            raw.push(Some(match (raw_text, text) {
                (Some(t), _) | (None, Some(t)) => t,
                (None, None) => text_of(&cast_from)?,
            }));
            typed.push(out);
            if let Some(f) = flag {
                flags.push(f);
            }
        }
        self.check_rows(&typed, &mut |i, p| add(i, p, &mut problems));

        // One keyed hash per identifier value, used for the duplicate check and the pseudonym.
        let digests: Vec<Option<Vec<Option<u128>>>> = self
            .contract
            .columns
            .iter()
            .enumerate()
            .map(|(ci, col)| {
                let raw_col = raw[ci].as_ref().filter(|_| col.identifier)?;
                Some(
                    raw_col
                        .iter()
                        .map(|v| v.map(|v| self.pseudonymiser.digest(v)))
                        .collect(),
                )
            })
            .collect();
        // Pseudonymise identifiers (after validation, which needs the clear text for messages
        // about other problems only; identifier values are never put in a message).
        for (ci, d) in digests.iter().enumerate() {
            if let Some(d) = d {
                typed[ci] = Arc::new(pseudonyms(d));
            } else if self.contract.columns[ci].identifier {
                typed[ci] = Arc::new(StringArray::new_null(n));
            }
        }
        Ok(Checked {
            n,
            problems,
            raw,
            typed,
            sent,
            flags,
            digests,
        })
    }

    /// The part of validation that depends on earlier rows, in row order: duplicates of
    /// unique identifiers, the accepted date range and suppressed cells; then the accepted
    /// rows in the curated schema and the rejections. `rows` are the slice's data rows.
    fn settle(
        &mut self,
        checked: Checked,
        rows: &[u64],
    ) -> Result<(RecordBatch, Vec<Rejection>), LakeError> {
        let Checked {
            n,
            mut problems,
            raw,
            mut typed,
            sent,
            flags,
            digests,
        } = checked;
        let add = |row: usize, p: Problem, problems: &mut Vec<Vec<Problem>>| {
            add_problem(problems, n, row, p)
        };
        let keep: BooleanArray = if problems.is_empty() {
            BooleanArray::from(vec![true; n])
        } else {
            problems.iter().map(|p| Some(p.is_empty())).collect()
        };
        // Remember unique identifiers of accepted rows only, in row order, so a duplicate is the
        // second occurrence and the first one stays accepted.
        let mut dup_rejects: Vec<(usize, Problem)> = Vec::new();
        if let Some(seen) = self.seen.as_mut() {
            for (ci, col) in self.contract.columns.iter().enumerate() {
                if !col.unique {
                    continue;
                }
                let Some(col_digests) = digests[ci].as_ref() else {
                    continue;
                };
                let map = seen
                    .entry(ci)
                    .or_insert_with(|| FirstSeen::new(self.expected_rows));
                for (i, &row) in rows.iter().enumerate() {
                    let Some(d) = col_digests[i].filter(|_| keep.value(i)) else {
                        continue;
                    };
                    if let Some(first) = map.first_or_insert(d, row) {
                        dup_rejects.push((
                            i,
                            Problem {
                                column: ci,
                                kind: "duplicate identifier",
                                reason: format!(
                                    "duplicate {} within the file (first at row {first})",
                                    col.name,
                                ),
                            },
                        ));
                    }
                }
            }
        }
        for (i, p) in dup_rejects {
            add(i, p, &mut problems);
        }
        let keep: BooleanArray = if problems.is_empty() {
            keep
        } else {
            problems.iter().map(|p| Some(p.is_empty())).collect()
        };

        let accepted_rows = keep.true_count();
        typed.push(Arc::new(StringArray::from(vec![self.partner.as_str(); n])));
        typed.push(Arc::new(StringArray::from(vec![
            self.ingest_id.as_str();
            n
        ])));
        typed.push(sent.unwrap_or_else(|| Arc::new(StringArray::new_null(n))));
        for f in flags {
            self.suppressed_cells += (0..n).filter(|&i| keep.value(i) && f.value(i)).count() as u64;
            typed.push(Arc::new(f));
        }
        // Rejected rows may hold nulls in required columns: filter under an all-nullable
        // schema, then re-check the accepted rows against the curated one.
        let full = RecordBatch::try_new(self.nullable.clone(), typed)?;
        let kept = if accepted_rows == n {
            full
        } else {
            filter_record_batch(&full, &keep)?
        };
        let accepted = RecordBatch::try_new(self.schema.clone(), kept.columns().to_vec())?;
        if let Some(dc) = self
            .contract
            .columns
            .iter()
            .position(|c| c.name == self.contract.date_column)
        {
            let dates = accepted.column(dc).as_any().downcast_ref::<Date32Array>();
            if let Some(d) = dates {
                for v in d.iter().flatten() {
                    self.date_range = Some(match self.date_range {
                        None => (v, v),
                        Some((lo, hi)) => (lo.min(v), hi.max(v)),
                    });
                }
            }
        }

        let mut rejections = Vec::new();
        for (i, ps) in problems.iter().enumerate() {
            if ps.is_empty() {
                continue;
            }
            let first = &ps[0];
            let name = |p: &Problem| self.contract.columns[p.column].name.clone();
            rejections.push(Rejection {
                row: rows[i],
                column: Some(name(first)),
                kind: first.kind.to_string(),
                reason: first.reason.clone(),
                problems: ps
                    .iter()
                    .map(|p| format!("{}: {}", name(p), p.reason))
                    .collect::<Vec<_>>()
                    .join("; "),
                record: self.record_json(&raw, i),
            });
        }
        Ok((accepted, rejections))
    }

    /// Checks one typed column; returns it, with allowed values canonicalised.
    fn check_column(
        &self,
        ci: usize,
        col: &ColumnSpec,
        out: ArrayRef,
        sent: &mut Option<ArrayRef>,
        add: &mut dyn FnMut(usize, Problem),
    ) -> Result<ArrayRef, LakeError> {
        let n = out.len();
        match col.ty {
            ColumnType::Utf8 => {
                let s = out
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| LakeError::Internal("utf8 cast".into()))?;
                if let Some(allowed) = &col.allowed {
                    let lower: Vec<String> =
                        allowed.iter().map(|a| a.to_ascii_lowercase()).collect();
                    let mut b = StringBuilder::with_capacity(n, n * 8);
                    for i in 0..n {
                        if s.is_null(i) {
                            b.append_null();
                            continue;
                        }
                        let v = s.value(i);
                        match lower.iter().position(|a| a.eq_ignore_ascii_case(v)) {
                            Some(k) => b.append_value(&allowed[k]),
                            None => {
                                add(
                                    i,
                                    Problem {
                                        column: ci,
                                        kind: "value not allowed",
                                        reason: format!(
                                            "'{}' is not one of: {}",
                                            clip(v),
                                            allowed.join(", ")
                                        ),
                                    },
                                );
                                b.append_null();
                            }
                        }
                    }
                    return Ok(Arc::new(b.finish()));
                }
                if let Some(fmt) = col.format {
                    // Converted LSOA codes: (stored, as sent), built only when one converts.
                    let mut converted: Option<(StringBuilder, StringBuilder)> = None;
                    for i in 0..n {
                        if s.is_null(i) {
                            if let Some((to, from)) = converted.as_mut() {
                                to.append_null();
                                from.append_null();
                            }
                            continue;
                        }
                        let v = s.value(i);
                        let mut stored = (v, None);
                        if !fmt.check(v) {
                            add(
                                i,
                                Problem {
                                    column: ci,
                                    kind: "bad format",
                                    reason: format!("'{}' is not {}", clip(v), fmt.describe()),
                                },
                            );
                        } else if let Some(kind) = area_kind_of(fmt)
                            && !self.place_areas.contains(v)
                        {
                            let elsewhere =
                                crate::reference::areas::elsewhere(kind, v, self.place_name);
                            add(
                                i,
                                Problem {
                                    column: ci,
                                    kind: if elsewhere.is_some() {
                                        OUTSIDE_PLACE
                                    } else {
                                        "unknown area"
                                    },
                                    reason: elsewhere.unwrap_or_else(|| {
                                        crate::reference::areas::unknown(kind, v)
                                    }),
                                },
                            );
                        } else if fmt == ValueFormat::Lsoa && !self.lsoas.contains(v) {
                            match self.convert.and_then(|c| c.get(v)) {
                                Some(c) if self.lsoas.contains(&c.lsoa21) => {
                                    stored = (c.lsoa21.as_str(), Some(v));
                                }
                                found => {
                                    let elsewhere = self.england.and_then(|e| e.get(v));
                                    add(
                                        i,
                                        Problem {
                                            column: ci,
                                            kind: if found.is_some() || elsewhere.is_some() {
                                                OUTSIDE_PLACE
                                            } else {
                                                "unknown LSOA"
                                            },
                                            reason: match (
                                                found.filter(|c| c.lsoa21 != v),
                                                elsewhere,
                                            ) {
                                                (Some(c), _) => format!(
                                                    "LSOA 2011 {v} becomes LSOA 2021 {}, which is not in the reference geography of {}",
                                                    c.lsoa21, self.place_name
                                                ),
                                                (None, Some(l)) => format!(
                                                    "LSOA {v} is in {} ({}), outside {}",
                                                    l.lad_name, l.lad_code, self.place_name
                                                ),
                                                (None, None) => format!(
                                                    "LSOA {v} is not in the reference geography of {}",
                                                    self.place_name
                                                ),
                                            },
                                        },
                                    )
                                }
                            }
                        }
                        if stored.1.is_some() && converted.is_none() {
                            let mut to = StringBuilder::with_capacity(n, n * 9);
                            let mut from = StringBuilder::with_capacity(n, n * 9);
                            for k in 0..i {
                                to.append_option(s.is_valid(k).then(|| s.value(k)));
                                from.append_null();
                            }
                            converted = Some((to, from));
                        }
                        if let Some((to, from)) = converted.as_mut() {
                            to.append_value(stored.0);
                            from.append_option(stored.1);
                        }
                    }
                    if let Some((mut to, mut from)) = converted {
                        *sent = Some(Arc::new(from.finish()));
                        return Ok(Arc::new(to.finish()));
                    }
                }
                Ok(out)
            }
            ColumnType::Date => {
                let d = out
                    .as_any()
                    .downcast_ref::<Date32Array>()
                    .ok_or_else(|| LakeError::Internal("date cast".into()))?;
                let lo = col
                    .min
                    .as_ref()
                    .and_then(|b| b.as_date(self.today))
                    .map(days);
                let hi = col
                    .max
                    .as_ref()
                    .and_then(|b| b.as_date(self.today))
                    .map(days);
                let is_period_col = col.name == self.contract.date_column;
                for i in 0..n {
                    if d.is_null(i) {
                        continue;
                    }
                    let v = d.value(i);
                    if let Some(lo) = lo.filter(|lo| v < *lo) {
                        add(
                            i,
                            Problem {
                                column: ci,
                                kind: "date out of range",
                                reason: format!("{} is before {}", date_str(v), date_str(lo)),
                            },
                        );
                    } else if let Some(hi) = hi.filter(|hi| v > *hi) {
                        let why = if hi == days(self.today) {
                            "is in the future".to_string()
                        } else {
                            format!("is after {}", date_str(hi))
                        };
                        add(
                            i,
                            Problem {
                                column: ci,
                                kind: "date out of range",
                                reason: format!("{} {why}", date_str(v)),
                            },
                        );
                    } else if is_period_col
                        && let Some(why) = off_precision(self.contract.precision, date_of(v))
                    {
                        add(
                            i,
                            Problem {
                                column: ci,
                                kind: "date not a period start",
                                reason: format!("{} is not {why}", date_str(v)),
                            },
                        );
                    } else if let (true, Some((p0, p1))) = (is_period_col, self.period)
                        && (v < days(p0) || v > days(p1))
                    {
                        add(
                            i,
                            Problem {
                                column: ci,
                                kind: "outside submission period",
                                reason: format!(
                                    "{} is outside the declared submission period {p0} to {p1}",
                                    date_str(v)
                                ),
                            },
                        );
                    }
                }
                Ok(out)
            }
            ColumnType::Int32 | ColumnType::Int64 | ColumnType::Float64 => {
                let vals: Vec<Option<f64>> = match col.ty {
                    ColumnType::Int32 => out
                        .as_any()
                        .downcast_ref::<Int32Array>()
                        .map(|a| a.iter().map(|v| v.map(f64::from)).collect()),
                    ColumnType::Int64 => out
                        .as_any()
                        .downcast_ref::<Int64Array>()
                        .map(|a| a.iter().map(|v| v.map(|x| x as f64)).collect()),
                    _ => out
                        .as_any()
                        .downcast_ref::<Float64Array>()
                        .map(|a| a.iter().collect()),
                }
                .ok_or_else(|| LakeError::Internal("numeric cast".into()))?;
                let lo = col.min.as_ref().and_then(|b| b.as_f64());
                let hi = col.max.as_ref().and_then(|b| b.as_f64());
                for (i, v) in vals.iter().enumerate() {
                    let Some(v) = v else { continue };
                    if let Some(lo) = lo.filter(|lo| v < lo) {
                        let kind = if *v < 0.0 {
                            "negative value"
                        } else {
                            "value out of range"
                        };
                        add(
                            i,
                            Problem {
                                column: ci,
                                kind,
                                reason: format!("{v} is below the minimum {lo}"),
                            },
                        );
                    } else if let Some(hi) = hi.filter(|hi| v > hi) {
                        add(
                            i,
                            Problem {
                                column: ci,
                                kind: "value out of range",
                                reason: format!("{v} is above the maximum {hi}"),
                            },
                        );
                    }
                }
                Ok(out)
            }
            ColumnType::Boolean => Ok(out),
        }
    }

    /// Rules across columns of a row (`not_before`).
    fn check_rows(&self, typed: &[ArrayRef], add: &mut dyn FnMut(usize, Problem)) {
        for (ci, col) in self.contract.columns.iter().enumerate() {
            let Some(other) = &col.not_before else {
                continue;
            };
            let Some(oi) = self.contract.columns.iter().position(|c| &c.name == other) else {
                continue;
            };
            let (Some(a), Some(b)) = (
                typed[ci].as_any().downcast_ref::<Date32Array>(),
                typed[oi].as_any().downcast_ref::<Date32Array>(),
            ) else {
                continue;
            };
            for i in 0..a.len() {
                if a.is_valid(i) && b.is_valid(i) && a.value(i) < b.value(i) {
                    add(
                        i,
                        Problem {
                            column: ci,
                            kind: "dates out of order",
                            reason: format!(
                                "{} {} is before {} {}",
                                col.name,
                                date_str(a.value(i)),
                                other,
                                date_str(b.value(i))
                            ),
                        },
                    );
                }
            }
        }
    }

    fn record_json(&self, raw: &[Option<StringArray>], i: usize) -> String {
        let mut m = serde_json::Map::new();
        for (ci, col) in self.contract.columns.iter().enumerate() {
            let v = raw[ci]
                .as_ref()
                .filter(|a| a.is_valid(i))
                .map(|a| a.value(i));
            let v = match v {
                None => serde_json::Value::Null,
                Some(v) if col.identifier => self.pseudonymiser.pseudonym(v).into(),
                Some(v) => v.into(),
            };
            m.insert(col.name.clone(), v);
        }
        serde_json::Value::Object(m).to_string()
    }
}

/// The kind of area a format names, for formats of areas other than LSOAs.
fn area_kind_of(fmt: ValueFormat) -> Option<marmot_model::AreaKind> {
    fmt.area_kind()
        .filter(|k| *k != marmot_model::AreaKind::Lsoa)
}

/// Why a date cannot date a row of the given precision (a monthly dataset's dates are first
/// days of months, a weekly one's Mondays); `None` when it can.
fn off_precision(p: marmot_model::Precision, d: NaiveDate) -> Option<&'static str> {
    use chrono::Datelike;
    match p {
        marmot_model::Precision::Day => None,
        marmot_model::Precision::Week => {
            (d.weekday() != chrono::Weekday::Mon).then_some("a Monday (the dataset is weekly)")
        }
        marmot_model::Precision::Month => {
            (d.day() != 1).then_some("the first day of a month (the dataset is monthly)")
        }
    }
}

/// Pseudonyms (32 lowercase hex characters) of digests, without per-value formatting.
fn pseudonyms(digests: &[Option<u128>]) -> StringArray {
    let mut b = StringBuilder::with_capacity(digests.len(), digests.len() * 32);
    let mut buf = [0u8; 32];
    for d in digests {
        match d {
            Some(d) => {
                // hex::encode_to_slice cannot fail for a 16-byte input and a 32-byte buffer.
                if hex::encode_to_slice(d.to_be_bytes(), &mut buf).is_ok() {
                    b.append_value(std::str::from_utf8(&buf).unwrap_or_default());
                } else {
                    b.append_null();
                }
            }
            None => b.append_null(),
        }
    }
    b.finish()
}

/// Text columns trimmed, with empty strings as missing. `None` for non-text columns.
fn as_clean_text(a: &ArrayRef) -> Result<Option<StringArray>, LakeError> {
    if !is_text(a.data_type()) {
        return Ok(None);
    }
    let s = cast_with_options(a, &DataType::Utf8, &CastOptions::default())?;
    let s = s
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| LakeError::Internal("utf8".into()))?;
    Ok(Some(
        s.iter()
            .map(|v| v.map(str::trim).filter(|v| !v.is_empty()))
            .collect(),
    ))
}

fn text_of(a: &ArrayRef) -> Result<StringArray, LakeError> {
    let s = cast_with_options(a, &DataType::Utf8, &CastOptions::default())?;
    Ok(s.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .unwrap_or_else(|| StringArray::new_null(a.len())))
}

fn shown_value(text: Option<&StringArray>, src: &ArrayRef, i: usize) -> String {
    match text {
        Some(t) => clip(t.value(i)).to_string(),
        None => arrow::util::display::array_value_to_string(src, i).unwrap_or_else(|_| "?".into()),
    }
}

fn clip(s: &str) -> &str {
    match s.char_indices().nth(60) {
        Some((k, _)) => &s[..k],
        None => s,
    }
}

fn type_words(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Utf8 => "text",
        ColumnType::Date => "a date (YYYY-MM-DD)",
        ColumnType::Int32 | ColumnType::Int64 => "a whole number",
        ColumnType::Boolean => "true or false",
        ColumnType::Float64 => "a number",
    }
}

/// Days since 1970-01-01 (Arrow Date32).
pub fn days(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - 719_163
}

/// The date of an Arrow Date32 value.
pub fn date_of(days_since_epoch: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(days_since_epoch + 719_163).unwrap_or(NaiveDate::MIN)
}

fn date_str(v: i32) -> String {
    date_of(v).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn police_batch(rows: &[(u8, usize)]) -> RecordBatch {
        let cell = |kind: u8, col: u8, good: String, bad: &str| {
            if kind == col { bad.to_string() } else { good }
        };
        let ids: StringArray = rows
            .iter()
            .map(|(k, i)| Some(cell(*k, 6, format!("INC{i}"), "")))
            .collect();
        let dates: StringArray = rows
            .iter()
            .map(|(k, i)| {
                Some(match k {
                    2 => "2020-02-30".to_string(),
                    3 => "2099-01-01".to_string(),
                    _ => format!("2020-0{}-1{}", 1 + i % 9, i % 10),
                })
            })
            .collect();
        let lsoas: StringArray = rows
            .iter()
            .map(|(k, _)| Some(cell(*k, 1, "E01001714".into(), "E01011950")))
            .collect();
        let cats: StringArray = rows
            .iter()
            .map(|(k, i)| {
                Some(cell(
                    *k,
                    4,
                    ["asb", "Violence", "BURGLARY"][i % 3].into(),
                    "arson",
                ))
            })
            .collect();
        let flags: StringArray = rows
            .iter()
            .map(|(k, i)| Some(cell(*k, 5, ["yes", "0", "true"][i % 3].into(), "maybe")))
            .collect();
        let schema = Arc::new(Schema::new(
            [
                "incident_id",
                "incident_date",
                "lsoa_code",
                "category",
                "vulnerability_flag",
            ]
            .map(|n| Field::new(n, DataType::Utf8, true))
            .to_vec(),
        ));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(ids),
            Arc::new(dates),
            Arc::new(lsoas),
            Arc::new(cats),
            Arc::new(flags),
        ];
        RecordBatch::try_new(schema, cols).expect("batch")
    }

    proptest! {
        /// Nothing is lost: every input row is accepted or rejected, never both, never neither,
        /// and exactly the corrupted rows are rejected (kinds: 0 none, 1 unknown LSOA, 2 invalid
        /// date, 3 future date, 4 category not allowed, 5 not a boolean, 6 missing identifier).
        #[test]
        fn every_row_is_accepted_or_rejected(kinds in proptest::collection::vec(0u8..7, 1..200)) {
            let contract = marmot_model::builtin_contract("police").expect("contract");
            let rows: Vec<(u8, usize)> = kinds.iter().enumerate().map(|(i, k)| (*k, i)).collect();
            let batch = police_batch(&rows);
            let map = ColumnMap::resolve(&contract, &batch.schema(), "test.csv").expect("columns");
            let lsoas: HashSet<String> = ["E01001714".to_string()].into();
            let p = Pseudonymiser::new(b"0123456789abcdef0123").expect("key");
            let today = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
            let mut v = Validator::new(&contract, map, &lsoas, "Test", &p, today, None, "police", "ingest-1");
            let numbers: Vec<u64> = (1..=rows.len() as u64).collect();
            let (accepted, rejected) = v.validate(&batch, &numbers).expect("validate");
            prop_assert_eq!(accepted.num_rows() + rejected.len(), rows.len());
            let bad: Vec<u64> = rows.iter().filter(|(k, _)| *k != 0).map(|(_, i)| *i as u64 + 1).collect();
            let got: Vec<u64> = rejected.iter().map(|r| r.row).collect();
            prop_assert_eq!(got, bad);
            // Accepted identifiers are pseudonyms, never the clear value.
            let ids = accepted.column(0).as_any().downcast_ref::<StringArray>().expect("ids");
            for id in ids.iter().flatten() {
                prop_assert!(!id.starts_with("INC") && id.len() == 32);
            }
        }
    }

    #[test]
    fn first_seen_keeps_the_first_row_also_past_u32() {
        let mut m = FirstSeen::new(4);
        let big = u64::from(u32::MAX) + 10;
        assert_eq!(m.first_or_insert(7, 3), None);
        assert_eq!(m.first_or_insert(7 << 100, big), None);
        assert_eq!(m.first_or_insert(7, 9), Some(3));
        assert_eq!(m.first_or_insert(7, big + 1), Some(3));
        assert_eq!(m.first_or_insert(7 << 100, 12), Some(big));
        // Keys differing only in high or low halves are different pseudonyms.
        assert_eq!(m.first_or_insert(7 << 64, 13), None);
        assert_eq!(m.first_or_insert((7 << 64) | 7, 14), None);
        assert_eq!(m.first_or_insert(7 << 64, 15), Some(13));
        assert_eq!(std::mem::size_of::<(DigestKey, u32)>(), 20);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(6))]
        /// Working a batch out on several threads changes nothing: the same rows accepted, in
        /// the same order, the same rejections, and a duplicate is found whichever slice holds
        /// its first occurrence (identifiers repeat every `period` rows, so many duplicates
        /// cross the slices' boundaries).
        #[test]
        fn threads_change_nothing(
            seed in 0u64..1000,
            len in 2 * MIN_SLICE_ROWS..3 * MIN_SLICE_ROWS,
            period in 100usize..4000,
            threads in 2usize..5,
        ) {
            let contract = marmot_model::builtin_contract("police").expect("contract");
            let rows: Vec<(u8, usize)> = (0..len)
                .map(|i| {
                    let x = (i as u64 ^ seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58;
                    ((if x < 56 { 0 } else { (x % 7) as u8 }), i)
                })
                .collect();
            let mut batch = police_batch(&rows);
            let ids: StringArray = (0..len)
                .map(|i| Some(if rows[i].0 == 6 { String::new() } else { format!("INC{}", i % period) }))
                .collect();
            let mut cols = batch.columns().to_vec();
            cols[0] = Arc::new(ids);
            batch = RecordBatch::try_new(batch.schema(), cols).expect("batch");
            let lsoas: HashSet<String> = ["E01001714".to_string()].into();
            let p = Pseudonymiser::new(b"0123456789abcdef0123").expect("key");
            let today = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
            let numbers: Vec<u64> = (1..=len as u64).collect();
            let run = |threads: usize| {
                let map = ColumnMap::resolve(&contract, &batch.schema(), "test.csv").expect("columns");
                let mut v = Validator::new(&contract, map, &lsoas, "Test", &p, today, None, "police", "ingest-1")
                    .with_threads(threads);
                let (parts, rejected) = v.validate_parts(&batch, &numbers).expect("validate");
                (parts, rejected, v.date_range, v.suppressed_cells)
            };
            let (one, rejected_one, range_one, cells_one) = run(1);
            let (many, rejected_many, range_many, cells_many) = run(threads);
            prop_assert_eq!(one.len(), 1);
            prop_assert_eq!(many.len(), threads.min(len / MIN_SLICE_ROWS));
            prop_assert!(many.len() > 1);
            let many = arrow::compute::concat_batches(&one[0].schema(), &many).expect("concat");
            prop_assert_eq!(&one[0], &many);
            prop_assert_eq!(&rejected_one, &rejected_many);
            prop_assert_eq!(range_one, range_many);
            prop_assert_eq!(cells_one, cells_many);
            let duplicates = rejected_one.iter().filter(|r| r.kind == "duplicate identifier").count();
            prop_assert!(duplicates > 0);
        }
    }
}
