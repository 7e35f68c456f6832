//! Area boundaries (GeoJSON) belong to the lake's reference data, not to the server: `marmot
//! init` writes the place's ward and LSOA boundaries to `_marmot/boundaries/{wards,lsoa}.geojson`,
//! from the files shipped for the four focus authorities (ONS generalised clipped boundaries, OGL
//! v3: December 2025 wards and LSOA 2021, or 2011 LSOAs and 2020 wards in a 2011 lake) or from a
//! file the user attaches (`marmot init --boundaries wards.geojson`). A place without boundaries
//! still works; its map panels say what to add.

use std::collections::HashSet;

use marmot_model::Vintage;
use serde_json::Value;

use super::LsoaGeo;
use crate::{Lake, LakeError};

/// A level boundaries are kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundaryLevel {
    /// Electoral wards.
    Ward,
    /// Lower-layer super output areas.
    Lsoa,
}

impl BoundaryLevel {
    /// Where the level's boundaries live in the lake.
    pub fn path(self) -> &'static str {
        match self {
            BoundaryLevel::Ward => "_marmot/boundaries/wards.geojson",
            BoundaryLevel::Lsoa => "_marmot/boundaries/lsoa.geojson",
        }
    }

    fn words(self) -> &'static str {
        match self {
            BoundaryLevel::Ward => "ward",
            BoundaryLevel::Lsoa => "LSOA",
        }
    }
}

macro_rules! shipped {
    ($v:literal, $lad:literal) => {
        (
            $v,
            $lad,
            include_str!(concat!(
                "../../../../data/reference/boundaries/",
                $v,
                "/wards_",
                $lad,
                ".geojson"
            )),
            include_str!(concat!(
                "../../../../data/reference/boundaries/",
                $v,
                "/lsoa_",
                $lad,
                ".geojson"
            )),
        )
    };
}

/// Shipped boundaries: (vintage, LAD, wards, LSOAs).
const SHIPPED: [(&str, &str, &str, &str); 8] = [
    shipped!("2021", "E09000001"),
    shipped!("2021", "E09000012"),
    shipped!("2021", "E07000118"),
    shipped!("2021", "E06000033"),
    shipped!("2011", "E09000001"),
    shipped!("2011", "E09000012"),
    shipped!("2011", "E07000118"),
    shipped!("2011", "E06000033"),
];

/// The properties holding an area's code and name in a boundary file (`WD25CD`/`WD25NM`,
/// `LSOA21CD`/`LSOA21NM`, ... as ONS names them), and the level they are of. An LSOA file that
/// also names each LSOA's ward is an LSOA file.
pub fn code_properties(doc: &Value) -> Option<(BoundaryLevel, String, String)> {
    let props = doc
        .get("features")?
        .as_array()?
        .first()?
        .get("properties")?
        .as_object()?;
    let find = |prefix: &str, suffix: &str| {
        props.keys().find(|k| {
            let u = k.to_ascii_uppercase();
            u.starts_with(prefix)
                && u.ends_with(suffix)
                && u[prefix.len()..u.len() - suffix.len()]
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                && u.len() == prefix.len() + suffix.len() + 2
        })
    };
    for (level, prefix) in [(BoundaryLevel::Lsoa, "LSOA"), (BoundaryLevel::Ward, "WD")] {
        if let Some(code) = find(prefix, "CD") {
            let name = find(prefix, "NM").unwrap_or(code);
            return Some((level, code.clone(), name.clone()));
        }
    }
    None
}

/// What attaching a boundary file did.
#[derive(Debug, Clone, PartialEq)]
pub struct Attached {
    /// The level the file is of.
    pub level: BoundaryLevel,
    /// Features kept (areas of the place).
    pub kept: usize,
    /// The place's areas of that level with no feature in the file.
    pub missing: Vec<String>,
}

fn parse(what: &str, text: &str) -> Result<Value, LakeError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| LakeError::File {
        file: what.to_string(),
        message: format!("not GeoJSON: {e}"),
    })?;
    if doc.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
        return Err(LakeError::File {
            file: what.to_string(),
            message: "not a GeoJSON FeatureCollection".into(),
        });
    }
    Ok(doc)
}

/// Keeps the features of `docs` whose code is one of the place's areas of the level, in one
/// FeatureCollection, and says which areas have none.
fn merge(
    what: &str,
    docs: &[Value],
    level: BoundaryLevel,
    geo: &[LsoaGeo],
) -> Result<(Value, Attached), LakeError> {
    let wanted: HashSet<&str> = geo
        .iter()
        .map(|g| match level {
            BoundaryLevel::Ward => g.ward_code.as_str(),
            BoundaryLevel::Lsoa => g.lsoa.as_str(),
        })
        .collect();
    // A ward file of a whole authority keeps the wards no LSOA best-fits to (most of the City
    // of London's), so the map shows them as "no data" rather than as holes.
    let lads: HashSet<&str> = geo.iter().map(|g| g.lad_code.as_str()).collect();
    let mut features = Vec::new();
    let mut seen = HashSet::new();
    for doc in docs {
        let Some((_, code_prop, _)) = code_properties(doc) else {
            return Err(LakeError::File {
                file: what.to_string(),
                message: "no feature has a ward (WDyyCD) or LSOA (LSOAyyCD) code property".into(),
            });
        };
        for f in doc
            .get("features")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let props = f.get("properties");
            let code = props
                .and_then(|p| p.get(&code_prop))
                .and_then(Value::as_str)
                .unwrap_or("");
            let in_lad = props.and_then(Value::as_object).is_some_and(|p| {
                p.iter().any(|(k, v)| {
                    k.to_ascii_uppercase().starts_with("LAD")
                        && v.as_str().is_some_and(|v| lads.contains(v))
                })
            });
            if wanted.contains(code) || (level == BoundaryLevel::Ward && in_lad) {
                seen.insert(code.to_string());
                features.push(f.clone());
            }
        }
    }
    let mut missing: Vec<String> = wanted
        .iter()
        .filter(|c| !seen.contains(**c))
        .map(|c| c.to_string())
        .collect();
    missing.sort();
    let kept = features.len();
    let out = serde_json::json!({"type": "FeatureCollection", "features": features});
    Ok((
        out,
        Attached {
            level,
            kept,
            missing,
        },
    ))
}

