//! Applying a source mapping ([`marmot_model::Mapping`]) to a partner's file.
//!
//! The file is read as text (every cell Utf8, an empty cell NULL, the header as written),
//! unpivoted when the mapping says so, registered in DataFusion as `input`, and the mapping's
//! SQL runs over it. The result, dates rewritten by the mapping's `date_formats`, is written as
//! a CSV that ingest then validates against the contract as if the partner had sent it; the
//! original file is what the lake keeps. Pure transformation: nothing here touches the lake.
//!
//! A mapping keeps rows one for one (a row it cannot use is for the contract to reject, with
//! its row number), so rows read still account for every input row. Only a wide-to-long
//! mapping makes several rows of one. Anything that stops the mapping (a column it names is
//! not in the file, a query error) is a whole-file error naming the mapping's line.
//!
//! The file is held in memory while it is mapped: mappings are for partner exports (a month
//! of police.uk for a force is a few thousand rows), not for multi-gigabyte extracts, which
//! go in in the contract's own shape.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};
use marmot_model::Mapping;

use crate::LakeError;

/// What applying a mapping produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// Data rows in the partner's file.
    pub source_rows: u64,
    /// Rows the mapping produced (equal to `source_rows` unless it unpivots).
    pub rows: u64,
    /// The output columns, in order.
    pub columns: Vec<String>,
}

fn mapping_error(m: &Mapping, file: &str, line: usize, message: String) -> LakeError {
    LakeError::file(
        file,
        format!(
            "mapping {} (version {}), line {line}: {message}; nothing was changed",
            m.name, m.version
        ),
    )
}

/// The column a query names that its input lacks, when that is why it failed.
fn missing_field(e: &DataFusionError) -> Option<String> {
    match e.find_root() {
        DataFusionError::SchemaError(se, _) => match se.as_ref() {
            datafusion::common::SchemaError::FieldNotFound { field, .. } => {
                Some(field.name.clone())
            }
            _ => None,
        },
        _ => None,
    }
}

/// Reads `src` (named `file` in errors) as text columns.
fn read_text(m: &Mapping, src: &Path, file: &str) -> Result<RecordBatch, LakeError> {
    let bytes =
        std::fs::read(src).map_err(|e| LakeError::file(file, format!("cannot read: {e}")))?;
    let mut body: &[u8] = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    for _ in 0..m.reader.skip_lines {
        match body.iter().position(|b| *b == b'\n') {
            Some(i) => body = &body[i + 1..],
            None => body = &[],
        }
    }
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(m.reader.delimiter_byte())
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
    let mut records = rdr.byte_records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(LakeError::file(file, format!("the header row: {e}"))),
        None => return Err(LakeError::file(file, "the file is empty")),
    };
    let names: Vec<String> = header
        .iter()
        .map(|h| {
            let n = String::from_utf8_lossy(h).trim().to_string();
            if m.reader.lowercase_headers {
                n.to_lowercase()
            } else {
                n
            }
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() {
            return Err(LakeError::file(
                file,
                format!("column {} of the header has no name", i + 1),
            ));
        }
        if !seen.insert(n.to_ascii_lowercase()) {
            return Err(LakeError::file(
                file,
                format!("column '{n}' appears twice in the header"),
            ));
        }
    }
    let mut cols: Vec<StringBuilder> = names.iter().map(|_| StringBuilder::new()).collect();
    // Line numbers as a spreadsheet shows them: skipped lines, then the header, then rows.
    let first_data_line = m.reader.skip_lines + 2;
    for (k, rec) in records.enumerate() {
        let line = first_data_line + k;
        let rec = rec.map_err(|e| LakeError::file(file, format!("line {line}: {e}")))?;
        let short = rec.len() < names.len() && m.reader.pad_short_rows;
        if rec.len() != names.len() && !short {
            return Err(LakeError::file(
                file,
                format!(
                    "line {line} has {} fields where the header has {}; a mapped file must be \
                     rectangular (`pad_short_rows = true` reads missing trailing fields as empty)",
                    rec.len(),
                    names.len()
                ),
            ));
        }
        for b in cols.iter_mut().skip(rec.len()) {
            b.append_null();
        }
        for (b, v) in cols.iter_mut().zip(rec.iter()) {
            let v = std::str::from_utf8(v)
                .map_err(|_| LakeError::file(file, format!("line {line}: not UTF-8 text")))?;
            if v.trim().is_empty() {
                b.append_null();
            } else {
                b.append_value(v);
            }
        }
    }
    let schema = Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let arrays: Vec<ArrayRef> = cols
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    Ok(RecordBatch::try_new(schema, arrays)?)
}

