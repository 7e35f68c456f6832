//! Input data: a weekly count series with optional week-start dates and an
//! optional population (for offsets).

use std::ops::Range;

use super::error::{Result, SurveillanceError};

/// A proleptic Gregorian calendar date, stored as days since 1970-01-01.
///
/// Only what the algorithms need (year arithmetic and weekdays) is provided,
/// so that the module does not depend on a date crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    days: i64,
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    // Howard Hinnant's algorithm; valid for all i64-representable years we use.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

impl Date {
    /// Builds a date from year, month (1-12) and day (1-31).
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Result<Self> {
        let y = i64::from(year);
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(y, month) {
            return Err(SurveillanceError::InvalidDate(format!(
                "{year:04}-{month:02}-{day:02}"
            )));
        }
        Ok(Date {
            days: days_from_civil(y, month, day),
        })
    }

    /// Parses an ISO `YYYY-MM-DD` date.
    pub fn parse_iso(s: &str) -> Result<Self> {
        let err = || SurveillanceError::InvalidDate(s.to_string());
        let mut it = s.trim().splitn(3, '-');
        let y: i32 = it.next().ok_or_else(err)?.parse().map_err(|_| err())?;
        let m: u32 = it.next().ok_or_else(err)?.parse().map_err(|_| err())?;
        let d: u32 = it.next().ok_or_else(err)?.parse().map_err(|_| err())?;
        Date::from_ymd(y, m, d)
    }

