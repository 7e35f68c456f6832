//! Places: the local authorities a lake covers and how their LSOAs group into wards,
//! neighbourhoods and localities.

use serde::Deserialize;

use crate::ModelError;

/// Geography levels, smallest first. Names are the ones used everywhere (CLI, SQL, API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// Lower-layer super output area (2021, or 2011 in a 2011 lake).
    Lsoa,
    /// Electoral ward (best fit from LSOAs: 2024 wards, or December 2020 in a 2011 lake).
    Ward,
    /// A grouping of LSOAs configured per place (e.g. a primary care network footprint).
    Neighbourhood,
    /// A grouping of local authorities (default: one per authority).
    Locality,
    /// The whole place.
    Place,
    /// A sub-ICB location (NHS): the level of data published by sub-ICB, which may be larger
    /// than the place. Not part of the LSOA roll-up ([`Level::ALL`]).
    SubIcb,
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
            Level::SubIcb => "sub_icb",
        }
    }

    /// Parses a level name.
    pub fn parse(name: &str) -> Result<Level, ModelError> {
        Level::ALL
            .into_iter()
            .chain([Level::SubIcb])
            .find(|l| l.name() == name)
            .ok_or_else(|| ModelError::Unknown {
                kind: "level",
                name: name.to_string(),
                known: format!("{}, sub_icb", Level::ALL.map(Level::name).join(", ")),
            })
    }
}

/// A locality: a named set of local authorities.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LocalityConfig {
    /// Display name.
    pub name: String,
    /// The code it answers to. Default: the local authority's GSS code when the locality is one
    /// whole authority, otherwise the name.
    #[serde(default)]
    pub code: Option<String>,
    /// Local authority codes.
    pub local_authorities: Vec<String>,
}

/// Where a place's neighbourhood grouping comes from.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NeighbourhoodConfig {
    /// CSV with columns `lsoa_code,neighbourhood` (LSOA 2021 or 2011 codes), relative to the
    /// place file.
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
    /// Local authority GSS codes (E06, E07, E08, E09) whose LSOAs make up the place.
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
        place.check().map_err(invalid)?;
        Ok(place)
    }

    /// A place of whole local authorities, one locality each: what `marmot init --lad` makes.
    pub fn from_lads(id: &str, name: &str, lads: &[String]) -> Result<PlaceConfig, ModelError> {
        let place = PlaceConfig {
            id: id.to_string(),
            name: name.to_string(),
            local_authorities: lads.to_vec(),
            localities: Vec::new(),
            neighbourhoods: None,
        };
        place.check().map_err(|message| ModelError::Invalid {
            what: format!("place {id}"),
            message,
        })?;
        Ok(place)
    }

    fn check(&self) -> Result<(), String> {
        let place = self;
        if place.id.trim().is_empty()
            || !place
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "place id '{}' must be letters, digits, '-' or '_'",
                place.id
            ));
        }
        if place.local_authorities.is_empty() {
            return Err("a place needs at least one local authority".into());
        }
        for lad in &place.local_authorities {
            if !is_lad_code(lad) {
                return Err(format!(
                    "'{lad}' is not an English local authority code (E06/E07/E08/E09 and six digits)"
                ));
            }
        }
        for loc in &place.localities {
            for lad in &loc.local_authorities {
                if !place.local_authorities.contains(lad) {
                    return Err(format!(
                        "locality '{}' names {lad}, which is not one of the place's local authorities",
                        loc.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// The locality a local authority belongs to, as (code, name): configured, or the authority
    /// itself. A locality that is one whole authority answers to that authority's GSS code.
    pub fn locality_of(&self, lad_code: &str, lad_name: &str) -> (String, String) {
        match self
            .localities
            .iter()
            .find(|l| l.local_authorities.iter().any(|c| c == lad_code))
        {
            Some(l) => {
                let code = match (&l.code, l.local_authorities.as_slice()) {
                    (Some(c), _) => c.clone(),
                    (None, [only]) => only.clone(),
                    (None, _) => l.name.clone(),
                };
                (code, l.name.clone())
            }
            None => (lad_code.to_string(), lad_name.to_string()),
        }
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
    (
        "coventry",
        include_str!("../../../data/places/coventry.toml"),
        None,
    ),
    (
        "portsmouth",
        include_str!("../../../data/places/portsmouth.toml"),
        None,
    ),
    (
        "cheshire-and-merseyside",
        include_str!("../../../data/places/cheshire-and-merseyside.toml"),
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
        let pair = |c: &str, n: &str| (c.to_string(), n.to_string());
        assert_eq!(
            ch.locality_of("E09000012", "Hackney"),
            pair("E09000012", "Hackney"),
            "a locality of one authority answers to its GSS code"
        );
        let two = PlaceConfig::from_toml(
            "t.toml",
            "id='t'\nname='T'\nlocal_authorities=['E09000001','E09000012']\n[[localities]]\nname='Both'\nlocal_authorities=['E09000001','E09000012']",
        )
        .expect("parses");
        assert_eq!(
            two.locality_of("E09000001", "City of London"),
            pair("Both", "Both")
        );
        let lads = PlaceConfig::from_lads("coventry", "Coventry", &["E08000026".into()])
            .expect("a place from its code");
        assert_eq!(
            lads.locality_of("E08000026", "Coventry"),
            pair("E08000026", "Coventry")
        );
        assert!(PlaceConfig::from_lads("c v", "C", &["E08000026".into()]).is_err());
        assert!(PlaceConfig::from_lads("cv", "C", &["E01000001".into()]).is_err());
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
