//! Reporting periods, in the syntax used everywhere (CLI, SQL results, API):
//! `2020-W42` (ISO week), `2020-04` (month), `2020-Q2` (quarter), `FY2020/21` (financial year,
//! April to March), `R12-2020-06` (rolling 12 months ending with that month).

use chrono::{Datelike, NaiveDate, Weekday};

use crate::ModelError;

/// The kind (grain) of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeriodKind {
    /// ISO 8601 week, Monday to Sunday.
    Week,
    /// Calendar month.
    Month,
    /// Calendar quarter.
    Quarter,
    /// Financial year, 1 April to 31 March.
    FinancialYear,
    /// Twelve months ending with a month.
    Rolling12,
}

impl PeriodKind {
    /// Parses a grain name (`week`, `month`, `quarter`, `financial_year`, `rolling12`).
    pub fn parse(s: &str) -> Result<PeriodKind, ModelError> {
        Ok(match s {
            "week" => PeriodKind::Week,
            "month" => PeriodKind::Month,
            "quarter" => PeriodKind::Quarter,
            "financial_year" | "fy" => PeriodKind::FinancialYear,
            "rolling12" | "r12" => PeriodKind::Rolling12,
            _ => {
                return Err(ModelError::Unknown {
                    kind: "period grain",
                    name: s.to_string(),
                    known: "week, month, quarter, financial_year, rolling12".into(),
                });
            }
        })
    }

    /// The grain's name.
    pub fn name(self) -> &'static str {
        match self {
            PeriodKind::Week => "week",
            PeriodKind::Month => "month",
            PeriodKind::Quarter => "quarter",
            PeriodKind::FinancialYear => "financial_year",
            PeriodKind::Rolling12 => "rolling12",
        }
    }
}

/// A period: its label and inclusive first and last day.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    /// Kind.
    pub kind: PeriodKind,
    /// Label in the canonical syntax.
    pub label: String,
    /// First day.
    pub start: NaiveDate,
    /// Last day.
    pub end: NaiveDate,
}