    /// Builds a date from days since 1970-01-01.
    pub fn from_days_since_epoch(days: i64) -> Self {
        Date { days }
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(self) -> i64 {
        self.days
    }

    /// (year, month, day).
    pub fn ymd(self) -> (i64, u32, u32) {
        civil_from_days(self.days)
    }

    /// Weekday as in C's `%w`: 0 = Sunday, 1 = Monday, ..., 6 = Saturday.
    pub fn weekday_sunday0(self) -> u32 {
        (self.days + 4).rem_euclid(7) as u32
    }

    /// The date `years` calendar years earlier, normalised like R's
    /// `seq(date, by = "-1 year")` (e.g. 29 Feb minus one year is 1 Mar).
    pub fn minus_years(self, years: i64) -> Self {
        let (y, m, d) = self.ymd();
        Date {
            days: days_from_civil(y - years, m, 1) + i64::from(d) - 1,
        }
    }

    /// Adds a number of days.
    pub fn add_days(self, days: i64) -> Self {
        Date {
            days: self.days + days,
        }
    }

    /// The date with the same weekday as `weekday_of` that is closest to
    /// `self` (the convention of `surveillance` for weekly reference points).
    pub fn closest_same_weekday(self, weekday_of: Date) -> Self {
        let target = i64::from(weekday_of.weekday_sunday0());
        let actual = i64::from(self.weekday_sunday0());
        let forward = (target - actual).rem_euclid(7);
        let backward = (actual - target).rem_euclid(7);
        if forward < backward {
            self.add_days(forward)
        } else {
            self.add_days(-backward)
        }
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// A weekly series of counts, optionally with week-start dates and a
/// population per week.
///
/// Missing counts are `None`. Where dates are absent, "the same week `j`
/// years ago" is exactly `52 * j` weeks back (R: `epochAsDate = FALSE`);
/// with dates, reference weeks are found by calendar year as in R.
#[derive(Debug, Clone, PartialEq)]
pub struct WeeklySeries {
    counts: Vec<Option<f64>>,
    dates: Option<Vec<Date>>,
    population: Option<Vec<f64>>,
}

impl WeeklySeries {
    /// A series without missing values.
    pub fn new(counts: Vec<f64>) -> Result<Self> {
        Self::with_missing(counts.into_iter().map(Some).collect())
    }

    /// A series of integer counts.
    pub fn from_u64(counts: &[u64]) -> Result<Self> {
        Self::new(counts.iter().map(|&c| c as f64).collect())
    }

    /// A series where `None` marks a missing week.
    pub fn with_missing(counts: Vec<Option<f64>>) -> Result<Self> {
        if counts.is_empty() {
            return Err(SurveillanceError::EmptySeries);
        }
        for (index, c) in counts.iter().enumerate() {
            if let Some(v) = *c
                && (!v.is_finite() || v < 0.0)
            {
                return Err(SurveillanceError::InvalidCount { index, value: v });
            }
        }
        Ok(WeeklySeries {
            counts,
            dates: None,
            population: None,
        })
    }

    /// Attaches week-start dates (one per week, strictly increasing).
    pub fn dated(mut self, dates: Vec<Date>) -> Result<Self> {
        if dates.len() != self.counts.len() {
            return Err(SurveillanceError::LengthMismatch {
                what: "dates",
                expected: self.counts.len(),
                actual: dates.len(),
            });
        }
        if dates.windows(2).any(|w| w[1] <= w[0]) {
            return Err(SurveillanceError::InvalidDates(
                "dates must be strictly increasing".into(),
            ));
        }
        self.dates = Some(dates);
        Ok(self)
    }

    /// Attaches a population per week (finite, > 0), used as a GLM offset.
    pub fn with_population(mut self, population: Vec<f64>) -> Result<Self> {
        if population.len() != self.counts.len() {
            return Err(SurveillanceError::LengthMismatch {
                what: "population",
                expected: self.counts.len(),
                actual: population.len(),
            });
        }
        for (index, &value) in population.iter().enumerate() {
            if !value.is_finite() || value <= 0.0 {
                return Err(SurveillanceError::InvalidPopulation { index, value });
            }
        }
        self.population = Some(population);
        Ok(self)
    }

    /// Number of weeks.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Always false (an empty series cannot be constructed).
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The counts.
    pub fn counts(&self) -> &[Option<f64>] {
        &self.counts
    }

    /// The dates, if any.
    pub fn dates(&self) -> Option<&[Date]> {
        self.dates.as_deref()
    }

    /// The population, if any.
    pub fn population(&self) -> Option<&[f64]> {
        self.population.as_deref()
    }

    /// Count at `index` (None if missing).
    pub(super) fn count(&self, index: usize) -> Option<f64> {
        self.counts.get(index).copied().flatten()
    }

    /// Count at `index`, or an error if missing.
    pub(super) fn require(&self, index: usize) -> Result<f64> {
        self.count(index)
            .ok_or(SurveillanceError::MissingValue { index })
    }

    /// Validates an evaluation range (0-based, half-open).
    pub(super) fn check_range(&self, range: &Range<usize>) -> Result<()> {
        if range.start >= range.end || range.end > self.len() {
            return Err(SurveillanceError::InvalidRange {
                start: range.start,
                end: range.end,
                len: self.len(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_roundtrip_and_weekday() {
        let d = Date::from_ymd(2001, 1, 1).unwrap();
        assert_eq!(d.ymd(), (2001, 1, 1));
        assert_eq!(d.weekday_sunday0(), 1); // Monday
        assert_eq!(Date::from_ymd(1970, 1, 1).unwrap().days_since_epoch(), 0);
        assert_eq!(
            Date::parse_iso("2015-10-19").unwrap().to_string(),
            "2015-10-19"
        );
        assert!(Date::parse_iso("2015-02-30").is_err());
        assert!(Date::parse_iso("garbage").is_err());
    }

    #[test]
    fn minus_years_normalises_feb_29() {
        let d = Date::from_ymd(2004, 2, 29).unwrap();
        assert_eq!(d.minus_years(1).to_string(), "2003-03-01");
        assert_eq!(d.minus_years(4).to_string(), "2000-02-29");
    }

    #[test]
    fn closest_weekday() {
        // 2012-10-29 is a Monday; one year back is 2011-10-29 (Saturday),
        // the closest Monday is 2011-10-31.
        let t = Date::from_ymd(2012, 10, 29).unwrap();
        assert_eq!(
            t.minus_years(1).closest_same_weekday(t).to_string(),
            "2011-10-31"
        );
    }

    #[test]
    fn series_validation() {
        assert_eq!(
            WeeklySeries::new(vec![]),
            Err(SurveillanceError::EmptySeries)
        );
        assert!(WeeklySeries::new(vec![1.0, -1.0]).is_err());
        assert!(WeeklySeries::new(vec![1.0, f64::NAN]).is_err());
        let s = WeeklySeries::new(vec![1.0, 2.0]).unwrap();
        assert!(s.clone().with_population(vec![1.0]).is_err());
        assert!(s.clone().with_population(vec![1.0, 0.0]).is_err());
        let d = Date::from_ymd(2001, 1, 1).unwrap();
        assert!(s.clone().dated(vec![d, d]).is_err());
        assert!(s.check_range(&(0..3)).is_err());
        assert!(s.check_range(&(1..1)).is_err());
        assert!(s.check_range(&(0..2)).is_ok());
    }
}
