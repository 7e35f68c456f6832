//! Pure trigger lifecycle and ranking, derived from the stored weekly evaluations.
//!
//! - One trigger per signal × area × stratum × direction: every method alarming there in the
//!   same weeks feeds the same trigger (its `methods` lists them).
//! - **Opened** in the first alarm week; **ongoing** while alarms continue or fewer than the
//!   signal's `close_after` quiet weeks have passed; **closed** in the `close_after`-th quiet
//!   week in a row. A drop alarm in a provisional week (data still filling in) opens nothing.
//! - Ranking against alert fatigue: open triggers first, then current severity, persistence
//!   (alarm weeks), population affected; stratified signals note when the most deprived
//!   quintile alarmed before the place as a whole (or while the place does not alarm).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use marmot_model::{Level, SignalMethod};

use super::evaluate::{AlarmDirection, Evaluation, week_label};

/// Where a trigger stands in the week of the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TriggerStatus {
    /// Opened this week.
    Opened,
    /// Opened earlier, not closed.
    Ongoing,
    /// Closed (this week or earlier).
    Closed,
}

impl TriggerStatus {
    /// `opened` / `ongoing` / `closed`.
    pub fn name(self) -> &'static str {
        match self {
            TriggerStatus::Opened => "opened",
            TriggerStatus::Ongoing => "ongoing",
            TriggerStatus::Closed => "closed",
        }
    }

    /// Parses a status name.
    pub fn parse(s: &str) -> Option<TriggerStatus> {
        match s {
            "opened" => Some(TriggerStatus::Opened),
            "ongoing" => Some(TriggerStatus::Ongoing),
            "closed" => Some(TriggerStatus::Closed),
            _ => None,
        }
    }

    /// Opened or ongoing.
    pub fn is_active(self) -> bool {
        self != TriggerStatus::Closed
    }
}

/// A trigger as of a week.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// Stable id: `signal/level/area/stratum/direction/opened-week`.
    pub id: String,
    /// Signal id.
    pub signal: String,
    /// Level.
    pub level: Level,
    /// Area code.
    pub area_code: String,
    /// Area name.
    pub area_name: String,
    /// `all` or the stratum.
    pub stratum: String,
    /// Direction.
    pub direction: AlarmDirection,
    /// Status in the snapshot week.
    pub status: TriggerStatus,
    /// First alarm week.
    pub opened_week: NaiveDate,
    /// Methods alarming in the opening week.
    pub opened_by: Vec<SignalMethod>,
    /// Latest alarm week.
    pub last_alarm_week: NaiveDate,
    /// Week it closed.
    pub closed_week: Option<NaiveDate>,
    /// Every method that alarmed during the trigger.
    pub methods: Vec<SignalMethod>,
    /// Severity in the latest alarm week.
    pub severity: u8,
    /// Highest severity so far.
    pub max_severity: u8,
    /// Weeks with an alarm.
    pub alarm_weeks: usize,
    /// Weeks from opening to the snapshot week (or to closing), inclusive.
    pub weeks_open: usize,
    /// Population of the area or stratum.
    pub population: f64,
    /// Deprivation quintile of the area or stratum.
    pub imd_quintile: Option<i32>,
    /// The latest alarm week is provisional.
    pub provisional: bool,
    /// Rank in the weekly list (1 = first).
    pub rank: usize,
    /// For the most deprived stratum: weeks it alarmed before the place as a whole.
    pub leads_place_weeks: Option<i64>,
    /// Plain-language note (divergence of the most deprived quintile).
    pub note: String,
}

#[derive(Default)]
struct WeekAlarms {
    methods: BTreeSet<SignalMethod>,
    severity: u8,
    provisional: bool,
}

type Key = (String, Level, String, String);