/// Unpivots the columns whose header starts with the mapping's prefix.
fn wide_to_long(
    m: &Mapping,
    w: &marmot_model::WideToLong,
    batch: &RecordBatch,
    file: &str,
) -> Result<RecordBatch, LakeError> {
    let schema = batch.schema();
    let (wide, ids): (Vec<usize>, Vec<usize>) =
        (0..schema.fields().len()).partition(|&i| schema.field(i).name().starts_with(&w.prefix));
    if wide.is_empty() {
        return Err(mapping_error(
            m,
            file,
            m.line_of(&w.prefix),
            format!("no column of the file starts with '{}'", w.prefix),
        ));
    }
    let text = |i: usize| -> Result<&StringArray, LakeError> {
        batch
            .column(i)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| LakeError::Internal("mapped input is not text".into()))
    };
    let mut id_cols: Vec<StringBuilder> = ids.iter().map(|_| StringBuilder::new()).collect();
    let mut name_col = StringBuilder::new();
    let mut value_col = StringBuilder::new();
    for r in 0..batch.num_rows() {
        for &c in &wide {
            for (b, &i) in id_cols.iter_mut().zip(&ids) {
                let a = text(i)?;
                b.append_option(a.is_valid(r).then(|| a.value(r)));
            }
            name_col.append_value(schema.field(c).name());
            let a = text(c)?;
            value_col.append_option(a.is_valid(r).then(|| a.value(r)));
        }
    }
    let mut fields: Vec<Field> = ids
        .iter()
        .map(|&i| Field::new(schema.field(i).name(), DataType::Utf8, true))
        .collect();
    fields.push(Field::new(&w.name_to, DataType::Utf8, true));
    fields.push(Field::new(&w.value_to, DataType::Utf8, true));
    let mut arrays: Vec<ArrayRef> = id_cols
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    arrays.push(Arc::new(name_col.finish()));
    arrays.push(Arc::new(value_col.finish()));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// Applies `m` to the partner's file `src` (named `file` in errors) and writes the result as
