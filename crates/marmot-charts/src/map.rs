//! Choropleth maps of areas, and their boundaries read from GeoJSON.

use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;

use crate::axis::format_value;
use crate::render::{Chart, OrDraw, render};
use crate::series::finite;
use crate::style::{
    Key, Mark, Theme, colour, draw_hatch_lines, draw_key_column, draw_text, fit, font, frame,
    no_data, text_height,
};
use crate::{ChartError, Format, Rendered, Size};

/// An area on a map.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MapArea {
    /// The area's code (ONS GSS code, say); it is the polygon's `<title>` in SVG, with the name.
    pub code: String,
    /// The area's name.
    pub name: String,
    /// Rings of (longitude, latitude) points: outer rings and holes alike (holes are found by
    /// containment and left unfilled).
    pub rings: Vec<Vec<(f64, f64)>>,
    /// The value that colours the area; `None` (or non-finite) is drawn as no data.
    pub value: Option<f64>,
    /// The value is suppressed: drawn like no data.
    pub suppressed: bool,
}

/// A map of `areas` filled on a 5-class sequential scale (quantile breaks over the values
/// present), with areas lacking a value (or suppressed) hatched on light grey, thin outlines,
/// and a legend of the class ranges headed `legend_label`. Longitudes are scaled by the cosine
/// of the middle latitude (an equirectangular projection), so places are not squashed.
/// In SVG, each area's filled polygons carry a `<title>` with its code and name.
pub fn choropleth(
    title: &str,
    legend_label: &str,
    areas: &[MapArea],
    size: Size,
    format: Format,
) -> Result<Rendered, ChartError> {
    render(
        &Choropleth {
            title,
            legend_label,
            areas,
        },
        size,
        format,
    )
}

/// Reads a GeoJSON FeatureCollection of Polygons and MultiPolygons into areas (value `None`):
/// the code and name from the features' properties `code_property` and `name_property`
/// (strings or numbers; the name falls back to the code), every ring (outer or hole) as a ring.
/// Features with a null geometry get no rings. Other geometry types are an error.
pub fn areas_from_geojson(
    text: &str,
    code_property: &str,
    name_property: &str,
) -> Result<Vec<MapArea>, ChartError> {
    let bad = |why: String| ChartError::GeoJson(why);
    let doc: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    if doc.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
        return Err(bad("the document is not a FeatureCollection".into()));
    }
    let features = doc
        .get("features")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no \"features\" array".into()))?;
    features
        .iter()
        .enumerate()
        .map(|(i, feature)| {
            let property = |key: &str| match feature.get("properties").and_then(|p| p.get(key)) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            let code = property(code_property)
                .ok_or_else(|| bad(format!("feature {i} has no property {code_property:?}")))?;
            let name = property(name_property).unwrap_or_else(|| code.clone());
            let rings = geometry_rings(feature.get("geometry"))
                .map_err(|why| bad(format!("feature {i} ({code}): {why}")))?;
            Ok(MapArea {
                code,
                name,
                rings,
                value: None,
                suppressed: false,
            })
        })
        .collect()
}

fn geometry_rings(geometry: Option<&Value>) -> Result<Vec<Vec<(f64, f64)>>, String> {
    let Some(geometry) = geometry.filter(|g| !g.is_null()) else {
        return Ok(Vec::new());
    };
    let kind = geometry.get("type").and_then(Value::as_str).unwrap_or("");
    let coordinates = geometry
        .get("coordinates")
        .ok_or("the geometry has no coordinates")?;
    let polygons: Vec<&Value> = match kind {
        "Polygon" => vec![coordinates],
        "MultiPolygon" => coordinates
            .as_array()
            .ok_or("MultiPolygon coordinates are not an array")?
            .iter()
            .collect(),
        other => {
            return Err(format!(
                "unsupported geometry type {other:?} (Polygon or MultiPolygon only)"
            ));
        }
    };
    let mut rings = Vec::new();
    for polygon in polygons {
        for ring in polygon
            .as_array()
            .ok_or("a polygon is not an array of rings")?
        {
            let positions = ring
                .as_array()
                .ok_or("a ring is not an array of positions")?;
            let ring = positions
                .iter()
                .map(|p| match p.as_array().map(Vec::as_slice) {
                    Some([x, y, ..]) => x
                        .as_f64()
                        .zip(y.as_f64())
                        .ok_or("a position is not numeric"),
                    _ => Err("a position is not [x, y]"),
                })
                .collect::<Result<Vec<_>, _>>()?;
            rings.push(ring);
        }
    }
    Ok(rings)
}