/// Derives every trigger up to `as_of` (inclusive) from evaluations of any signals;
/// `close_after` gives each signal's quiet weeks. Closed triggers are included.
pub fn derive(
    evals: &[Evaluation],
    close_after: &dyn Fn(&str) -> usize,
    as_of: NaiveDate,
) -> Vec<Trigger> {
    // key -> week -> direction -> alarms; and the weeks evaluated per key.
    let mut weeks: BTreeMap<Key, BTreeSet<NaiveDate>> = BTreeMap::new();
    let mut alarms: BTreeMap<(Key, AlarmDirection), BTreeMap<NaiveDate, WeekAlarms>> =
        BTreeMap::new();
    let mut meta: BTreeMap<Key, (String, f64, Option<i32>)> = BTreeMap::new();
    for e in evals.iter().filter(|e| e.week_start <= as_of) {
        let key: Key = (
            e.signal.clone(),
            e.level,
            e.area_code.clone(),
            e.stratum.clone(),
        );
        weeks.entry(key.clone()).or_default().insert(e.week_start);
        meta.entry(key.clone())
            .or_insert_with(|| (e.area_name.clone(), e.population, e.imd_quintile));
        let Some(dir) = e.direction.filter(|_| e.alarm) else {
            continue;
        };
        if e.provisional && dir == AlarmDirection::Down {
            continue;
        }
        let w = alarms
            .entry((key, dir))
            .or_default()
            .entry(e.week_start)
            .or_default();
        w.methods.insert(e.method);
        w.severity = w.severity.max(e.severity);
        w.provisional |= e.provisional;
    }
    let mut out = Vec::new();
    for ((key, dir), by_week) in &alarms {
        let Some(all_weeks) = weeks.get(key) else {
            continue;
        };
        let (area_name, population, imd_quintile) = meta.get(key).cloned().unwrap_or_default();
        let quiet_limit = close_after(&key.0).max(1);
        let mut open: Option<Trigger> = None;
        let mut quiet = 0usize;
        for &wk in all_weeks {
            match by_week.get(&wk) {
                Some(a) => {
                    let t = open.get_or_insert_with(|| Trigger {
                        id: format!(
                            "{}/{}/{}/{}/{}/{}",
                            key.0,
                            key.1.name(),
                            key.2,
                            key.3,
                            dir.name(),
                            week_label(wk)
                        ),
                        signal: key.0.clone(),
                        level: key.1,
                        area_code: key.2.clone(),
                        area_name: area_name.clone(),
                        stratum: key.3.clone(),
                        direction: *dir,
                        status: TriggerStatus::Ongoing,
                        opened_week: wk,
                        opened_by: a.methods.iter().copied().collect(),
                        last_alarm_week: wk,
                        closed_week: None,
                        methods: Vec::new(),
                        severity: 0,
                        max_severity: 0,
                        alarm_weeks: 0,
                        weeks_open: 0,
                        population,
                        imd_quintile,
                        provisional: false,
                        rank: 0,
                        leads_place_weeks: None,
                        note: String::new(),
                    });
                    t.last_alarm_week = wk;
                    for m in &a.methods {
                        if !t.methods.contains(m) {
                            t.methods.push(*m);
                        }
                    }
                    t.methods.sort();
                    t.severity = a.severity;
                    t.max_severity = t.max_severity.max(a.severity);
                    t.alarm_weeks += 1;
                    t.provisional = a.provisional;
                    quiet = 0;
                }
                None => {
                    if let Some(mut t) = open.take() {
                        quiet += 1;
                        if quiet >= quiet_limit {
                            t.closed_week = Some(wk);
                            t.status = TriggerStatus::Closed;
                            t.weeks_open = weeks_between(t.opened_week, wk);
                            out.push(t);
                            quiet = 0;
                        } else {
                            open = Some(t);
                        }
                    }
                }
            }
        }
        if let Some(mut t) = open {
            t.status = if t.opened_week == as_of {
                TriggerStatus::Opened
            } else {
                TriggerStatus::Ongoing
            };
            t.weeks_open = weeks_between(t.opened_week, as_of);
            out.push(t);
        }
    }
    annotate_divergence(&mut out, as_of);
    out
}

fn weeks_between(a: NaiveDate, b: NaiveDate) -> usize {
    ((b - a).num_days() / 7).max(0) as usize + 1
}

fn most_deprived(stratum: &str) -> bool {
    stratum.ends_with("quintile=1")
}

