//! Input data: a count series with a number of periods per year (52 for
//! weekly data, the default; 12 for monthly data), optional period-start
//! dates and an optional population (for offsets).

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

    /// The date `months` calendar months later (negative: earlier),
    /// normalised like R's `seq(date, by = "1 month")`: the day of month is
    /// kept and an overflow rolls into the next month (31 Jan + 1 month is
    /// 3 Mar, or 2 Mar in a leap year).
    pub fn add_months(self, months: i64) -> Self {
        let (y, m, d) = self.ymd();
        let total = y * 12 + i64::from(m) - 1 + months;
        let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
        Date {
            days: days_from_civil(ny, nm, 1) + i64::from(d) - 1,
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

/// Periods per year of a weekly series (R `sts`: `freq = 52`), the default.
pub const WEEKLY: usize = 52;

/// Periods per year of a monthly series (R `sts`: `freq = 12`).
pub const MONTHLY: usize = 12;

/// A series of counts, weekly by default, optionally with period-start dates
/// and a population per period.
///
/// The type keeps its historical name, but the number of periods per year
/// (R's `freq` slot of an `sts` object) is a property of the series:
/// [`WEEKLY`] (52, the default of every constructor) or [`MONTHLY`] (12), set
/// with [`WeeklySeries::with_frequency`] or built directly with
/// [`WeeklySeries::monthly`]. Every algorithm of the
/// [`surveillance`](super) module follows it, as R's `surveillance` follows
/// `freq`; "week" in the docs of the algorithms then means "period"
/// (month).
///
/// Missing counts are `None`. Where dates are absent, "the same period `j`
/// years ago" is exactly `freq * j` periods back (R: `epochAsDate = FALSE`);
/// with dates, reference periods are found by calendar year as in R (weekly:
/// snapped to the weekday of the current week; monthly: the same day of
/// month, so dates are usually the 1st).
///
/// ```
/// use marmot_stats::surveillance::{Date, WeeklySeries};
/// // 13 years of monthly counts, undated: references are exactly 12 * j back.
/// let counts: Vec<f64> = (0..156).map(|i| 20.0 + (i % 12) as f64).collect();
/// let monthly = WeeklySeries::monthly(counts.clone()).unwrap();
/// assert_eq!(monthly.periods_per_year(), 12);
/// // The same, dated (first of each month from January 1985).
/// let start = Date::from_ymd(1985, 1, 1).unwrap();
/// let dates = (0..156).map(|i| start.add_months(i)).collect();
/// let dated = WeeklySeries::new(counts)
///     .unwrap()
///     .with_frequency(12)
///     .unwrap()
///     .dated(dates)
///     .unwrap();
/// assert_eq!(dated.periods_per_year(), 12);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct WeeklySeries {
    counts: Vec<Option<f64>>,
    dates: Option<Vec<Date>>,
    population: Option<Vec<f64>>,
    periods_per_year: usize,
}

impl WeeklySeries {
    /// A series without missing values.
    pub fn new(counts: Vec<f64>) -> Result<Self> {
        Self::with_missing(counts.into_iter().map(Some).collect())
    }

    /// A monthly series (12 periods per year) without missing values:
    /// `WeeklySeries::new(counts)?.with_frequency(MONTHLY)`.
    pub fn monthly(counts: Vec<f64>) -> Result<Self> {
        Self::new(counts)?.with_frequency(MONTHLY)
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
            periods_per_year: WEEKLY,
        })
    }

    /// Sets the number of periods per year (R: the `freq` of an `sts`):
    /// [`WEEKLY`] (52, the default) or [`MONTHLY`] (12); any value >= 2 is
    /// accepted for undated series. With dates, the Farrington methods need
    /// 52, 12 or 365 (as R's `epochAsDate = TRUE`) and report an error
    /// otherwise.
    ///
    /// It decides how far back "the same time of year" is for undated series
    /// (`freq * j` periods), how reference periods are found for dated ones,
    /// and the period of the harmonics of CUSUM (`m = "glm"`) and the GLR
    /// chart.
    pub fn with_frequency(mut self, periods_per_year: usize) -> Result<Self> {
        if periods_per_year < 2 {
            return Err(SurveillanceError::InvalidParameter {
                name: "periods_per_year",
                reason: format!("must be >= 2 (52 weekly, 12 monthly), got {periods_per_year}"),
            });
        }
        self.periods_per_year = periods_per_year;
        Ok(self)
    }

    /// Number of periods per year: 52 (weekly, the default) or e.g. 12
    /// (monthly).
    pub fn periods_per_year(&self) -> usize {
        self.periods_per_year
    }

    /// Attaches period-start dates (one per period, strictly increasing):
    /// week-start dates for weekly series, e.g. the 1st of each month for
    /// monthly series.
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

    /// Attaches a population per period (finite, > 0), used as a GLM offset.
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

    /// Number of periods (weeks, or months for a monthly series).
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
    fn add_months_like_r_seq() {
        let d = Date::from_ymd(2011, 1, 1).unwrap();
        assert_eq!(d.add_months(-1).to_string(), "2010-12-01");
        assert_eq!(d.add_months(-13).to_string(), "2009-12-01");
        assert_eq!(d.add_months(14).to_string(), "2012-03-01");
        // R: seq(as.Date("2011-01-31"), by = "1 month", length.out = 2)[2]
        let e = Date::from_ymd(2011, 1, 31).unwrap();
        assert_eq!(e.add_months(1).to_string(), "2011-03-03");
        assert_eq!(
            Date::from_ymd(2012, 3, 31)
                .unwrap()
                .add_months(-1)
                .to_string(),
            "2012-03-02"
        );
    }

    #[test]
    fn frequency() {
        let s = WeeklySeries::new(vec![1.0, 2.0]).unwrap();
        assert_eq!(s.periods_per_year(), WEEKLY);
        let m = WeeklySeries::monthly(vec![1.0, 2.0]).unwrap();
        assert_eq!(m.periods_per_year(), MONTHLY);
        assert!(s.clone().with_frequency(1).is_err());
        assert!(s.clone().with_frequency(0).is_err());
        let d = Date::from_ymd(2001, 1, 1).unwrap();
        let m = m.dated(vec![d, d.add_months(1)]).unwrap();
        assert_eq!(m.periods_per_year(), MONTHLY);
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