struct Choropleth<'a> {
    title: &'a str,
    legend_label: &'a str,
    areas: &'a [MapArea],
}

/// Class edges from quantile breaks: class `i` is `edges[i]..edges[i+1]` (the last closed).
#[derive(Debug, Clone, PartialEq)]
struct Classes {
    edges: Vec<f64>,
}

impl Classes {
    /// Up to five classes with breaks at the 20th, 40th, 60th and 80th percentiles of the
    /// finite `values` (equal breaks merge); `None` when there are no values.
    fn quantiles(values: impl IntoIterator<Item = f64>) -> Option<Classes> {
        let mut sorted: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let last = sorted.len().checked_sub(1)?;
        let quantile = |p: f64| {
            let h = p * last as f64;
            let (i, frac) = (h.floor() as usize, h - h.floor());
            let next = sorted[(i + 1).min(last)];
            sorted[i] + frac * (next - sorted[i])
        };
        let mut edges: Vec<f64> = (0..=5).map(|k| quantile(f64::from(k) / 5.0)).collect();
        edges.dedup();
        if edges.len() == 1 {
            edges.push(edges[0]);
        }
        Some(Classes { edges })
    }

    fn count(&self) -> usize {
        self.edges.len() - 1
    }

    fn of(&self, v: f64) -> usize {
        self.edges[1..self.count()]
            .iter()
            .filter(|&&e| v >= e)
            .count()
    }

    fn colour(&self, class: usize) -> RGBColor {
        let k = self.count();
        let index = if k <= 1 {
            2
        } else {
            (class * 4 + (k - 1) / 2) / (k - 1)
        };
        colour::SEQUENTIAL[index.min(4)]
    }

    fn label(&self, class: usize) -> String {
        let (lo, hi) = (self.edges[class], self.edges[class + 1]);
        if lo == hi {
            format_value(lo)
        } else {
            format!("{} – {}", format_value(lo), format_value(hi))
        }
    }
}

/// Longitude/latitude to pixels: equirectangular, longitudes scaled by cos(middle latitude),
/// fitted and centred in a box.
struct Projection {
    west: f64,
    north: f64,
    kx: f64,
    scale: f64,
    offset: (f64, f64),
    span: (f64, f64),
}

impl Projection {
    fn fit(
        points: impl Iterator<Item = (f64, f64)>,
        (w, h): (f64, f64),
        pad: f64,
    ) -> Option<Projection> {
        let (mut west, mut east, mut south, mut north) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for (lon, lat) in points.filter(|(x, y)| x.is_finite() && y.is_finite()) {
            (west, east, south, north) =
                (west.min(lon), east.max(lon), south.min(lat), north.max(lat));
        }
        if !west.is_finite() {
            return None;
        }
        let kx = ((south + north) / 2.0).to_radians().cos().max(0.01);
        let (span_x, span_y) = ((east - west) * kx, north - south);
        let (room_x, room_y) = ((w - 2.0 * pad).max(1.0), (h - 2.0 * pad).max(1.0));
        let scale = match (span_x > 0.0, span_y > 0.0) {
            (true, true) => (room_x / span_x).min(room_y / span_y),
            (true, false) => room_x / span_x,
            (false, true) => room_y / span_y,
            (false, false) => 1.0,
        };
        let offset = (
            pad + (room_x - span_x * scale) / 2.0,
            pad + (room_y - span_y * scale) / 2.0,
        );
        Some(Projection {
            west,
            north,
            kx,
            scale,
            offset,
            span: (span_x, span_y),
        })
    }

    /// The right edge of the projected points, in pixels.
    fn right(&self) -> f64 {
        self.offset.0 + self.span.0 * self.scale
    }

    fn project(&self, (lon, lat): (f64, f64)) -> (f64, f64) {
        (
            self.offset.0 + (lon - self.west) * self.kx * self.scale,
            self.offset.1 + (self.north - lat) * self.scale,
        )
    }
}

/// Twice the signed area of a ring (shoelace).
fn ring_area(ring: &[(f64, f64)]) -> f64 {
    ring.iter()
        .zip(ring.iter().cycle().skip(1))
        .map(|(a, b)| a.0 * b.1 - b.0 * a.1)
        .sum::<f64>()
        .abs()
}

