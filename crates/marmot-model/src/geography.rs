//! Geography vintages: which edition of the small-area geography (and of the Index of Multiple
//! Deprivation built on it) a lake uses.

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// The edition of the small-area geography a lake holds its LSOA codes in.
///
/// - **2021** (the default): LSOA 2021 (33,755 in England), electoral wards 2024 (ONS best fit),
///   local authorities 2024, deprivation by the English Indices of Deprivation 2025 (IMD 2025).
/// - **2011**: LSOA 2011 (32,844), wards December 2020 (best fit), local authorities 2020, IMD
///   2019. Kept for lakes built on older partner extracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Vintage {
    /// LSOA 2011, wards 2020, LAD 2020, IMD 2019.
    #[serde(rename = "2011")]
    Lsoa2011,
    /// LSOA 2021, wards 2024, LAD 2024, IMD 2025.
    #[serde(rename = "2021")]
    #[default]
    Lsoa2021,
}

/// The Index of Multiple Deprivation and its seven domains, in the order MHCLG publishes them,
/// as they are named in reference tables (`<name>_rank`, `<name>_decile`, `<name>_quintile`).
pub const DEPRIVATION_DOMAINS: [&str; 8] = [
    "imd",
    "income",
    "employment",
    "education",
    "health",
    "crime",
    "barriers",
    "living_env",
];

impl Vintage {
    /// Both vintages, oldest first.
    pub const ALL: [Vintage; 2] = [Vintage::Lsoa2011, Vintage::Lsoa2021];

    /// The census year naming the vintage (`2011`, `2021`).
    pub fn name(self) -> &'static str {
        match self {
            Vintage::Lsoa2011 => "2011",
            Vintage::Lsoa2021 => "2021",
        }
    }

    /// Parses `2011` or `2021`.
    pub fn parse(s: &str) -> Result<Vintage, ModelError> {
        Vintage::ALL
            .into_iter()
            .find(|v| v.name() == s.trim())
            .ok_or_else(|| ModelError::Unknown {
                kind: "geography vintage",
                name: s.to_string(),
                known: Vintage::ALL.map(Vintage::name).join(", "),
            })
    }

    /// The reference table holding the deprivation index of this vintage.
    pub fn deprivation_table(self) -> &'static str {
        match self {
            Vintage::Lsoa2011 => "imd2019",
            Vintage::Lsoa2021 => "imd2025",
        }
    }

    /// The index's name as published (`IMD 2019`, `IMD 2025`).
    pub fn deprivation_index(self) -> &'static str {
        match self {
            Vintage::Lsoa2011 => "IMD 2019",
            Vintage::Lsoa2021 => "IMD 2025",
        }
    }

    /// How many LSOAs England has in this vintage (the N of `decile = ceil(rank x 10 / N)`).
    pub fn lsoas_in_england(self) -> i64 {
        match self {
            Vintage::Lsoa2011 => 32_844,
            Vintage::Lsoa2021 => 33_755,
        }
    }

    /// What the geography is, in words, for metadata and docs.
    pub fn describe(self) -> &'static str {
        match self {
            Vintage::Lsoa2011 => {
                "LSOA 2011, electoral wards December 2020 (best fit), local authorities 2020, IMD 2019"
            }
            Vintage::Lsoa2021 => {
                "LSOA 2021, electoral wards 2024 (best fit), local authorities 2024, IMD 2025"
            }
        }
    }
}

/// Whether `s` is an English LSOA code (`E01` and six digits), of either vintage.
pub fn is_lsoa_code(s: &str) -> bool {
    s.len() == 9 && s.starts_with("E01") && s[3..].bytes().all(|b| b.is_ascii_digit())
}

/// The national decile (1 = most deprived tenth) of a rank among `n` areas:
/// `ceil(rank x 10 / n)`, MHCLG's rule for the IMD.
pub fn decile_of_rank(rank: i64, n: i64) -> i64 {
    (rank * 10 + n - 1) / n
}

/// The national quintile (1 = most deprived fifth) of a decile: `ceil(decile / 2)`.
pub fn quintile_of_decile(decile: i64) -> i64 {
    (decile + 1) / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vintages_parse_and_name_their_index() {
        assert_eq!(Vintage::parse("2021").ok(), Some(Vintage::Lsoa2021));
        assert_eq!(Vintage::parse("2011").ok(), Some(Vintage::Lsoa2011));
        assert!(Vintage::parse("2001").is_err());
        assert_eq!(Vintage::default().deprivation_table(), "imd2025");
    }

    #[test]
    fn deciles_follow_the_published_rule() {
        let n = Vintage::Lsoa2021.lsoas_in_england();
        assert_eq!(decile_of_rank(1, n), 1);
        assert_eq!(decile_of_rank(3_375, n), 1);
        assert_eq!(decile_of_rank(3_376, n), 2);
        assert_eq!(decile_of_rank(n, n), 10);
        assert_eq!(quintile_of_decile(1), 1);
        assert_eq!(quintile_of_decile(2), 1);
        assert_eq!(quintile_of_decile(10), 5);
    }
}