async fn write(lake: &Lake, level: BoundaryLevel, doc: &Value) -> Result<(), LakeError> {
    lake.put_json(level.path(), doc).await
}

/// Writes the shipped boundaries of the place's authorities (those there are) into the lake.
pub async fn write_shipped(
    lake: &Lake,
    vintage: Vintage,
    geo: &[LsoaGeo],
) -> Result<Vec<Attached>, LakeError> {
    let lads: HashSet<&str> = geo.iter().map(|g| g.lad_code.as_str()).collect();
    let files: Vec<_> = SHIPPED
        .iter()
        .filter(|(v, lad, _, _)| *v == vintage.name() && lads.contains(lad))
        .collect();
    let mut out = Vec::new();
    if files.is_empty() {
        return Ok(out);
    }
    for level in [BoundaryLevel::Ward, BoundaryLevel::Lsoa] {
        let docs = files
            .iter()
            .map(|(_, lad, w, l)| {
                parse(
                    &format!("shipped boundaries of {lad}"),
                    if level == BoundaryLevel::Ward { w } else { l },
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (doc, attached) = merge("shipped boundaries", &docs, level, geo)?;
        write(lake, level, &doc).await?;
        out.push(attached);
    }
    Ok(out)
}

/// Attaches a user's boundary file (wards or LSOAs, told by its code property), keeping the
/// place's areas. Refused when it has none of them.
pub async fn attach(
    lake: &Lake,
    what: &str,
    text: &str,
    geo: &[LsoaGeo],
) -> Result<Attached, LakeError> {
    let doc = parse(what, text)?;
    let Some((level, _, _)) = code_properties(&doc) else {
        return Err(LakeError::File {
            file: what.to_string(),
            message: "no ward (WDyyCD) or LSOA (LSOAyyCD) code property on its features".into(),
        });
    };
    let (out, attached) = merge(what, std::slice::from_ref(&doc), level, geo)?;
    if attached.kept == 0 {
        return Err(LakeError::File {
            file: what.to_string(),
            message: format!(
                "none of its {} boundaries is an area of the place (its codes must be of the lake's geography)",
                level.words()
            ),
        });
    }
    write(lake, level, &out).await?;
    Ok(attached)
}

/// The lake's boundaries of a level, when it has them.
pub async fn read(lake: &Lake, level: BoundaryLevel) -> Result<Option<String>, LakeError> {
    Ok(lake
        .get_json::<Value>(level.path())
        .await?
        .map(|v| v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::{PlaceSource, place_geography};

    fn geo(id: &str, vintage: Vintage) -> Vec<LsoaGeo> {
        let (config, csv) = marmot_model::builtin_place(id).expect("shipped");
        place_geography(&PlaceSource {
            config,
            neighbourhoods_csv: csv.map(str::to_string),
            vintage,
        })
        .expect("geography")
    }

    #[test]
    fn shipped_files_cover_every_area_of_the_shipped_places() {
        for vintage in Vintage::ALL {
            for id in ["city-and-hackney", "chorley", "southend-on-sea"] {
                let g = geo(id, vintage);
                for level in [BoundaryLevel::Ward, BoundaryLevel::Lsoa] {
                    let docs: Vec<Value> = SHIPPED
                        .iter()
                        .filter(|(v, lad, _, _)| {
                            *v == vintage.name() && g.iter().any(|x| x.lad_code == *lad)
                        })
                        .map(|(_, _, w, l)| {
                            parse("t", if level == BoundaryLevel::Ward { w } else { l })
                                .expect("geojson")
                        })
                        .collect();
                    let (_, a) = merge("t", &docs, level, &g).expect("merge");
                    assert!(
                        a.missing.is_empty(),
                        "{id} {vintage:?} {level:?}: {:?}",
                        a.missing
                    );
                    assert!(a.kept > 0);
                }
            }
        }
    }

    #[test]
    fn the_level_is_told_by_the_code_property() {
        let lsoa = parse("t", SHIPPED[1].3).expect("geojson");
        assert_eq!(
            code_properties(&lsoa).map(|p| (p.0, p.1)),
            Some((BoundaryLevel::Lsoa, "LSOA21CD".to_string())),
            "an LSOA file naming wards too is an LSOA file"
        );
        let wards = parse("t", SHIPPED[5].2).expect("geojson");
        assert_eq!(
            code_properties(&wards).map(|p| (p.0, p.1)),
            Some((BoundaryLevel::Ward, "WD20CD".to_string()))
        );
        let none = serde_json::json!({"type": "FeatureCollection", "features": [{"properties": {"code": "x"}}]});
        assert!(code_properties(&none).is_none());
    }
}