fn annotate_divergence(triggers: &mut [Trigger], as_of: NaiveDate) {
    let end = |t: &Trigger| t.closed_week.unwrap_or(as_of);
    let places: Vec<(String, AlarmDirection, NaiveDate, NaiveDate)> = triggers
        .iter()
        .filter(|t| t.level == Level::Place && t.stratum == "all")
        .map(|t| (t.signal.clone(), t.direction, t.opened_week, end(t)))
        .collect();
    for t in triggers.iter_mut().filter(|t| most_deprived(&t.stratum)) {
        let (from, to) = (t.opened_week, end(t));
        let overlapping = places
            .iter()
            .filter(|(s, d, a, b)| *s == t.signal && *d == t.direction && *a <= to && *b >= from)
            .map(|(_, _, a, _)| *a)
            .min();
        match overlapping {
            None => {
                t.note = "most deprived quintile alarming while the place as a whole is not".into();
            }
            Some(p) => {
                let lead = (p - from).num_days() / 7;
                t.leads_place_weeks = Some(lead);
                if lead > 0 {
                    t.note = format!(
                        "most deprived quintile alarmed {lead} week{} before the place as a whole",
                        if lead == 1 { "" } else { "s" }
                    );
                }
            }
        }
    }
}

/// Orders triggers for the weekly list and numbers them: active first, then current
/// severity, persistence (alarm weeks), population affected, most deprived first.
pub fn rank(triggers: &mut [Trigger]) {
    triggers.sort_by(|a, b| {
        b.status
            .is_active()
            .cmp(&a.status.is_active())
            .then(b.severity.cmp(&a.severity))
            .then(b.alarm_weeks.cmp(&a.alarm_weeks))
            .then(b.population.total_cmp(&a.population))
            .then(
                a.imd_quintile
                    .unwrap_or(9)
                    .cmp(&b.imd_quintile.unwrap_or(9)),
            )
            .then(a.id.cmp(&b.id))
    });
    for (i, t) in triggers.iter_mut().enumerate() {
        t.rank = i + 1;
    }
}

