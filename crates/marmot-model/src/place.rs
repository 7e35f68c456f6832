//! Places: the local authorities a lake covers and how their LSOAs group into wards,
//! neighbourhoods and localities.

use serde::Deserialize;

use crate::ModelError;

/// Geography levels, smallest first. Names are the ones used everywhere (CLI, SQL, API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// Lower-layer super output area (2011).
    Lsoa,
    /// Electoral ward (2020 codes, best-fit from LSOAs).
    Ward,
    /// A grouping of LSOAs configured per place (e.g. a primary care network footprint).
    Neighbourhood,
    /// A grouping of local authorities (default: one per authority).
    Locality,
    /// The whole place.
    Place,
}

impl Level {
    /// All levels, smallest first.
    pub const ALL: [Level; 5] = [
        Level::Lsoa,
        Level::Ward,
        Level::Neighbourhood,
        Level::Locality,
        Level::Place,
    ];

    /// The level's name as used in the CLI, SQL and API.
    pub fn name(self) -> &'static str {
        match self {
            Level::Lsoa => "lsoa",
            Level::Ward => "ward",
            Level::Neighbourhood => "neighbourhood",
            Level::Locality => "locality",
            Level::Place => "place",
        }
    }

    /// Parses a level name.
    pub fn parse(name: &str) -> Result<Level, ModelError> {
        Level::ALL
            .into_iter()
            .find(|l| l.name() == name)
            .ok_or_else(|| ModelError::Unknown {
                kind: "level",
                name: name.to_string(),
                known: Level::ALL.map(Level::name).join(", "),
            })
    }
}

/// A locality: a named set of local authorities.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LocalityConfig {
    /// Display name.
    pub name: String,
    /// LAD 2020 codes.
    pub local_authorities: Vec<String>,
}

/// Where a place's neighbourhood grouping comes from.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NeighbourhoodConfig {
    /// CSV with columns `lsoa11cd,neighbourhood`, relative to the place file.
    pub file: String,
    /// Caveat shown with the grouping (e.g. "illustrative").
    #[serde(default)]
    pub note: Option<String>,
}

/// A place: the area one lake covers. Parsed from `data/places/*.toml`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlaceConfig {
    /// Short identifier, e.g. `city-and-hackney`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// LAD 2020 codes whose LSOAs make up the place.
    pub local_authorities: Vec<String>,
    /// Localities; when empty, each local authority is its own locality.
    #[serde(default)]
    pub localities: Vec<LocalityConfig>,
    /// Neighbourhood grouping; when absent, each ward is its own neighbourhood.
    #[serde(default)]
    pub neighbourhoods: Option<NeighbourhoodConfig>,
}

impl PlaceConfig {
    /// Parses and checks a place document. `what` names it in errors.
    pub fn from_toml(what: &str, text: &str) -> Result<PlaceConfig, ModelError> {
        let place: PlaceConfig = toml::from_str(text).map_err(|e| ModelError::Parse {
            what: what.to_string(),
            message: e.to_string(),
        })?;
        let invalid = |message: String| ModelError::Invalid {
            what: what.to_string(),
            message,
        };
        if place.local_authorities.is_empty() {
            return Err(invalid("a place needs at least one local authority".into()));
        }
        for lad in &place.local_authorities {
            if !is_lad_code(lad) {
                return Err(invalid(format!(
                    "'{lad}' is not a local authority code (E06/E07/E08/E09 and six digits)"
                )));
            }
        }
        for loc in &place.localities {
            for lad in &loc.local_authorities {
                if !place.local_authorities.contains(lad) {
                    return Err(invalid(format!(
                        "locality '{}' names {lad}, which is not one of the place's local authorities",
                        loc.name
                    )));
                }
            }
        }
        Ok(place)
    }

    /// The locality a local authority belongs to: configured, or the authority itself.
    pub fn locality_of(&self, lad_code: &str, lad_name: &str) -> String {
        self.localities
            .iter()
            .find(|l| l.local_authorities.iter().any(|c| c == lad_code))
            .map(|l| l.name.clone())
            .unwrap_or_else(|| lad_name.to_string())
    }
}

fn is_lad_code(s: &str) -> bool {
    s.len() == 9
        && ["E06", "E07", "E08", "E09"]
            .iter()
            .any(|p| s.starts_with(p))
        && s[3..].bytes().all(|b| b.is_ascii_digit())
}

/// The shipped places: (id, place TOML, neighbourhood CSV if any).
pub const BUILTIN_PLACES: &[(&str, &str, Option<&str>)] = &[
    (
        "city-and-hackney",
        include_str!("../../../data/places/city-and-hackney.toml"),
        Some(include_str!(
            "../../../data/places/city-and-hackney-neighbourhoods.csv"
        )),
    ),
    (
        "chorley",
        include_str!("../../../data/places/chorley.toml"),
        None,
    ),
    (
        "southend-on-sea",
        include_str!("../../../data/places/southend-on-sea.toml"),
        None,
    ),
];

/// A shipped place by id, with its neighbourhood CSV text when it has one.
pub fn builtin_place(id: &str) -> Result<(PlaceConfig, Option<&'static str>), ModelError> {
    let (_, text, csv) = BUILTIN_PLACES
        .iter()
        .find(|(pid, _, _)| *pid == id)
        .ok_or_else(|| ModelError::Unknown {
            kind: "place",
            name: id.to_string(),
            known: BUILTIN_PLACES
                .iter()
                .map(|p| p.0)
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    Ok((PlaceConfig::from_toml(id, text)?, *csv))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_places_parse() {
        for (id, _, _) in BUILTIN_PLACES {
            let (p, _) = builtin_place(id).expect("shipped place parses");
            assert_eq!(&p.id, id);
        }
        let (ch, csv) = builtin_place("city-and-hackney").expect("demo place");
        assert_eq!(ch.local_authorities, ["E09000001", "E09000012"]);
        assert!(csv.is_some());
        assert_eq!(ch.locality_of("E09000012", "Hackney"), "Hackney");
    }

    #[test]
    fn bad_place_is_explained() {
        let err = PlaceConfig::from_toml(
            "x.toml",
            "id='x'\nname='X'\nlocal_authorities=['E01000001']",
        )
        .expect_err("an LSOA code is not a LAD code");
        assert!(err.to_string().contains("E01000001"), "{err}");
        let err = PlaceConfig::from_toml("y.toml", "id='x'\nname='X'\nlocal_authorities=['E09000001']\n[[localities]]\nname='L'\nlocal_authorities=['E09000012']")
            .expect_err("locality outside place");
        assert!(err.to_string().contains("not one of the place"), "{err}");
        assert!(builtin_place("nowhere").is_err());
    }

    #[test]
    fn levels_round_trip() {
        for l in Level::ALL {
            assert_eq!(Level::parse(l.name()).expect("known"), l);
        }
        assert!(Level::parse("county").is_err());
    }
}