/// CSV to `out`.
pub async fn apply(m: &Mapping, src: &Path, file: &str, out: &Path) -> Result<Mapped, LakeError> {
    let input = read_text(m, src, file)?;
    let source_rows = input.num_rows() as u64;
    let input = match &m.wide_to_long {
        Some(w) => wide_to_long(m, w, &input, file)?,
        None => input,
    };
    // One partition: the output keeps the file's row order, so row numbers stay true.
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
    let table = MemTable::try_new(input.schema(), vec![vec![input]])?;
    ctx.register_table("input", Arc::new(table))?;
    let fail = |e: DataFusionError| match missing_field(&e) {
        Some(col) => mapping_error(
            m,
            file,
            m.line_of(&col),
            format!("the file has no column '{col}'"),
        ),
        None => mapping_error(m, file, m.sql_line(), e.to_string()),
    };
    let df = ctx.sql(&m.sql).await.map_err(fail)?;
    let batches = df.collect().await.map_err(fail)?;
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    if m.wide_to_long.is_none() && rows != source_rows {
        return Err(mapping_error(
            m,
            file,
            m.sql_line(),
            format!(
                "the query made {rows} rows of the file's {source_rows}: a mapping keeps rows \
                 one for one (leave rows it cannot use to the contract, which rejects them with \
                 their row number)"
            ),
        ));
    }
    let columns: Vec<String> = match batches.first() {
        Some(b) => b
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect(),
        None => Vec::new(),
    };
    for c in m.date_formats.keys() {
        if !columns.is_empty() && !columns.contains(c) {
            return Err(mapping_error(
                m,
                file,
                m.line_of(c),
                format!("date_formats names '{c}', which the query does not produce"),
            ));
        }
    }
    let mut w = csv::Writer::from_path(out)
        .map_err(|e| LakeError::Internal(format!("{}: {e}", out.display())))?;
    let csv_err = |e: csv::Error| LakeError::Internal(format!("{}: {e}", out.display()));
    w.write_record(&columns).map_err(csv_err)?;
    for b in &batches {
        let text: Vec<StringArray> = b
            .columns()
            .iter()
            .map(|c| {
                arrow::compute::cast(c, &DataType::Utf8).and_then(|a| {
                    a.as_any()
                        .downcast_ref::<StringArray>()
                        .cloned()
                        .ok_or_else(|| arrow::error::ArrowError::CastError("to text".into()))
                })
            })
            .collect::<Result<_, _>>()?;
        let mut row: Vec<String> = vec![String::new(); columns.len()];
        for r in 0..b.num_rows() {
            for (k, a) in text.iter().enumerate() {
                row[k] = if a.is_valid(r) {
                    let v = a.value(r);
                    m.reformat_date(&columns[k], v)
                        .unwrap_or_else(|| v.to_string())
                } else {
                    String::new()
                };
            }
            w.write_record(&row).map_err(csv_err)?;
        }
    }
    w.flush()
        .map_err(|e| LakeError::Internal(format!("{}: {e}", out.display())))?;
    Ok(Mapped {
        source_rows,
        rows,
        columns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(extra: &str, sql: &str) -> Mapping {
        let text = format!(
            "name = \"t\"\nversion = \"2\"\ndataset = \"police\"\ntitle = \"t\"\n\
             description = \"d\"\nsql = \"\"\"\n{sql}\n\"\"\"\n{extra}"
        );
        Mapping::from_toml("t.toml", &text).expect("mapping")
    }

    async fn run(m: &Mapping, body: &str) -> Result<(Mapped, String), LakeError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("in.csv");
        let out = dir.path().join("out.csv");
        std::fs::write(&src, body).expect("write");
        let r = apply(m, &src, "in.csv", &out).await?;
        Ok((r, std::fs::read_to_string(&out).expect("read")))
    }

    #[tokio::test]
    async fn rows_map_one_for_one_with_dates_rewritten() {
        let m = mapping(
            "[date_formats]\nmonth = [\"%Y-%m\"]\n",
            "SELECT \"Month\" AS month, upper(\"Name\") AS name FROM input",
        );
        let (r, out) = run(&m, "Name,Month\na,2020-06\n,2020-13\nc,\n")
            .await
            .expect("maps");
        assert_eq!((r.source_rows, r.rows), (3, 3));
        assert_eq!(out, "month,name\n2020-06-01,A\n2020-13,\n,C\n");
    }

    #[tokio::test]
    async fn a_missing_column_is_a_whole_file_error_naming_the_mapping_line() {
        let m = mapping(
            "",
            "SELECT\n  \"Month\" AS month,\n  \"LSOA code\" AS lsoa_code\nFROM input",
        );
        let e = run(&m, "Month,LSOA\n2020-01,E01000001\n")
            .await
            .expect_err("fails");
        let text = e.to_string();
        assert!(matches!(e, LakeError::File { .. }), "{text}");
        // name=1 version=2 dataset=3 title=4 description=5 sql=6 SELECT=7 Month=8 LSOA=9
        assert!(text.contains("mapping t (version 2), line 9"), "{text}");
        assert!(text.contains("no column 'LSOA code'"), "{text}");
    }

    #[tokio::test]
    async fn a_filtering_query_is_refused_so_every_row_stays_accounted_for() {
        let m = mapping("", "SELECT \"A\" AS a FROM input WHERE \"A\" = 'x'");
        let e = run(&m, "A\nx\ny\n").await.expect_err("fails");
        assert!(e.to_string().contains("one for one"), "{e}");
    }

    #[tokio::test]
    async fn wide_columns_are_unpivoted() {
        let m = mapping(
            "[wide_to_long]\nprefix = \"wk_\"\nname_to = \"week\"\nvalue_to = \"n\"\n",
            "SELECT area, week, n FROM input",
        );
        let (r, out) = run(&m, "area,wk_05,wk_06\nE02000001,3,-99\nE02000002,,7\n")
            .await
            .expect("maps");
        assert_eq!((r.source_rows, r.rows), (2, 4));
        assert_eq!(
            out,
            "area,week,n\nE02000001,wk_05,3\nE02000001,wk_06,-99\nE02000002,wk_05,\nE02000002,wk_06,7\n"
        );
    }

    #[tokio::test]
    async fn short_rows_are_padded_only_when_the_mapping_says_so() {
        let sql = "SELECT a, b, c FROM input";
        let body = "a,b,c\n1,2\n3,4,5\n";
        let e = run(&mapping("", sql), body).await.expect_err("ragged");
        assert!(e.to_string().contains("line 2 has 2 fields"), "{e}");
        let m = mapping("[reader]\npad_short_rows = true\n", sql);
        let (_, out) = run(&m, body).await.expect("padded");
        assert_eq!(out, "a,b,c\n1,2,\n3,4,5\n");
        let e = run(&m, "a,b\n1,2,3\n").await.expect_err("long");
        assert!(e.to_string().contains("line 2 has 3 fields"), "{e}");
    }

    #[tokio::test]
    async fn skipped_lines_and_other_delimiters_are_read() {
        let m = mapping(
            "[reader]\ndelimiter = \";\"\nskip_lines = 2\n",
            "SELECT \"B\" AS b FROM input",
        );
        let (_, out) = run(&m, "Title line\n\nA;B\n1;2\n").await.expect("maps");
        assert_eq!(out, "b\n2\n");
    }

    #[tokio::test]
    async fn the_shipped_gp_appointments_mapping_reads_the_publications_own_layout() {
        // NHS England's regional CSV as published: upper-case headers, months as JUN2023,
        // "Unknown" spelt out, "Video Conference/Online" in older files. (The real file in
        // tests/fixtures is a third party's copy with lower-cased headers and dates.)
        let m = marmot_model::builtin_mappings()
            .expect("mappings")
            .into_iter()
            .find(|m| m.name == "nhs-gp-appointments")
            .expect("shipped");
        let body = "SUB_ICB_LOCATION_CODE,SUB_ICB_LOCATION_ONS_CODE,SUB_ICB_LOCATION_NAME,ICB_ONS_CODE,\
ICB_NAME,REGION_ONS_CODE,REGION_NAME,APPOINTMENT_MONTH,APPT_STATUS,HCP_TYPE,APPT_MODE,\
TIME_BETWEEN_BOOK_AND_APPT,COUNT_OF_APPOINTMENTS\n\
99G,E38000168,NHS Mid and South Essex ICB - 99G,E54000026,x,E40000007,East of England,JUN2023,\
DNA,GP,Video Conference/Online,8  to 14 Days,12\n\
99G,E38000168,NHS Mid and South Essex ICB - 99G,E54000026,x,E40000007,East of England,Jul2023,\
Unknown,Unknown,Unknown,Unknown / Data Quality,3\n";
        let (r, out) = run(&m, body).await.expect("maps");
        assert_eq!((r.source_rows, r.rows), (2, 2));
        assert_eq!(
            out,
            "appointment_month,sub_icb_code,sub_icb_nhs_code,appt_status,hcp_type,appt_mode,\
time_between_book_and_appt,appointments\n\
2023-06-01,E38000168,99G,DNA,GP,Video/Online,8  to 14 Days,12\n\
2023-07-01,E38000168,99G,Unknown,Unknown,Unknown,Unknown / Data Quality,3\n"
        );
    }
}