/// The weekly snapshot: triggers open in `as_of` and those that closed in it.
pub fn snapshot(all: Vec<Trigger>, as_of: NaiveDate) -> Vec<Trigger> {
    let mut s: Vec<Trigger> = all
        .into_iter()
        .filter(|t| t.status.is_active() || t.closed_week == Some(as_of))
        .collect();
    rank(&mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(w: u64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2020, 1, 6).expect("date") + chrono::Days::new(7 * w)
    }

    fn ev(stratum: &str, w: u64, m: SignalMethod, dir: Option<AlarmDirection>) -> Evaluation {
        Evaluation {
            signal: "s".into(),
            level: Level::Place,
            area_code: "P".into(),
            area_name: "Place".into(),
            stratum: stratum.into(),
            week_start: d(w),
            method: m,
            observed: 10.0,
            expected: Some(5.0),
            lower: Some(1.0),
            upper: Some(8.0),
            score: Some(1.7),
            percent_difference: Some(100.0),
            alarm: dir.is_some(),
            direction: dir,
            severity: if dir.is_some() { 2 } else { 0 },
            provisional: false,
            population: 1000.0,
            imd_quintile: Some(1),
            data_version: String::new(),
        }
    }

    fn series(stratum: &str, alarm_weeks: &[u64], n: u64, m: SignalMethod) -> Vec<Evaluation> {
        (0..n)
            .map(|w| {
                let dir = alarm_weeks.contains(&w).then_some(AlarmDirection::Up);
                ev(stratum, w, m, dir)
            })
            .collect()
    }

    #[test]
    fn opens_continues_through_short_gaps_and_closes_after_quiet_weeks() {
        let e = series("all", &[3, 4, 6], 12, SignalMethod::FarringtonFlexible);
        let all = derive(&e, &|_| 3, d(11));
        assert_eq!(all.len(), 1);
        let t = &all[0];
        assert_eq!(t.opened_week, d(3));
        assert_eq!(t.last_alarm_week, d(6));
        assert_eq!(t.closed_week, Some(d(9)), "3rd quiet week after week 6");
        assert_eq!(t.alarm_weeks, 3);
        assert_eq!(t.status, TriggerStatus::Closed);
        // As of week 4 it is ongoing; as of week 3 it was just opened.
        assert_eq!(derive(&e, &|_| 3, d(4))[0].status, TriggerStatus::Ongoing);
        assert_eq!(derive(&e, &|_| 3, d(3))[0].status, TriggerStatus::Opened);
        // Reopening after closing is a new trigger with its own id.
        let e = series("all", &[1, 8], 12, SignalMethod::Baseline);
        let ids: Vec<String> = derive(&e, &|_| 2, d(11))
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert_ne!(ids[0], ids[1]);
    }

    #[test]
    fn several_methods_make_one_trigger() {
        let mut e = series("all", &[2, 3], 6, SignalMethod::FarringtonFlexible);
        e.extend(series("all", &[3, 4], 6, SignalMethod::EarsC2));
        e.extend(series("all", &[], 6, SignalMethod::Cusum));
        let all = derive(&e, &|_| 3, d(5));
        assert_eq!(all.len(), 1);
        assert_eq!(
            all[0].methods,
            vec![SignalMethod::FarringtonFlexible, SignalMethod::EarsC2]
        );
        assert_eq!(all[0].opened_by, vec![SignalMethod::FarringtonFlexible]);
        assert_eq!(all[0].alarm_weeks, 3);
    }

    #[test]
    fn a_provisional_drop_opens_nothing_but_a_provisional_rise_does() {
        let mut down = ev("all", 5, SignalMethod::Baseline, Some(AlarmDirection::Down));
        down.provisional = true;
        assert!(derive(&[down.clone()], &|_| 3, d(5)).is_empty());
        let mut up = down;
        up.direction = Some(AlarmDirection::Up);
        let t = derive(&[up], &|_| 3, d(5));
        assert_eq!(t.len(), 1);
        assert!(t[0].provisional);
    }

    #[test]
    fn the_most_deprived_quintile_leading_the_place_is_noted() {
        let mut e = series("all", &[5, 6, 7], 9, SignalMethod::FarringtonFlexible);
        e.extend(series(
            "local_imd_quintile=1",
            &[3, 4, 5, 6, 7],
            9,
            SignalMethod::FarringtonFlexible,
        ));
        e.extend(series(
            "local_imd_quintile=5",
            &[6, 7],
            9,
            SignalMethod::FarringtonFlexible,
        ));
        let all = derive(&e, &|_| 3, d(8));
        let q1 = all
            .iter()
            .find(|t| t.stratum == "local_imd_quintile=1")
            .expect("q1");
        assert_eq!(q1.leads_place_weeks, Some(2));
        assert!(q1.note.contains("2 weeks before the place"), "{}", q1.note);
        let q5 = all
            .iter()
            .find(|t| t.stratum == "local_imd_quintile=5")
            .expect("q5");
        assert!(q5.note.is_empty());
    }

    #[test]
    fn ranking_puts_severe_persistent_populous_first_and_snapshot_keeps_this_weeks() {
        let mk = |id: &str, sev: u8, weeks: usize, pop: f64, status: TriggerStatus| {
            let mut t = derive(
                &series("all", &[0], 1, SignalMethod::Baseline),
                &|_| 3,
                d(0),
            )
            .remove(0);
            t.id = id.into();
            t.severity = sev;
            t.alarm_weeks = weeks;
            t.population = pop;
            t.status = status;
            t
        };
        let mut v = vec![
            mk("a", 1, 9, 9e6, TriggerStatus::Ongoing),
            mk("b", 3, 1, 10.0, TriggerStatus::Ongoing),
            mk("c", 3, 4, 10.0, TriggerStatus::Opened),
            mk("d", 3, 4, 99.0, TriggerStatus::Ongoing),
            mk("e", 3, 9, 9e9, TriggerStatus::Closed),
        ];
        rank(&mut v);
        let order: Vec<&str> = v.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(order, ["d", "c", "b", "a", "e"]);
        assert_eq!(v[0].rank, 1);
        let closed_long_ago = {
            let mut t = v[4].clone();
            t.closed_week = Some(d(0));
            t
        };
        let s = snapshot(vec![closed_long_ago, v[0].clone()], d(3));
        assert_eq!(s.len(), 1, "only open triggers and those closed this week");
    }
}