/// Whether `p` is inside `ring` (even-odd ray casting).
fn contains(ring: &[(f64, f64)], p: (f64, f64)) -> bool {
    let mut inside = false;
    for (a, b) in ring.iter().zip(ring.iter().cycle().skip(1)) {
        if (a.1 > p.1) != (b.1 > p.1) && p.0 < a.0 + (p.1 - a.1) / (b.1 - a.1) * (b.0 - a.0) {
            inside = !inside;
        }
    }
    inside
}

fn to_pixels(ring: &[(f64, f64)]) -> Vec<(i32, i32)> {
    ring.iter()
        .map(|&(x, y)| (x.round() as i32, y.round() as i32))
        .collect()
}

impl Chart for Choropleth<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        theme: &Theme,
    ) -> Result<Vec<String>, ChartError> {
        let area = frame(root, theme, self.title, &[], "")?;
        let (w, h) = area.dim_in_pixel();
        let legend_w = theme.px(220.0).min(w as i32 * 2 / 5);
        let (map, _) = area.split_horizontally(w as i32 - legend_w);

        let all_points = self
            .areas
            .iter()
            .flat_map(|a| a.rings.iter().flatten().copied());
        let Some(projection) = Projection::fit(
            all_points,
            (f64::from(map.dim_in_pixel().0), f64::from(h)),
            theme.pxf(8.0),
        ) else {
            no_data(&area, theme)?;
            return Ok(Vec::new());
        };
        let values: Vec<Option<f64>> = self
            .areas
            .iter()
            .map(|a| finite(a.value).filter(|_| !a.suppressed))
            .collect();
        let classes = Classes::quantiles(values.iter().flatten().copied());
        let projected: Vec<Vec<Vec<(f64, f64)>>> = self
            .areas
            .iter()
            .map(|a| {
                let finite_points = |r: &Vec<(f64, f64)>| {
                    r.iter()
                        .copied()
                        .filter(|(x, y)| x.is_finite() && y.is_finite())
                        .map(|p| projection.project(p))
                        .collect::<Vec<_>>()
                };
                a.rings
                    .iter()
                    .map(finite_points)
                    .filter(|r: &Vec<(f64, f64)>| r.len() >= 3)
                    .collect()
            })
            .collect();

        // Only outer rings are drawn, larger first: an area inside another's hole (an enclave)
        // is smaller, so it is drawn over its host; holes nothing fills (often slivers left by
        // simplified boundaries) take the host's colour.
        let outer: Vec<Vec<Vec<(f64, f64)>>> = projected
            .iter()
            .map(|rings| {
                let is_hole = |r: usize| {
                    let first = rings[r][0];
                    rings
                        .iter()
                        .enumerate()
                        .filter(|&(o, other)| o != r && contains(other, first))
                        .count()
                        % 2
                        == 1
                };
                (0..rings.len())
                    .filter(|&r| !is_hole(r))
                    .map(|r| rings[r].clone())
                    .collect()
            })
            .collect();
        let mut order: Vec<(usize, usize, f64)> = outer
            .iter()
            .enumerate()
            .flat_map(|(a, rings)| {
                rings
                    .iter()
                    .enumerate()
                    .map(move |(r, ring)| (a, r, ring_area(ring)))
            })
            .collect();
        order.sort_by(|x, y| y.2.total_cmp(&x.2));

        let mut titles = Vec::with_capacity(order.len());
        for &(a, r, _) in &order {
            let fill = match (values[a], &classes) {
                (Some(v), Some(classes)) => classes.colour(classes.of(v)),
                _ => colour::NO_DATA,
            };
            map.draw(&Polygon::new(to_pixels(&outer[a][r]), fill.filled()))
                .or_draw()?;
            titles.push(format!("{} {}", self.areas[a].code, self.areas[a].name));
            if values[a].is_none() {
                draw_hatch_lines(&map, theme, std::slice::from_ref(&outer[a][r]))?;
            }
            let mut outline = to_pixels(&outer[a][r]);
            outline.push(outline[0]);
            map.draw(&PathElement::new(outline, colour::OUTLINE.stroke_width(1)))
                .or_draw()?;
        }

        // Legend, beside the map: heading, then one key per class, then no data.
        let legend_x =
            (projection.right().round() as i32 + theme.px(24.0)).min(w as i32 - legend_w);
        let legend = area.margin(0, 0, legend_x, 0);
        let heading = theme.bold(font::LABEL, colour::TEXT);
        let inner = legend_w - theme.px(8.0);
        let mut y = theme.px(8.0);
        if !self.legend_label.trim().is_empty() {
            draw_text(
                &legend,
                &fit(self.legend_label, &heading, f64::from(inner)),
                &heading,
                (0, y),
            )?;
            y += text_height(&heading) as i32 + theme.px(8.0);
        }
        let mut keys: Vec<Key> = match &classes {
            Some(c) => (0..c.count())
                .map(|i| Key::new(Mark::Fill(c.colour(i)), c.label(i)))
                .collect(),
            None => Vec::new(),
        };
        if values.iter().any(Option::is_none) {
            keys.push(Key::new(Mark::Hatch, "No data / suppressed"));
        }
        draw_key_column(&legend, theme, &keys, (0, y), inner)?;
        Ok(titles)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_classes() {
        let c = Classes::quantiles((1..=10).map(f64::from)).unwrap();
        assert_eq!(c.count(), 5);
        assert_eq!(c.of(1.0), 0);
        assert_eq!(c.of(10.0), 4);
        assert_eq!(c.colour(0), colour::SEQUENTIAL[0]);
        assert_eq!(c.colour(4), colour::SEQUENTIAL[4]);
        let same = Classes::quantiles([3.0, 3.0, f64::NAN]).unwrap();
        assert_eq!(
            (same.count(), same.of(3.0), same.label(0)),
            (1, 0, "3.0".to_string())
        );
        let two = Classes::quantiles([1.0, 1.0, 1.0, 1.0, 2.0]).unwrap();
        assert_eq!(two.count(), 2);
        assert_eq!(two.colour(1), colour::SEQUENTIAL[4]);
        assert_eq!(Classes::quantiles([]), None);
    }

    #[test]
    fn geojson_polygons_multipolygons_and_errors() {
        let text = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"cd":"A","nm":"Alpha"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]],[[0.2,0.1],[0.5,0.1],[0.5,0.3],[0.2,0.1]]]}},
            {"type":"Feature","properties":{"cd":7},"geometry":{"type":"MultiPolygon","coordinates":[[[[2,2],[3,2],[3,3],[2,2]]],[[[4,4],[5,4],[5,5],[4,4]]]]}},
            {"type":"Feature","properties":{"cd":"C","nm":"Gamma"},"geometry":null}]}"#;
        let areas = areas_from_geojson(text, "cd", "nm").unwrap();
        assert_eq!(areas.len(), 3);
        assert_eq!(
            (
                areas[0].code.as_str(),
                areas[0].name.as_str(),
                areas[0].rings.len()
            ),
            ("A", "Alpha", 2)
        );
        assert_eq!(
            (
                areas[1].code.as_str(),
                areas[1].name.as_str(),
                areas[1].rings.len()
            ),
            ("7", "7", 2)
        );
        assert!(areas[2].rings.is_empty());
        assert!(matches!(
            areas_from_geojson(text, "nope", "nm"),
            Err(ChartError::GeoJson(_))
        ));
        assert!(matches!(
            areas_from_geojson("{}", "cd", "nm"),
            Err(ChartError::GeoJson(_))
        ));
        let point = r#"{"type":"FeatureCollection","features":[{"properties":{"cd":"P"},"geometry":{"type":"Point","coordinates":[0,0]}}]}"#;
        assert!(matches!(
            areas_from_geojson(point, "cd", "nm"),
            Err(ChartError::GeoJson(_))
        ));
    }

    #[test]
    fn holes_are_found_by_containment() {
        let outer = vec![(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)];
        assert!(contains(&outer, (5.0, 5.0)));
        assert!(!contains(&outer, (11.0, 5.0)));
        assert_eq!(ring_area(&outer), 200.0);
    }

    #[test]
    fn projection_keeps_the_aspect_of_london() {
        // A square of 0.1 degree of latitude and 0.1/cos(51.5) of longitude is square on screen.
        let k = 51.5f64.to_radians().cos();
        let square = [
            (0.0, 51.45),
            (0.1 / k, 51.45),
            (0.1 / k, 51.55),
            (0.0, 51.55),
        ];
        let p = Projection::fit(square.into_iter(), (400.0, 400.0), 0.0).unwrap();
        let (a, b) = (p.project(square[0]), p.project(square[2]));
        assert!(((b.0 - a.0) - (a.1 - b.1)).abs() < 1.0, "{a:?} {b:?}");
    }
}