fn ymd(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

fn month_end(y: i32, m: u32) -> Option<NaiveDate> {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    ymd(ny, nm, 1)?.pred_opt()
}

impl Period {
    /// Parses a period label. Errors say which syntaxes are accepted.
    pub fn parse(s: &str) -> Result<Period, ModelError> {
        let s = s.trim();
        let bad = || {
            ModelError::Invalid {
            what: format!("period '{s}'"),
            message: "expected 2020-W42 (ISO week), 2020-04 (month), 2020-Q2 (quarter), FY2020/21 (financial year) or R12-2020-06 (rolling 12 months)".into(),
        }
        };
        let num = |t: &str| t.parse::<i32>().map_err(|_| bad());
        if let Some(rest) = s.strip_prefix("FY") {
            let (a, b) = rest.split_once('/').ok_or_else(bad)?;
            let y = num(a)?;
            if b.len() != 2 || num(b)? != (y + 1) % 100 {
                return Err(bad());
            }
            return Period::financial_year(y).ok_or_else(bad);
        }
        if let Some(rest) = s.strip_prefix("R12-") {
            let (y, m) = rest.split_once('-').ok_or_else(bad)?;
            return Period::rolling12(num(y)?, num(m)? as u32).ok_or_else(bad);
        }
        let (y, rest) = s.split_once('-').ok_or_else(bad)?;
        let y = num(y)?;
        if let Some(w) = rest.strip_prefix('W') {
            return Period::week(y, num(w)? as u32).ok_or_else(bad);
        }
        if let Some(q) = rest.strip_prefix('Q') {
            return Period::quarter(y, num(q)? as u32).ok_or_else(bad);
        }
        if rest.len() == 2 {
            return Period::month(y, num(rest)? as u32).ok_or_else(bad);
        }
        Err(bad())
    }

    /// The period of a Fingertips time period label, where Marmot has one: a calendar year
    /// (`2017`) is the rolling 12 months to its December (`R12-2017-12`), a financial year
    /// (`2017/18`) is `FY2017/18`, a financial quarter (`2019/20 Q1`, April to June) the
    /// calendar quarter it is (`2019-Q2`). Pooled years (`2015 - 17`) and other labels have
    /// none.
    pub fn from_fingertips(label: &str) -> Option<Period> {
        let s = label.trim();
        let digits = |t: &str| t.len() == 4 && t.bytes().all(|b| b.is_ascii_digit());
        if digits(s) {
            return Period::rolling12(s.parse().ok()?, 12);
        }
        if let Some((fy, q)) = s.split_once(" Q") {
            let fy = Period::from_fingertips(fy)?;
            if fy.kind != PeriodKind::FinancialYear {
                return None;
            }
            let y = fy.start.year();
            return match q {
                "1" => Period::quarter(y, 2),
                "2" => Period::quarter(y, 3),
                "3" => Period::quarter(y, 4),
                "4" => Period::quarter(y + 1, 1),
                _ => None,
            };
        }
        if let Some((a, b)) = s.split_once('/')
            && digits(a)
            && b.len() == 2
        {
            let y: i32 = a.parse().ok()?;
            return (b.parse::<i32>().ok()? == (y + 1) % 100)
                .then(|| Period::financial_year(y))
                .flatten();
        }
        None
    }

    /// ISO week `w` of ISO year `y`.
    pub fn week(y: i32, w: u32) -> Option<Period> {
        let start = NaiveDate::from_isoywd_opt(y, w, Weekday::Mon)?;
        Some(Period {
            kind: PeriodKind::Week,
            label: format!("{y}-W{w:02}"),
            start,
            end: start + chrono::Days::new(6),
        })
    }

    /// Calendar month.
    pub fn month(y: i32, m: u32) -> Option<Period> {
        Some(Period {
            kind: PeriodKind::Month,
            label: format!("{y}-{m:02}"),
            start: ymd(y, m, 1)?,
            end: month_end(y, m)?,
        })
    }

    /// Calendar quarter (1-4).
    pub fn quarter(y: i32, q: u32) -> Option<Period> {
        if !(1..=4).contains(&q) {
            return None;
        }
        Some(Period {
            kind: PeriodKind::Quarter,
            label: format!("{y}-Q{q}"),
            start: ymd(y, 3 * q - 2, 1)?,
            end: month_end(y, 3 * q)?,
        })
    }

    /// Financial year starting 1 April of `y`.
    pub fn financial_year(y: i32) -> Option<Period> {
        Some(Period {
            kind: PeriodKind::FinancialYear,
            label: format!("FY{y}/{:02}", (y + 1) % 100),
            start: ymd(y, 4, 1)?,
            end: ymd(y + 1, 3, 31)?,
        })
    }

    /// Twelve months ending with month `m` of `y`.
    pub fn rolling12(y: i32, m: u32) -> Option<Period> {
        let end = month_end(y, m)?;
        let (sy, sm) = if m == 12 { (y, 1) } else { (y - 1, m + 1) };
        Some(Period {
            kind: PeriodKind::Rolling12,
            label: format!("R12-{y}-{m:02}"),
            start: ymd(sy, sm, 1)?,
            end,
        })
    }

    /// The period of `kind` containing `d` (for rolling 12 months: the one ending with d's month).
    pub fn containing(kind: PeriodKind, d: NaiveDate) -> Option<Period> {
        match kind {
            PeriodKind::Week => {
                let w = d.iso_week();
                Period::week(w.year(), w.week())
            }
            PeriodKind::Month => Period::month(d.year(), d.month()),
            PeriodKind::Quarter => Period::quarter(d.year(), (d.month() - 1) / 3 + 1),
            PeriodKind::FinancialYear => Period::financial_year(if d.month() >= 4 {
                d.year()
            } else {
                d.year() - 1
            }),
            PeriodKind::Rolling12 => Period::rolling12(d.year(), d.month()),
        }
    }

    /// The next period of the same kind.
    pub fn next(&self) -> Option<Period> {
        Period::containing(
            self.kind,
            match self.kind {
                PeriodKind::Rolling12 => {
                    month_end(self.end.year(), self.end.month())? + chrono::Days::new(1)
                }
                _ => self.end + chrono::Days::new(1),
            },
        )
    }

    /// Every period of `kind` from the one containing `from` to the one containing `to`.
    pub fn series(kind: PeriodKind, from: NaiveDate, to: NaiveDate) -> Vec<Period> {
        let mut out = Vec::new();
        let mut p = Period::containing(kind, from);
        while let Some(cur) = p {
            if cur.start > to && !(kind == PeriodKind::Rolling12 && cur.end <= to) {
                break;
            }
            if kind == PeriodKind::Rolling12 && cur.end > to {
                break;
            }
            p = cur.next();
            out.push(cur);
        }
        out
    }

    /// Days in the period.
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingertips_time_periods_become_marmot_periods_where_marmot_has_them() {
        let l = |s: &str| Period::from_fingertips(s).map(|p| p.label);
        assert_eq!(l("2017").as_deref(), Some("R12-2017-12"));
        assert_eq!(l("2017/18").as_deref(), Some("FY2017/18"));
        assert_eq!(l("2019/20 Q1").as_deref(), Some("2019-Q2"));
        assert_eq!(l("2019/20 Q4").as_deref(), Some("2020-Q1"));
        for none in [
            "2015 - 17",
            "2017/19",
            "2016/18",
            "Jan 2020",
            "",
            "2019/20 Q5",
        ] {
            assert_eq!(l(none), None, "{none}");
        }
    }

    fn p(s: &str) -> (String, String, String) {
        let x = Period::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        (x.label, x.start.to_string(), x.end.to_string())
    }

    #[test]
    fn parses_every_syntax() {
        assert_eq!(
            p("2020-W42"),
            ("2020-W42".into(), "2020-10-12".into(), "2020-10-18".into())
        );
        assert_eq!(
            p("2020-W01"),
            ("2020-W01".into(), "2019-12-30".into(), "2020-01-05".into())
        );
        assert_eq!(
            p("2020-04"),
            ("2020-04".into(), "2020-04-01".into(), "2020-04-30".into())
        );
        assert_eq!(
            p("2020-Q2"),
            ("2020-Q2".into(), "2020-04-01".into(), "2020-06-30".into())
        );
        assert_eq!(
            p("FY2020/21"),
            ("FY2020/21".into(), "2020-04-01".into(), "2021-03-31".into())
        );
        assert_eq!(
            p("FY1999/00"),
            ("FY1999/00".into(), "1999-04-01".into(), "2000-03-31".into())
        );
        assert_eq!(
            p("R12-2020-06"),
            (
                "R12-2020-06".into(),
                "2019-07-01".into(),
                "2020-06-30".into()
            )
        );
        assert_eq!(
            p("R12-2020-12"),
            (
                "R12-2020-12".into(),
                "2020-01-01".into(),
                "2020-12-31".into()
            )
        );
    }

    #[test]
    fn rejects_nonsense_with_the_accepted_syntaxes() {
        for bad in [
            "2020-W54",
            "2020-13",
            "2020-Q5",
            "FY2020/22",
            "R12-2020-13",
            "2020",
            "April 2020",
            "",
        ] {
            let e = Period::parse(bad).expect_err(bad).to_string();
            assert!(e.contains("ISO week"), "{bad}: {e}");
        }
    }

    #[test]
    fn series_cover_a_range_without_gaps() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
        let weeks = Period::series(PeriodKind::Week, d("2020-01-01"), d("2020-12-31"));
        assert_eq!(weeks.first().map(|p| p.label.as_str()), Some("2020-W01"));
        assert_eq!(weeks.last().map(|p| p.label.as_str()), Some("2020-W53"));
        for w in weeks.windows(2) {
            assert_eq!(w[0].end + chrono::Days::new(1), w[1].start);
        }
        let fys = Period::series(PeriodKind::FinancialYear, d("2015-01-01"), d("2021-03-31"));
        assert_eq!(
            fys.iter().map(|p| p.label.as_str()).collect::<Vec<_>>(),
            [
                "FY2014/15",
                "FY2015/16",
                "FY2016/17",
                "FY2017/18",
                "FY2018/19",
                "FY2019/20",
                "FY2020/21"
            ]
        );
        let r = Period::series(PeriodKind::Rolling12, d("2020-01-01"), d("2020-03-31"));
        assert_eq!(
            r.iter().map(|p| p.label.as_str()).collect::<Vec<_>>(),
            ["R12-2020-01", "R12-2020-02", "R12-2020-03"]
        );
        assert_eq!(Period::parse("2020-02").expect("month").days(), 29);
    }
}
