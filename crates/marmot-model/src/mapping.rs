//! Source mappings: how a partner's own export becomes a contract's shape.
//!
//! A mapping is a TOML document (shipped ones in `data/mappings/<name>.toml`, a lake's own in
//! `<lake>/_marmot/mappings/`). Ingest reads the partner's file as text (every column Utf8, the
//! header as the partner wrote it), optionally unpivots a wide layout, registers it in DataFusion
//! as the table `input`, runs the mapping's `sql`, reformats the dates it names, and validates
//! the result against the contract as if the partner had sent it. docs/mappings.md has the
//! reference and a worked example.

use std::collections::BTreeMap;

use chrono::format::{Item, StrftimeItems};
use serde::Deserialize;

use crate::{ModelError, contract::is_dataset_name};

/// How the partner's file is read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaderOptions {
    /// The field separator, one character (default `,`; `\t` for tab).
    #[serde(default = "comma")]
    pub delimiter: String,
    /// Lines before the header row (titles, notes) that are skipped (default 0).
    #[serde(default)]
    pub skip_lines: usize,
    /// Header names are lower-cased before the SQL runs (default false), so that one mapping
    /// reads a publisher's upper-case layout and copies whose headers were lower-cased.
    #[serde(default)]
    pub lowercase_headers: bool,
    /// A data line with fewer fields than the header has its missing trailing fields read as
    /// empty (default false: such a line is a whole-file error). Fingertips exports leave off
    /// their last, empty column on every data line.
    #[serde(default)]
    pub pad_short_rows: bool,
}

fn comma() -> String {
    ",".into()
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            delimiter: comma(),
            skip_lines: 0,
            lowercase_headers: false,
            pad_short_rows: false,
        }
    }
}

impl ReaderOptions {
    /// The delimiter as a byte (checked to be one ASCII character by [`Mapping::from_toml`]).
    pub fn delimiter_byte(&self) -> u8 {
        match self.delimiter.as_str() {
            "\\t" => b'\t',
            d => d.as_bytes().first().copied().unwrap_or(b','),
        }
    }
}

/// A wide layout (one column per period) turned into long rows before the SQL runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WideToLong {
    /// The columns to unpivot: every header starting with this prefix (e.g. `wk_`).
    pub prefix: String,
    /// The new column holding the unpivoted header (e.g. `wk_05`).
    pub name_to: String,
    /// The new column holding the cell's value.
    pub value_to: String,
}

/// A source mapping.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Mapping name, used on the command line (`--mapping police-uk`).
    pub name: String,
    /// Version: recorded with every ingest it reads, so a changed mapping is visible in the
    /// dataset's history.
    pub version: String,
    /// The dataset (contract) it produces rows for.
    pub dataset: String,
    /// Display title.
    pub title: String,
    /// What files it reads and where they come from.
    pub description: String,
    /// Reader options.
    #[serde(default)]
    pub reader: ReaderOptions,
    /// Unpivot a wide layout before the SQL runs.
    #[serde(default)]
    pub wide_to_long: Option<WideToLong>,
    /// Output column -> the date formats (chrono `strftime`, e.g. `%Y-%m`, `%d/%m/%Y`) its
    /// values may be in; each value is rewritten as `YYYY-MM-DD` (a format without a day reads
    /// the first of the month). A value in none of them is left as it is, so the contract
    /// rejects that row (with its row number) rather than the whole file.
    #[serde(default)]
    pub date_formats: BTreeMap<String, Vec<String>>,
    /// The query over `input` (DataFusion SQL) whose columns are the contract's.
    pub sql: String,
    /// The document as written, for line numbers in errors.
    #[serde(skip)]
    text: String,
}

impl Mapping {
    /// Parses and checks a mapping. `what` names the document in errors.
    pub fn from_toml(what: &str, text: &str) -> Result<Mapping, ModelError> {
        let mut m: Mapping = toml::from_str(text).map_err(|e| ModelError::Parse {
            what: what.to_string(),
            message: e.to_string(),
        })?;
        m.text = text.to_string();
        m.check().map_err(|message| ModelError::Invalid {
            what: what.to_string(),
            message,
        })?;
        Ok(m)
    }

    fn check(&self) -> Result<(), String> {
        let b = self.name.as_bytes();
        if b.is_empty()
            || b.len() > 40
            || !b[0].is_ascii_lowercase()
            || !b
                .iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
        {
            return Err(format!(
                "name '{}': a mapping name is a lowercase letter then lowercase letters, digits, - \
                 or _ (at most 40)",
                self.name
            ));
        }
        if self.version.trim().is_empty() {
            return Err("version must not be empty".into());
        }
        if !is_dataset_name(&self.dataset) {
            return Err(format!("dataset '{}' is not a dataset name", self.dataset));
        }
        let d = self.reader.delimiter.as_str();
        if !(d == "\\t" || (d.len() == 1 && d.is_ascii() && d != "\"" && d != "\n")) {
            return Err(format!(
                "reader.delimiter '{d}' must be one character (\\t for tab)"
            ));
        }
        if self.sql.trim().is_empty() {
            return Err("sql must not be empty".into());
        }
        for (column, formats) in &self.date_formats {
            if formats.is_empty() {
                return Err(format!("date_formats.{column} lists no format"));
            }
            for f in formats {
                if StrftimeItems::new(f).any(|i| matches!(i, Item::Error)) {
                    return Err(format!(
                        "date_formats.{column}: '{f}' is not a chrono strftime format"
                    ));
                }
            }
        }
        if let Some(w) = &self.wide_to_long
            && (w.prefix.is_empty() || w.name_to.is_empty() || w.value_to.is_empty())
        {
            return Err("wide_to_long needs prefix, name_to and value_to".into());
        }
        Ok(())
    }

    /// The 1-based line of the document where the `sql` key starts.
    pub fn sql_line(&self) -> usize {
        self.text
            .lines()
            .position(|l| l.trim_start().starts_with("sql"))
            .map_or(1, |i| i + 1)
    }

    /// The 1-based line of the document where `needle` first appears at or after the `sql` key
    /// (a column the query names), else the `sql` key's line.
    pub fn line_of(&self, needle: &str) -> usize {
        let start = self.sql_line();
        self.text
            .lines()
            .enumerate()
            .skip(start - 1)
            .find(|(_, l)| l.contains(needle))
            .map_or(start, |(i, _)| i + 1)
    }

    /// Reads `value` with the formats listed for `column`, as `YYYY-MM-DD`. `None` when the
    /// column has no formats or the value fits none of them.
    pub fn reformat_date(&self, column: &str, value: &str) -> Option<String> {
        let formats = self.date_formats.get(column)?;
        let v = value.trim();
        formats.iter().find_map(|f| {
            // A format that names the day (of the month, year or ISO week) is read as it is;
            // one of a month alone (`%Y-%m`) reads the month's first day.
            let date = if ["%d", "%e", "%j", "%u"].iter().any(|d| f.contains(d)) {
                chrono::NaiveDate::parse_from_str(v, f).ok()
            } else {
                chrono::NaiveDate::parse_from_str(&format!("{v} 01"), &format!("{f} %d")).ok()
            }?;
            Some(date.format("%Y-%m-%d").to_string())
        })
    }
}

/// The shipped mappings: (name, TOML).
pub const BUILTIN_MAPPINGS: &[(&str, &str)] = &[
    (
        "police-uk",
        include_str!("../../../data/mappings/police-uk.toml"),
    ),
    (
        "nhs-gp-appointments",
        include_str!("../../../data/mappings/nhs-gp-appointments.toml"),
    ),
    (
        "ukhsa-covid-msoa-wide",
        include_str!("../../../data/mappings/ukhsa-covid-msoa-wide.toml"),
    ),
    (
        "ukhsa-covid-cases",
        include_str!("../../../data/mappings/ukhsa-covid-cases.toml"),
    ),
    (
        "fingertips-export",
        include_str!("../../../data/mappings/fingertips-export.toml"),
    ),
];

/// Every shipped mapping, parsed.
pub fn builtin_mappings() -> Result<Vec<Mapping>, ModelError> {
    BUILTIN_MAPPINGS
        .iter()
        .map(|(name, text)| Mapping::from_toml(&format!("data/mappings/{name}.toml"), text))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_mappings_parse_and_name_their_lines() {
        let all = builtin_mappings().expect("shipped mappings parse");
        let police = all
            .iter()
            .find(|m| m.name == "police-uk")
            .expect("police-uk");
        assert_eq!(police.dataset, "street_crime");
        assert!(police.sql_line() > 1);
        let l = police.line_of("\"LSOA code\"");
        assert!(l > police.sql_line(), "{l}");
        assert_eq!(
            police.reformat_date("month", "2020-06").as_deref(),
            Some("2020-06-01")
        );
        assert_eq!(police.reformat_date("month", "June 2020"), None);
        // UKHSA's wide MSOA file numbers ISO weeks of 2020: week 1 began on 30 December 2019,
        // week 41 on 5 October 2020 (both Mondays).
        let ukhsa = all
            .iter()
            .find(|m| m.name == "ukhsa-covid-msoa-wide")
            .expect("ukhsa-covid-msoa-wide");
        assert_eq!(
            ukhsa.reformat_date("week_start", "2020-W01-1").as_deref(),
            Some("2019-12-30")
        );
        assert_eq!(
            ukhsa.reformat_date("week_start", "2020-W41-1").as_deref(),
            Some("2020-10-05")
        );
        assert_eq!(ukhsa.reformat_date("week_start", "2020-W54-1"), None);
    }

    #[test]
    fn a_bad_mapping_says_what_is_wrong() {
        let base = r#"
name = "x"
version = "1"
dataset = "police"
title = "t"
description = "d"
sql = "SELECT 1 FROM input"
"#;
        assert!(Mapping::from_toml("x.toml", base).is_ok());
        let bad = |extra: &str, replace: (&str, &str)| {
            let text = format!("{}{extra}", base.replace(replace.0, replace.1));
            match Mapping::from_toml("x.toml", &text) {
                Err(ModelError::Invalid { message, .. }) => message,
                Err(ModelError::Parse { message, .. }) => message,
                other => panic!("accepted: {other:?}"),
            }
        };
        assert!(bad("", ("name = \"x\"", "name = \"X Y\"")).contains("mapping name"));
        assert!(bad("", ("version = \"1\"", "version = \"\"")).contains("version"));
        assert!(bad("[reader]\ndelimiter = \";;\"\n", ("", "")).contains("one character"));
        assert!(bad("[date_formats]\nd = [\"%Q\"]\n", ("", "")).contains("strftime"));
        assert!(bad("colour = 1\n", ("", "")).contains("colour"));
    }
}
